"""The one typed configuration tree.

Every option lives here, once, as a dataclass field with its default and help
text. The command line (``cli.py``), experiment files (``experiments/*.yaml``)
and the ``config.yaml`` each run writes are all views of this tree.

Precedence, lowest first: field defaults, the built-in demo preset (only when
no dataset is given), the ``--config`` file, command-line flags.
"""

import dataclasses
import os
from dataclasses import dataclass, field
from typing import get_type_hints

import yaml

from .data.folder import BUILTIN_PREFIX
from .errors import UserError
from .files import write_atomic
from .data.layouts import DATASET_MODES, PREPROCESS_MODES
from .models.registry import DISCRIMINATORS, GENERATORS, NORMS, TEST_MODES, stride
from .training.objectives import GAN_MODES, GRADIENT_PENALTY_MODES, LR_POLICIES


def opt(default, help, flag=None, choices=None, aliases=(), positional=False, const=None,
        group=None):
    """A config field with the metadata the CLI is generated from.

    ``choices`` are checked by ``check_choices``; an empty value ("") means "not given"
    and is not checked. A ``tuple`` field takes one or more values on the command line.
    ``const`` is the value of the flag given without one (``--jit`` means ``--jit on``).
    ``group`` is the ``--help`` topic (default: the field's config section).
    """
    return field(default=default, metadata={"help": help, "flag": flag, "choices": choices,
                                            "aliases": tuple(aliases), "positional": positional,
                                            "const": const, "group": group})


STRATEGIES = ("auto", "default", "mirrored", "multiworker")
PRECISIONS = ("fp32", "mixed_bf16", "mixed_fp16", "auto")

# --help topics (the sections of the tree are data, model, train, log, infer).
DATASET, PREPROCESS = "dataset", "preprocessing"
GENERATOR, DISCRIMINATOR = "generator", "discriminator"
OBJECTIVE = "objective: GAN mode, loss weights, the paper's ablations"
SCHEDULE = "optimizer, learning-rate schedule and run length"
SPEED = "speed, precision and distribution"
SECTION_TOPICS = {"log": "logging and checkpoints", "infer": "inference"}
TOPICS = (DATASET, PREPROCESS, GENERATOR, DISCRIMINATOR, OBJECTIVE, SCHEDULE, SPEED,
          *SECTION_TOPICS.values())  # their order in --help


@dataclass
class DataConfig:
    path: str = opt("", "dataset folder with train/ (and optionally val/): [A | B] side-by-side "
                    "images, or A/<split>/ and B/<split>/ folders of partners with the same "
                    "names, or a to-tfrecord folder; or builtin:shapes", flag="--data",
                    group=DATASET)
    dataset_mode: str = opt("auto", "layout of --data: aligned ([A | B] files), "
                            "unaligned_pairs (A/ and B/ folders, partners matched by file "
                            "name), auto (detected)", choices=DATASET_MODES, group=DATASET)
    direction: str = opt("AtoB", "AtoB translates A (the left half, or A/) into B; BtoA the "
                         "reverse (facades labels->photo is BtoA)", choices=("AtoB", "BtoA"),
                         group=DATASET)
    input_nc: int = opt(3, "channels of the input images (1 gray, 3 RGB, 2 and 4 from PNGs "
                        "that have them, e.g. gray+alpha, RGBA, depth)", flag="--input-nc",
                        group=DATASET)
    output_nc: int = opt(3, "channels of the output images (as --input-nc)", flag="--output-nc",
                         group=DATASET)
    preprocess: str = opt("resize_and_crop", "resize_and_crop: resize to --load-size square, "
                          "random crop --crop-size; crop: random crop of the original size; "
                          "scale_width: width to --load-size keeping the aspect ratio; "
                          "scale_width_and_crop: that, then a random crop; none: the original "
                          "size (sizes that are not multiples of the generator's stride are "
                          "padded for G and cropped back)", choices=PREPROCESS_MODES,
                          group=PREPROCESS)
    load_size: int = opt(286, "resize A and B to this size (the width for scale_width*) "
                         "before cropping", group=PREPROCESS)
    crop_size: int = opt(256, "random crop size used for training (the model's input size)",
                         group=PREPROCESS)
    no_flip: bool = opt(False, "disable the random left-right mirror", group=PREPROCESS)
    cache: str = opt("memory", "where decoded, resized pairs are kept after their first decode: "
                     "memory; disk (files in <run folder>/cache, for datasets larger than RAM; "
                     "reused when the run resumes); none (decode every epoch)",
                     choices=("memory", "disk", "none"), group=SPEED)


