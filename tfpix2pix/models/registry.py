"""Model names are the public API: the CLI, config files and run folders use them.

The registry is the one place a name becomes a model: each entry says which
builder (``<module>.<function>`` in this package) builds it, with which keyword
defaults, and which of the per-call options (``OPTIONS``: ``num_downs``;
``n_layers``, ``num_D``) it takes. A new architecture is one module and one line
here. Whether an option applies to a model is decided here, once
(``inapplicable``), for the builders and for the config's start-up check.

This module does not import TensorFlow, so configs can be validated before the
(slow) TensorFlow import. The builder's module is imported when a model is built.
"""

import importlib
from dataclasses import dataclass, field

from ..names import Registry, check_choice


@dataclass(frozen=True)
class Architecture:
    """A registered model: ``<module>.<function>(**defaults, <common arguments>)``.

    ``options`` are the ``build_generator`` / ``build_discriminator`` keywords the
    caller may set for this name (they override ``defaults``); any other option
    must be left at its default.
    """

    builder: str  # "module.function", relative to this package
    summary: str
    defaults: dict = field(default_factory=dict)
    options: tuple = ()

    def build(self, **kwargs):
        module, function = self.builder.rsplit(".", 1)
        build = getattr(importlib.import_module(f"{__package__}.{module}"), function)
        return build(**{**self.defaults, **kwargs})


@dataclass(frozen=True)
class Option:
    """A builder keyword only some architectures take, set by ``ModelConfig.<config_field>``.

    ``default`` is the field's default too, and means "not set": the architecture's
    own value (a U-Net's depth from its name) or, for one that does not take the
    option, nothing to refuse.
    """

    config_field: str
    default: int


OPTIONS = {"num_downs": Option("num_downs", 0), "n_layers": Option("n_layers_D", 3),
           "num_D": Option("num_D", 2)}


def _unet(num_downs, summary):
    return Architecture("unet.unet_generator", summary, {"num_downs": num_downs}, ("num_downs",))


def _resnet(n_blocks):
    return Architecture("resnet.resnet_generator",
                        f"the reference's ResNet generator, {n_blocks} residual blocks",
                        {"n_blocks": n_blocks, "n_downsampling": 2})


GENERATORS = Registry("netG", {
    "unet_64": _unet(6, "U-Net reducing 64x64 to 1x1 (6 levels)"),
    "unet_128": _unet(7, "U-Net reducing 128x128 to 1x1 (7 levels)"),
    "unet_256": _unet(8, "the paper's U-Net, 256x256 to 1x1 (8 levels)"),
    "unet_512": _unet(9, "U-Net reducing 512x512 to 1x1 (9 levels)"),
    "encoder_decoder_256": Architecture(
        "unet.unet_generator", "the paper's encoder-decoder: unet_256 without skip connections",
        {"num_downs": 8, "skips": False}, ("num_downs",)),
    "resnet_6blocks": _resnet(6),
    "resnet_9blocks": _resnet(9),
})
DISCRIMINATORS = Registry("netD", {
    # basic is the 3-layer PatchGAN by definition, whatever --n-layers-D says.
    "basic": Architecture("patchgan.patchgan_discriminator", "the paper's 70x70 PatchGAN",
                          {"n_layers": 3}),
    "n_layers": Architecture("patchgan.patchgan_discriminator",
                             "PatchGAN of depth --n-layers-D", options=("n_layers",)),
    "pixel": Architecture("patchgan.pixel_discriminator", "the 1x1 PixelGAN, one logit per pixel"),
    "multiscale": Architecture("multiscale.multiscale_discriminator",
                               "pix2pixHD's num_D PatchGANs on 1, 1/2, 1/4, ... of the image",
                               options=("n_layers", "num_D")),
})
NORMS = Registry("norm", {
    "batch": "BatchNorm",
    "sync_batch": "BatchNorm with statistics over all replicas",
    "instance": "InstanceNorm",
    "none": "",
})
BATCH_NORMS = NORMS.subset("batch", "sync_batch")  # they mix the examples of a batch
# How the generator normalises at inference (see ``test_mode.inference_model``).
TEST_MODES = Registry("test_mode", {
    "eval": "BatchNorm moving statistics, no dropout",
    "per_image": "each image's own statistics with BN's scale and offset, no dropout",
    "paper": "per_image with dropout on, as the paper tested",
})


def takers(registry, option):
    """The names in ``registry`` that take ``option``."""
    return tuple(name for name, arch in registry.items() if option in arch.options)


def _is_set(key, value):
    return value not in (None, OPTIONS[key].default)


def inapplicable(registry, name, given):
    """The options in ``given`` (keyword -> value) that are set, though ``name`` takes none.

    An option is set when its value is neither None nor its default (``OPTIONS``).
    """
    return [key for key, value in given.items()
            if key not in registry[name].options and _is_set(key, value)]


def model_options(model_cfg, registry):
    """The ``OPTIONS`` that some architecture in ``registry`` takes, as ``model_cfg`` sets them."""
    return {key: getattr(model_cfg, option.config_field) for key, option in OPTIONS.items()
            if takers(registry, key)}


def _kwargs(what, registry, name, given):
    """``name``'s builder keywords: its options' defaults, its own defaults, then the options
    in ``given`` that are set. ValueError for an unknown name, or for an option that is set
    but does not apply to ``name``."""
    check_choice(what, name, registry)
    arch = registry[name]
    for key in inapplicable(registry, name, given):
        raise ValueError(f"`{key}` does not apply to {what}={name!r} ({arch.summary}); "
                         f"it applies to {what} {', '.join(takers(registry, key))}. "
                         f"Received: {key}={given[key]!r}")
    kwargs = {key: OPTIONS[key].default for key in arch.options}
    kwargs.update(arch.defaults)
    kwargs.update((key, value) for key, value in given.items()
                  if key in arch.options and _is_set(key, value))
    return kwargs


