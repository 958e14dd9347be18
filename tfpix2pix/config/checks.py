"""Start-up checks: every combination of options that cannot train, refused by flag.

They run before TensorFlow is imported or a model is built. Which option applies to
which architecture, and how large a discriminator's logit maps are, are the model
registry's answers (``models.registry``), not repeated here.
"""

from ..data.layouts import CHANNEL_COUNTS, FIXED_SIZE_MODES, RESIZED_CROP_MODES
from ..errors import UserError
from ..models.registry import (BATCH_NORMS, DISCRIMINATORS, GENERATORS, OPTIONS, inapplicable,
                               model_options, patch_map_size, stride, takers)
from ..names import GRADIENT_PENALTY_MODES
from .schema import default, flag_for, flag_name, get, leaves

POSITIVE = ("data.load_size", "data.crop_size", "model.ngf", "model.ndf", "model.n_layers_D",
            "model.num_D", "train.batch_size", "train.steps_per_call", "train.d_loss_scale",
            "train.lr_decay_iters", "train.worker_timeout", "log.log_every", "log.image_every",
            "log.checkpoint_every", "log.keep_checkpoints", "log.num_images")
NON_NEGATIVE = ("train.n_epochs", "train.n_epochs_decay", "train.max_steps", "model.num_downs",
                "train.lambda_l1", "train.lambda_gp", "train.lambda_feat", "train.lr")


def validate(cfg):
    """Check values that types alone don't; raise UserError naming the flag."""
    check_choices(cfg)
    for key in POSITIVE + NON_NEGATIVE:
        value = get(cfg, key)
        bad = value <= 0 if key in POSITIVE else value < 0
        if bad:
            need = "positive" if key in POSITIVE else "zero or more"
            raise UserError(f"{flag_for(key)}: must be {need}, got {value}")
    for key in ("data.input_nc", "data.output_nc"):
        if get(cfg, key) not in CHANNEL_COUNTS:
            raise UserError(f"{flag_for(key)}: must be {CHANNEL_COUNTS[0]} to "
                            f"{CHANNEL_COUNTS[-1]} channels, got {get(cfg, key)}")
    t = cfg.train
    if t.n_epochs + t.n_epochs_decay == 0:
        raise UserError("--epochs and --n-epochs-decay are both 0: nothing to train")
    _check_model_options(cfg.model)
    _check_sizes(cfg.data, cfg.model)
    _check_discriminator(cfg)
    _check_objective(cfg)
    return cfg


def _check_model_options(m):
    """Options set for an architecture that takes none (the registry says which take what)."""
    for what, registry, name in (("netG", GENERATORS, m.netG), ("netD", DISCRIMINATORS, m.netD)):
        for key in inapplicable(registry, name, model_options(m, registry)):
            flag, names = flag_for(f"model.{OPTIONS[key].config_field}"), takers(registry, key)
            names = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
            raise UserError(f"{flag} only applies to --{what} {names}; --{what} {name} takes "
                            f"none: remove {flag}")


def _check_sizes(d, m):
    if d.preprocess in RESIZED_CROP_MODES and d.crop_size > d.load_size:
        raise UserError(f"--crop-size {d.crop_size} is larger than --load-size {d.load_size}; "
                        "make the crop no larger than the resize")
    multiple = stride(m.netG, m.num_downs)
    # Only crops have a fixed size; scale_width and none are padded to the stride for G.
    if d.preprocess in FIXED_SIZE_MODES and d.crop_size % multiple:
        depth = " or set --num-downs" if "num_downs" in GENERATORS[m.netG].options else ""
        raise UserError(f"--crop-size {d.crop_size} is not a multiple of {multiple}, which "
                        f"--netG {m.netG} needs; pick a multiple{depth}")


def _check_discriminator(cfg):
    m, size = cfg.model, cfg.data.crop_size
    if cfg.train.no_gan or cfg.data.preprocess not in FIXED_SIZE_MODES:
        return  # no D, or image sizes known only from the data
    if patch_map_size(m.netD, m.n_layers_D, m.num_D, size) < 1:
        raise UserError(f"--crop-size {size} is too small for --netD {m.netD} (--n-layers-D "
                        f"{m.n_layers_D}, --num-D {m.num_D}): its coarsest logit map would be "
                        "empty; use a larger crop, fewer layers or fewer scales")


def _check_objective(cfg):
    t, m = cfg.train, cfg.model
    if t.no_gan:
        if t.lambda_l1 == 0:
            raise UserError("--no-gan with --lambda-L1 0: no loss is left to train on; drop "
                            "one of them")
        for key in ("train.gan_mode", "train.lambda_feat", "model.unconditional"):
            value = get(cfg, key)
            if value != default(key):  # D's options, given
                shown = flag_for(key) if value is True else f"{flag_for(key)} {value}"
                raise UserError(f"--no-gan trains no discriminator, so {shown} has no effect; "
                                "remove one of them")
    if t.gan_mode in GRADIENT_PENALTY_MODES and m.norm in BATCH_NORMS:
        raise UserError(f"--gan-mode {t.gan_mode} with --norm {m.norm}: the gradient penalty "
                        "is per example, and BatchNorm in D mixes the examples of a batch; use "
                        "--norm instance or none")


def check_choices(cfg):
    """Raise UserError naming the flag of the first value outside its field's choices."""
    for key, f, _typ in leaves(type(cfg)):
        choices, separator = f.metadata.get("choices"), f.metadata.get("separator")
        value = get(cfg, key)
        if not choices or value == "":
            continue
        flag, what = flag_name(key, f), key.split(".")[-1]
        if separator is None and value not in choices:
            raise UserError(f"{flag}: unknown {what} {value!r}; choose one of "
                            f"{', '.join(choices)}")
        items = [item.strip() for item in value.split(separator)] if separator else []
        for item in items:
            if item and item not in choices:
                raise UserError(f"{flag} {value}: unknown {what} {item!r}; use one or more of "
                                f"{', '.join(choices)}, separated by {separator!r}")
    return cfg