@dataclass
class ModelConfig:
    netG: str = opt("unet_256", "generator architecture: unet_<size> (U-Net that reduces "
                    "<size> to 1x1), resnet_<n>blocks, encoder_decoder_256 (U-Net without "
                    "skips)", flag="--netG", choices=tuple(GENERATORS), group=GENERATOR)
    ngf: int = opt(64, "generator filters in the first conv layer", group=GENERATOR)
    num_downs: int = opt(0, "U-Net / encoder-decoder depth; 0 means the depth implied by "
                         "--netG", group=GENERATOR)
    no_dropout: bool = opt(False, "disable the generator's dropout", group=GENERATOR)
    norm: str = opt("batch", "normalization in G and D (sync_batch: BatchNorm with statistics "
                    "over all replicas)", choices=NORMS, group=GENERATOR)
    netD: str = opt("basic", "discriminator: basic (70x70 PatchGAN), n_layers (PatchGAN of "
                    "--n-layers-D), pixel (1x1 PixelGAN), multiscale (--num-D PatchGANs on an "
                    "image pyramid, pix2pixHD)", flag="--netD", choices=tuple(DISCRIMINATORS),
                    group=DISCRIMINATOR)
    ndf: int = opt(64, "discriminator filters in the first conv layer", group=DISCRIMINATOR)
    n_layers_D: int = opt(3, "PatchGAN depth for --netD n_layers and multiscale (1: 16x16, 2: "
                          "34x34, 3: 70x70, 4: 142x142, 5: 286x286 receptive field)",
                          flag="--n-layers-D", group=DISCRIMINATOR)
    num_D: int = opt(2, "discriminators of --netD multiscale, each on half the resolution of "
                     "the previous", flag="--num-D", group=DISCRIMINATOR)
    unconditional: bool = opt(False, "D sees only B, not the pair (A, B): the paper's GAN "
                              "ablation (Table 1)", group=OBJECTIVE)