def stride(netG, num_downs=0):
    """The factor H and W must be multiples of: 2**depth for a U-Net or encoder-decoder
    (``num_downs`` overrides the depth; 0 or None keeps the name's), 4 for a ResNet."""
    kwargs = _kwargs("netG", GENERATORS, netG, {"num_downs": num_downs})
    return 2 ** kwargs.get("num_downs", kwargs.get("n_downsampling"))


def patch_map_size(netD, n_layers, num_D, size):
    """Side of the smallest logit map ``netD`` gives for a ``size`` x ``size`` input.

    A PatchGAN's 4x4 convs pad by 1: each stride-2 layer maps s to s // 2, the two
    stride-1 layers take 1 each. multiscale halves the input (rounding up) before
    each further scale. pixel keeps the size.
    """
    kwargs = _kwargs("netD", DISCRIMINATORS, netD, {"n_layers": n_layers, "num_D": num_D})
    if "n_layers" not in kwargs:  # the PixelGAN: one logit per pixel
        return size
    for _ in range(kwargs.get("num_D", 1) - 1):
        size = -(-size // 2)
    for _ in range(kwargs["n_layers"]):
        size //= 2
    return size - 2


def generator_kwargs(model_cfg, data_cfg=None):
    """``build_generator`` arguments for a config's ``model`` section.

    Image channels come from the ``data`` section's ``input_nc`` / ``output_nc`` when
    it is given, else RGB to RGB.
    """
    m = model_cfg
    channels = (data_cfg.input_nc, data_cfg.output_nc) if data_cfg is not None else (3, 3)
    return {"name": m.netG, "in_channels": channels[0], "out_channels": channels[1],
            "ngf": m.ngf, "norm": m.norm, "use_dropout": not m.no_dropout,
            "num_downs": m.num_downs or None}


def discriminator_kwargs(model_cfg, in_channels=6):
    """``build_discriminator`` arguments for a config's ``model`` section."""
    m = model_cfg
    return {"name": m.netD, "in_channels": in_channels, "ndf": m.ndf, "norm": m.norm,
            **model_options(m, DISCRIMINATORS)}


def build_generator(name="unet_256", in_channels=3, out_channels=3, ngf=64, norm="batch",
                    use_dropout=True, num_downs=None):
    """Build a generator by name.

    Args:
        name: one of ``GENERATORS``: ``unet_64``, ``unet_128``, ``unet_256``, ``unet_512``
            (the number is the image size the U-Net reduces to 1x1),
            ``encoder_decoder_256`` (unet_256 without skips), ``resnet_6blocks``,
            ``resnet_9blocks``.
        in_channels, out_channels: image channels of A and B.
        ngf: filters of the first conv layer.
        norm: ``batch``, ``sync_batch``, ``instance`` or ``none``.
        use_dropout: dropout 0.5 on the U-Net's first three decoder blocks, as in the
            paper; in every residual block of a ResNet, as in the reference.
        num_downs: override the depth implied by a U-Net or encoder-decoder name (for
            tiny test models). A ResNet takes none.

    Returns:
        A functional ``keras.Model`` from ``(N, H, W, in_channels)`` in [-1, 1] to
        ``(N, H, W, out_channels)`` in [-1, 1]; H and W must be multiples of
        ``stride(name, num_downs)``.
    """
    kwargs = _kwargs("netG", GENERATORS, name, {"num_downs": num_downs})
    NORMS.check(norm)
    return GENERATORS[name].build(**kwargs, in_channels=in_channels, out_channels=out_channels,
                                  ngf=ngf, norm=norm, use_dropout=use_dropout,
                                  name=f"generator_{name}")


def build_discriminator(name="basic", in_channels=6, ndf=64, n_layers=None, norm="batch",
                        num_D=None):
    """Build a discriminator by name.

    Args:
        name: one of ``DISCRIMINATORS``: ``basic`` (the paper's 70x70 PatchGAN, 3
            layers), ``n_layers`` (a PatchGAN of depth ``n_layers``), ``pixel`` (1x1
            PixelGAN) or ``multiscale`` (pix2pixHD's ``num_D`` PatchGANs of depth
            ``n_layers`` on successively halved inputs).
        in_channels: channels of the concatenated (A, B) pair.
        ndf: filters of the first layer.
        n_layers: strided layers for ``n_layers`` and ``multiscale``, 1 to 8
            (receptive field 1: 16, 2: 34, 3: 70, 4: 142, 5: 286); None: the default,
            ``OPTIONS["n_layers"]`` (3). ``basic`` is always 3.
        norm: ``batch``, ``sync_batch``, ``instance`` or ``none``.
        num_D: scales of ``multiscale``; None: the default, ``OPTIONS["num_D"]``
            (pix2pixHD's 2).

    Returns:
        A functional ``keras.Model`` from ``(N, H, W, in_channels)`` (input ``pair``) to
        a float32 map of real/fake logits (30x30 for 256x256 input with 3 layers;
        H x W for ``pixel``); for ``multiscale``, a list of ``num_D`` maps, finest
        first. ``multiscale.discriminator_features`` gives its intermediate features.
    """
    kwargs = _kwargs("netD", DISCRIMINATORS, name, {"n_layers": n_layers, "num_D": num_D})
    NORMS.check(norm)
    return DISCRIMINATORS[name].build(**kwargs, in_channels=in_channels, ndf=ndf, norm=norm,
                                      name=f"discriminator_{name}")
