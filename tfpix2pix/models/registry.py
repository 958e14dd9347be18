"""Model names are the public API: the CLI, config files and run folders use them.

This module does not import TensorFlow, so configs can be validated before the
(slow) TensorFlow import. The builders are imported when a model is built.
"""

# name -> keyword defaults for the architecture's builder.
GENERATORS = {
    "unet_64": {"num_downs": 6},
    "unet_128": {"num_downs": 7},
    "unet_256": {"num_downs": 8},
}
# "basic" is the 70x70 PatchGAN; "n_layers" takes its depth from n_layers.
DISCRIMINATORS = ("basic", "n_layers")
# sync_batch is BatchNorm whose batch statistics are computed over all replicas (and workers).
NORMS = ("batch", "sync_batch", "instance", "none")
# How the generator normalises at inference (see ``test_mode.inference_model``).
TEST_MODES = ("eval", "per_image", "paper")


def stride(netG, num_downs=0):
    """The factor H and W must be multiples of: 2**depth for a U-Net."""
    return 2 ** (num_downs or GENERATORS[netG]["num_downs"])


def check_choice(what, value, allowed):
    """Raise ValueError in the house style if ``value`` is not in ``allowed``."""
    if value not in allowed:
        raise ValueError(f"`{what}` must be one of {', '.join(allowed)}. "
                         f"Received: {what}={value!r}")


def generator_kwargs(model_cfg):
    """``build_generator`` arguments for a config's ``model`` section (RGB to RGB)."""
    m = model_cfg
    return {"name": m.netG, "in_channels": 3, "out_channels": 3, "ngf": m.ngf, "norm": m.norm,
            "use_dropout": not m.no_dropout, "num_downs": m.num_downs or None}


def build_generator(name="unet_256", in_channels=3, out_channels=3, ngf=64, norm="batch",
                    use_dropout=True, num_downs=None):
    """Build a generator by name.

    Args:
        name: one of ``GENERATORS`` (``unet_64``, ``unet_128``, ``unet_256``);
            the number is the image size the U-Net reduces to 1x1.
        in_channels, out_channels: image channels of A and B.
        ngf: filters of the first encoder layer.
        norm: ``batch``, ``sync_batch``, ``instance`` or ``none``.
        use_dropout: dropout 0.5 on the first three decoder blocks, as in the paper.
        num_downs: override the depth implied by the name (for tiny test models).

    Returns:
        A functional ``keras.Model`` from ``(N, H, W, in_channels)`` in [-1, 1] to
        ``(N, H, W, out_channels)`` in [-1, 1]; H and W must be multiples of 2**depth.
    """
    check_choice("netG", name, tuple(GENERATORS))
    check_choice("norm", norm, NORMS)
    depth = GENERATORS[name]["num_downs"] if num_downs is None else int(num_downs)
    from .unet import unet_generator
    return unet_generator(num_downs=depth, in_channels=in_channels, out_channels=out_channels,
                          ngf=ngf, norm=norm, use_dropout=use_dropout, name=f"generator_{name}")


def build_discriminator(name="basic", in_channels=6, ndf=64, n_layers=3, norm="batch"):
    """Build a PatchGAN discriminator by name.

    Args:
        name: ``basic`` (the paper's 70x70 PatchGAN, 3 layers) or ``n_layers``.
        in_channels: channels of the concatenated (A, B) pair.
        ndf: filters of the first layer.
        n_layers: strided layers for ``n_layers`` (receptive field 1: 16, 2: 34,
            3: 70, 4: 142, 5: 286). ``basic`` is always 3.
        norm: ``batch``, ``sync_batch``, ``instance`` or ``none``.

    Returns:
        A functional ``keras.Model`` from ``(N, H, W, in_channels)`` to a map of
        real/fake logits; 30x30 for 256x256 input with 3 layers.
    """
    check_choice("netD", name, DISCRIMINATORS)
    check_choice("norm", norm, NORMS)
    if name == "basic":
        if n_layers != 3:
            raise ValueError("`netD`='basic' is the 3-layer 70x70 PatchGAN. "
                             f"Use netD='n_layers' for n_layers={n_layers}.")
    elif not 1 <= n_layers <= 8:
        raise ValueError(f"`n_layers` must be between 1 and 8. Received: n_layers={n_layers}")
    from .patchgan import patchgan_discriminator
    return patchgan_discriminator(in_channels=in_channels, ndf=ndf, n_layers=n_layers, norm=norm,
                                  name=f"discriminator_{name}")