@dataclass
class TrainConfig:
    gan_mode: str = opt("vanilla", "GAN objective: vanilla (BCE, non-saturating G loss), lsgan "
                        "(least squares), hinge, wgangp (Wasserstein with a gradient penalty)",
                        choices=GAN_MODES, group=OBJECTIVE)
    lambda_l1: float = opt(100.0, "weight of the L1 term in the generator loss (0: GAN only)",
                           flag="--lambda-L1", aliases=("--lambda-l1",), group=OBJECTIVE)
    lambda_gp: float = opt(10.0, "weight of the gradient penalty of --gan-mode wgangp",
                           flag="--lambda-gp", group=OBJECTIVE)
    lambda_feat: float = opt(0.0, "weight of the feature-matching loss on D's intermediate "
                             "features (pix2pixHD uses 10 with --netD multiscale); 0 = off",
                             flag="--lambda-feat", group=OBJECTIVE)
    no_gan: bool = opt(False, "L1 only: no discriminator is built or trained (the paper's L1 "
                       "ablation)", group=OBJECTIVE)
    d_loss_scale: float = opt(0.5, "factor on D's loss (the paper divides it by 2)",
                              flag="--d-loss-scale", group=OBJECTIVE)
    n_epochs: int = opt(100, "epochs at the initial learning rate", flag="--epochs",
                        aliases=("--n-epochs",), group=SCHEDULE)
    n_epochs_decay: int = opt(100, "epochs of decay after --epochs (linear policy: to zero)",
                              group=SCHEDULE)
    lr_policy: str = opt("linear", "linear: constant for --epochs, then linear decay to zero "
                         "over --n-epochs-decay; step: x0.1 every --lr-decay-iters epochs; "
                         "cosine: from lr to zero over all epochs; constant",
                         choices=LR_POLICIES, group=SCHEDULE)
    lr_decay_iters: int = opt(50, "epochs between the x0.1 steps of --lr-policy step",
                              group=SCHEDULE)
    batch_size: int = opt(1, "global batch size (split across replicas)", group=SCHEDULE)
    lr: float = opt(2e-4, "Adam learning rate for G and D", group=SCHEDULE)
    beta1: float = opt(0.5, "Adam beta_1", group=SCHEDULE)
    beta2: float = opt(0.999, "Adam beta_2", group=SCHEDULE)
    seed: int = opt(0, "seed for weights, data order, augmentation and dropout", group=SCHEDULE)
    max_steps: int = opt(0, "stop at this global step (0: train to the end); the run can be "
                         "resumed later", group=SCHEDULE)
    strategy: str = opt("auto", "auto: multiworker when TF_CONFIG names several tasks, else "
                        "mirrored over the GPUs if there are several, else default (one device); "
                        "mirrored: MirroredStrategy over all local GPUs (or logical CPUs); "
                        "multiworker: MultiWorkerMirroredStrategy over the cluster in TF_CONFIG",
                        choices=STRATEGIES, group=SPEED)
    precision: str = opt("fp32", "fp32, or Keras mixed precision with float32 weights, outputs "
                         "and losses: mixed_bf16 (fast on GPUs and on CPUs with AVX512_BF16 or "
                         "AMX, slow elsewhere), mixed_fp16 (GPUs; dynamic loss scaling); auto "
                         "picks mixed_bf16 where the hardware has bfloat16, else fp32",
                         choices=PRECISIONS, group=SPEED)
    jit: str = opt("auto", "XLA-compile the step: the whole step on one device, forward and "
                   "gradients under a multi-replica strategy; auto = on for GPUs, off for CPUs "
                   "(slower there). --jit alone means on", choices=("auto", "on", "off"),
                   const="on", group=SPEED)
    steps_per_call: int = opt(1, "training steps run inside one tf.function call (for GPUs, "
                              "where a small step is launch-bound); logging, grids, checkpoints "
                              "and Ctrl-C happen between calls, so an interval that is not a "
                              "multiple of it takes effect at the end of the call that crosses "
                              "it", group=SPEED)


@dataclass
class LogConfig:
    run_dir: str = opt("", "run folder for checkpoints, TensorBoard logs, image grids and "
                       "config.yaml (default: runs/<name>); rerunning on it resumes")
    log_every: int = opt(100, "write TensorBoard scalars every N steps")
    image_every: int = opt(1000, "write the input|output|target image grid every N steps")
    checkpoint_every: int = opt(2000, "save a checkpoint every N steps (and always at the end)")
    keep_checkpoints: int = opt(3, "how many recent checkpoints to keep")
    num_images: int = opt(4, "rows in the image grid (fixed val pairs, or train pairs)")


@dataclass
class InferConfig:
    test_mode: str = opt("eval", "how G normalises at inference (image grids, predict, export): "
                         "eval = BatchNorm moving statistics, no dropout; per_image = each "
                         "image's own statistics with BN's scale and offset, no dropout; paper "
                         "= per_image with dropout on, as the paper tested", choices=TEST_MODES)


@dataclass
class Config:
    name: str = opt("pix2pix", "experiment name; the default run folder is runs/<name>")
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)
    infer: InferConfig = field(default_factory=InferConfig)

    @property
    def run_dir(self):
        return self.log.run_dir or os.path.join("runs", self.name)


