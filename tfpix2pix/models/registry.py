"""Model names are the public API: the CLI, config files and run folders use them.

The registry is the one place a name becomes a model: each entry says which
builder (``<module>.<function>`` in this package) builds it, with which keyword
defaults, and which of the per-call options (``num_downs``; ``n_layers``,
``num_D``) it takes. A new architecture is one module and one line here.

This module does not import TensorFlow, so configs can be validated before the
(slow) TensorFlow import. The builder's module is imported when a model is built.
"""

import importlib
from dataclasses import dataclass, field


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


def _unet(num_downs, summary):
    return Architecture("unet.unet_generator", summary, {"num_downs": num_downs}, ("num_downs",))


def _resnet(n_blocks):
    return Architecture("resnet.resnet_generator",
                        f"the reference's ResNet generator, {n_blocks} residual blocks",
                        {"n_blocks": n_blocks, "n_downsampling": 2})


GENERATORS = {
    "unet_64": _unet(6, "U-Net reducing 64x64 to 1x1 (6 levels)"),
    "unet_128": _unet(7, "U-Net reducing 128x128 to 1x1 (7 levels)"),
    "unet_256": _unet(8, "the paper's U-Net, 256x256 to 1x1 (8 levels)"),
    "unet_512": _unet(9, "U-Net reducing 512x512 to 1x1 (9 levels)"),
    "encoder_decoder_256": Architecture(
        "unet.unet_generator", "the paper's encoder-decoder: unet_256 without skip connections",
        {"num_downs": 8, "skips": False}, ("num_downs",)),
    "resnet_6blocks": _resnet(6),
    "resnet_9blocks": _resnet(9),
}
DISCRIMINATORS = {
    "basic": Architecture("patchgan.patchgan_discriminator", "the paper's 70x70 PatchGAN",
                          {"n_layers": 3}),
    "n_layers": Architecture("patchgan.patchgan_discriminator",
                             "PatchGAN of depth --n-layers-D", {"n_layers": 3}, ("n_layers",)),
    "pixel": Architecture("patchgan.pixel_discriminator", "the 1x1 PixelGAN, one logit per pixel"),
    "multiscale": Architecture("multiscale.multiscale_discriminator",
                               "pix2pixHD's num_D PatchGANs on 1, 1/2, 1/4, ... of the image",
                               {"n_layers": 3, "num_D": 2}, ("n_layers", "num_D")),
}
# sync_batch is BatchNorm whose batch statistics are computed over all replicas (and workers).
NORMS = ("batch", "sync_batch", "instance", "none")
# How the generator normalises at inference (see ``test_mode.inference_model``).
TEST_MODES = ("eval", "per_image", "paper")


def check_choice(what, value, allowed):
    """Raise ValueError in the house style if ``value`` is not in ``allowed``."""
    if value not in allowed:
        raise ValueError(f"`{what}` must be one of {', '.join(allowed)}. "
                         f"Received: {what}={value!r}")


def _options(what, name, registry, given, unset):
    """The builder keywords for ``given`` options; refuse set options ``name`` does not take.

    ``unset`` holds each option's "not given" value(s).
    """
    arch = registry[name]
    kwargs = {}
    for key, value in given.items():
        if key in arch.options:
            if value not in unset[key]:
                kwargs[key] = value
        elif value not in unset[key] and value != arch.defaults.get(key):
            takers = [n for n, a in registry.items() if key in a.options]
            raise ValueError(f"`{key}` does not apply to {what}={name!r} ({arch.summary}); "
                             f"it applies to {what} {', '.join(takers)}. "
                             f"Received: {key}={value!r}")
    return kwargs


def _generator_options(name, num_downs):
    check_choice("netG", name, tuple(GENERATORS))
    return {**GENERATORS[name].defaults,
            **_options("netG", name, GENERATORS, {"num_downs": num_downs},
                       {"num_downs": (None, 0)})}


def stride(netG, num_downs=0):
    """The factor H and W must be multiples of: 2**depth for a U-Net or encoder-decoder
    (``num_downs`` overrides the depth; 0 or None keeps the name's), 4 for a ResNet."""
    kwargs = _generator_options(netG, num_downs)
    return 2 ** kwargs.get("num_downs", kwargs.get("n_downsampling"))


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
    return {"name": m.netD, "in_channels": in_channels, "ndf": m.ndf, "n_layers": m.n_layers_D,
            "norm": m.norm, "num_D": m.num_D}


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
    kwargs = _generator_options(name, num_downs)
    check_choice("norm", norm, NORMS)
    return GENERATORS[name].build(**kwargs, in_channels=in_channels, out_channels=out_channels,
                                  ngf=ngf, norm=norm, use_dropout=use_dropout,
                                  name=f"generator_{name}")


def build_discriminator(name="basic", in_channels=6, ndf=64, n_layers=3, norm="batch", num_D=2):
    """Build a discriminator by name.

    Args:
        name: one of ``DISCRIMINATORS``: ``basic`` (the paper's 70x70 PatchGAN, 3
            layers), ``n_layers`` (a PatchGAN of depth ``n_layers``), ``pixel`` (1x1
            PixelGAN) or ``multiscale`` (pix2pixHD's ``num_D`` PatchGANs of depth
            ``n_layers`` on successively halved inputs).
        in_channels: channels of the concatenated (A, B) pair.
        ndf: filters of the first layer.
        n_layers: strided layers for ``n_layers`` and ``multiscale``, 1 to 8
            (receptive field 1: 16, 2: 34, 3: 70, 4: 142, 5: 286). ``basic`` is always 3.
        norm: ``batch``, ``sync_batch``, ``instance`` or ``none``.
        num_D: scales of ``multiscale`` (pix2pixHD's default, 2).

    Returns:
        A functional ``keras.Model`` from ``(N, H, W, in_channels)`` (input ``pair``) to
        a float32 map of real/fake logits (30x30 for 256x256 input with 3 layers;
        H x W for ``pixel``); for ``multiscale``, a list of ``num_D`` maps, finest
        first. ``multiscale.discriminator_features`` gives its intermediate features.
    """
    check_choice("netD", name, tuple(DISCRIMINATORS))
    check_choice("norm", norm, NORMS)
    kwargs = _options("netD", name, DISCRIMINATORS, {"n_layers": n_layers, "num_D": num_D},
                      {"n_layers": (3,), "num_D": (2,)})
    return DISCRIMINATORS[name].build(**kwargs, in_channels=in_channels, ndf=ndf, norm=norm,
                                      name=f"discriminator_{name}")