@dataclass
class PredictConfig:
    """Options of ``python -m tfpix2pix.predict``."""
    model: str = opt("", "a run folder (runs/<name>: its latest checkpoint and config) or an "
                     "export (exported/<name>, or one of its version folders)")
    input: tuple = opt((), "image files, folders or glob patterns to translate")
    output: str = opt("results", "folder for the translated PNGs (and index.html)")
    aligned: bool = opt(False, "inputs are [A | B] pairs: translate the run's input side and "
                        "show the other side as the target")
    tile: int = opt(0, "translate in overlapping tiles of this size (a multiple of the "
                    "generator's stride) to bound memory on very large images; 0 = whole images")
    html: bool = opt(False, "also write index.html: one row per image, input | output | target")
    test_mode: str = opt("", "override the run's test mode (run folders only; an export has "
                         "its own baked in)", choices=TEST_MODES)


@dataclass
class ExportConfig:
    """Options of ``python -m tfpix2pix.export``."""
    run_dir: str = opt("", "the run folder to export (its latest checkpoint)", positional=True)
    output: str = opt("exported", "export root; the model goes to <output>/<name>/<version>/")
    name: str = opt("", "model name in the export root (default: the run's name)")
    version: int = opt(0, "version folder number (default: the next free one)")
    test_mode: str = opt("", "test mode to bake in (default: the run's)", choices=TEST_MODES)
    tflite: str = opt("", "also convert to TFLite, comma-separated kinds: fp32, fp16, int8 "
                      "(dynamic range), int8_full (full integer, calibrated on the run's "
                      "training images)")
    tflite_size: str = opt("crop", "TFLite input size: 'crop' (the run's crop size), N (N x N, "
                           "a multiple of the generator's stride) or 'any' (any height and "
                           "width; LiteRT runs such models far slower, int8 most of all)")
    onnx: bool = opt(False, "also convert to ONNX (needs pip install 'tfpix2pix[onnx]')")


# README command 1: the built-in labels->rendering set at 64 px, 1800 steps of batch 4. At
# ngf = ndf = 16 a step costs a quarter of the FLOPs of 32 and trains 3.3x faster on a 2-core
# Zen 3 (81 vs 24 img/s), for a val L1 of 0.116 against 0.109 (benchmarks/demo_speed.py).
DEMO_PRESET = {
    "name": "demo",
    "data": {"path": BUILTIN_PREFIX + "shapes", "load_size": 72, "crop_size": 64},
    "model": {"netG": "unet_64", "ngf": 16, "ndf": 16},
    "train": {"n_epochs": 12, "n_epochs_decay": 6, "batch_size": 4},
    "log": {"log_every": 20, "image_every": 200, "checkpoint_every": 500},
}



def leaves(cfg_cls=Config, prefix=""):
    """Yield (dotted key, dataclass field, type) for every option in the tree."""
    hints = get_type_hints(cfg_cls)
    for f in dataclasses.fields(cfg_cls):
        if dataclasses.is_dataclass(hints[f.name]):
            yield from leaves(hints[f.name], prefix + f.name + ".")
        else:
            yield prefix + f.name, f, hints[f.name]


def to_dict(cfg):
    return dataclasses.asdict(cfg)


# Values older run folders saved: config.yaml of runs made before --cache took a mode.
LEGACY_VALUES = {"data.cache": {True: "memory", False: "none"}}


def _coerce(key, value, typ, source):
    if key in LEGACY_VALUES and isinstance(value, bool):
        return LEGACY_VALUES[key][value]
    if typ is tuple and isinstance(value, (list, tuple)) and all(isinstance(v, str)
                                                                 for v in value):
        return tuple(value)
    if typ is bool and isinstance(value, bool):
        return value
    if typ is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if typ in (int, str) and isinstance(value, typ) and not isinstance(value, bool):
        return value
    raise UserError(f"{source}: {key} must be {typ.__name__}, got {value!r}")


def apply_overrides(cfg, overrides, source):
    """Return a copy of ``cfg`` with nested ``overrides`` applied (unknown keys are errors)."""
    known = {key: (f, typ) for key, f, typ in leaves(type(cfg))}
    sections = {key.split(".")[0] for key in known if "." in key}
    flat = {}

    def flatten(d, prefix=""):
        if not isinstance(d, dict):
            raise UserError(f"{source}: expected a mapping at {prefix.rstrip('.') or 'top level'}")
        for k, v in d.items():
            key = prefix + str(k)
            if isinstance(v, dict) and key in sections:
                flatten(v, key + ".")
            elif key not in known:
                raise UserError(f"{source}: unknown key {key!r}; known keys are "
                                f"{', '.join(sorted(known))}")
            else:
                flat[key] = v

    flatten(overrides or {})
    new = dataclasses.replace(cfg, **{s: dataclasses.replace(getattr(cfg, s)) for s in sections})
    for key, value in flat.items():
        _f, typ = known[key]
        *parents, leaf = key.split(".")
        target = getattr(new, parents[0]) if parents else new
        setattr(target, leaf, _coerce(key, value, typ, source))
    return new


def load_yaml(path):
    if not os.path.isfile(path):
        raise UserError(f"--config {path}: file not found; pass an experiment file such as "
                        "experiments/facades.yaml")
    try:
        with open(path) as fh:
            return yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"--config {path}: not valid YAML{where}; fix the file") from None


def save_yaml(cfg, path):
    """Write the resolved config atomically (a reader never sees half a file)."""
    write_atomic(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


def validate(cfg):
    """Check values that types alone don't; raise UserError naming the flag.

    Every combination that cannot train is refused here, before TensorFlow is imported
    or a model is built.
    """
    check_choices(cfg)
    positive = ["data.load_size", "data.crop_size", "model.ngf", "model.ndf", "model.n_layers_D",
                "model.num_D", "train.batch_size", "train.steps_per_call", "train.d_loss_scale",
                "train.lr_decay_iters", "log.log_every", "log.image_every",
                "log.checkpoint_every", "log.keep_checkpoints", "log.num_images"]
    non_negative = ["train.n_epochs", "train.n_epochs_decay", "train.max_steps", "model.num_downs",
                    "train.lambda_l1", "train.lambda_gp", "train.lambda_feat"]
    for key in positive + non_negative + ["train.lr"]:
        value = get(cfg, key)
        bad = value <= 0 if key in positive else value < 0
        if bad:
            need = "positive" if key in positive else "zero or more"
            raise UserError(f"{flag_for(key)}: must be {need}, got {value}")
    d, m, t = cfg.data, cfg.model, cfg.train
    for key in ("data.input_nc", "data.output_nc"):
        if not 1 <= get(cfg, key) <= 4:
            raise UserError(f"{flag_for(key)}: must be 1 to 4 channels, got {get(cfg, key)}")
    if t.n_epochs + t.n_epochs_decay == 0:
        raise UserError("--epochs and --n-epochs-decay are both 0: nothing to train")
    _check_sizes(d, m)
    _check_discriminator(cfg)
    _check_objective(t, m)
    return cfg


def _check_sizes(d, m):
    cropped = d.preprocess in ("resize_and_crop", "scale_width_and_crop")
    if cropped and d.crop_size > d.load_size:
        raise UserError(f"--crop-size {d.crop_size} is larger than --load-size {d.load_size}; "
                        "make the crop no larger than the resize")
    has_depth = "num_downs" in GENERATORS[m.netG].options
    if m.num_downs and not has_depth:
        takers = ", ".join(n for n, a in GENERATORS.items() if "num_downs" in a.options)
        raise UserError(f"--num-downs sets the depth of {takers}; --netG {m.netG} has none: "
                        "leave it at 0")
    multiple = stride(m.netG, m.num_downs)
    # Only crops have a fixed size; scale_width and none are padded to the stride for G.
    if d.preprocess in ("resize_and_crop", "crop", "scale_width_and_crop") and \
            d.crop_size % multiple:
        depth = " or set --num-downs" if has_depth else ""
        raise UserError(f"--crop-size {d.crop_size} is not a multiple of {multiple}, which "
                        f"--netG {m.netG} needs; pick a multiple{depth}")


def patch_map_size(netD, n_layers, num_D, size):
    """Side of the smallest logit map ``netD`` gives for a ``size`` x ``size`` input.

    A PatchGAN's 4x4 convs pad by 1: each stride-2 layer maps s to s // 2, the two
    stride-1 layers take 1 each. multiscale halves the input (rounding up) before
    each further scale. pixel keeps the size.
    """
    if netD == "pixel":
        return size
    depth = 3 if netD == "basic" else n_layers
    if netD == "multiscale":
        for _ in range(num_D - 1):
            size = -(-size // 2)
    for _ in range(depth):
        size //= 2
    return size - 2


def _check_discriminator(cfg):
    m, size = cfg.model, cfg.data.crop_size
    unset = {"n_layers_D": 3, "num_D": 2}  # the config's defaults: "not given"
    for key, option in (("n_layers_D", "n_layers"), ("num_D", "num_D")):
        names = [n for n, a in DISCRIMINATORS.items() if option in a.options]
        if getattr(m, key) != unset[key] and m.netD not in names:
            flag = flag_for(f"model.{key}")
            raise UserError(f"{flag} only applies to --netD {' and '.join(names)}; --netD "
                            f"{m.netD} takes none: remove {flag}")
    if cfg.train.no_gan or cfg.data.preprocess in ("scale_width", "none"):
        return  # no D, or image sizes known only from the data
    smallest = patch_map_size(m.netD, m.n_layers_D, m.num_D, size)
    if smallest < 1:
        raise UserError(f"--crop-size {size} is too small for --netD {m.netD} (--n-layers-D "
                        f"{m.n_layers_D}, --num-D {m.num_D}): its coarsest logit map would be "
                        "empty; use a larger crop, fewer layers or fewer scales")


def _check_objective(t, m):
    if t.no_gan:
        if t.lambda_l1 == 0:
            raise UserError("--no-gan with --lambda-L1 0: no loss is left to train on; drop "
                            "one of them")
        given = [(flag, value) for flag, value, unset in (
            ("--gan-mode", t.gan_mode, "vanilla"), ("--lambda-feat", t.lambda_feat, 0.0),
            ("--unconditional", m.unconditional, False)) if value != unset]
        if given:
            flag, value = given[0]
            shown = flag if value is True else f"{flag} {value}"
            raise UserError(f"--no-gan trains no discriminator, so {shown} has no effect; "
                            f"remove one of them")
    if t.gan_mode in GRADIENT_PENALTY_MODES and m.norm in ("batch", "sync_batch"):
        raise UserError(f"--gan-mode {t.gan_mode} with --norm {m.norm}: the gradient penalty "
                        "is per example, and BatchNorm in D mixes the examples of a batch; use "
                        "--norm instance or none")


def check_choices(cfg):
    """Raise UserError naming the flag of the first value outside its field's choices."""
    for key, f, _typ in leaves(type(cfg)):
        choices = f.metadata.get("choices")
        value = get(cfg, key)
        if choices and value != "" and value not in choices:
            raise UserError(f"{flag_name(key, f)}: unknown {key.split('.')[-1]} {value!r}; "
                            f"choose one of {', '.join(choices)}")
    return cfg


def get(cfg, key):
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def flag_name(key, f):
    return f.metadata.get("flag") or "--" + key.split(".")[-1].replace("_", "-")


def flag_for(key):
    for k, f, _typ in leaves():
        if k == key:
            return flag_name(k, f)
    raise KeyError(key)
