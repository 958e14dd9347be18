"""PatchGAN discriminators: they classify each patch of an (A, B) pair.

``n_layers`` PatchGAN (3 layers is the paper's 70x70 ``basic``): C64 (no norm) -
C128 - C256 - C512 (stride 1), then a 4x4 stride-1 conv to one logit per patch.
Filters double per layer up to 8 * ndf. Blocks are Conv -> Norm -> LeakyReLU(0.2),
as in the reference. Every conv pads by 1 on each side explicitly, as PyTorch's
``padding=1`` does, so output sizes match the reference for any input size (30x30
logits for 256x256). Receptive fields by depth: 1: 16, 2: 34, 3: 70, 4: 142, 5: 286.

``pixel`` (the reference's PixelDiscriminator, a 1x1 PatchGAN): 1x1 convs C64 (bias,
no norm) - C128 - 1 logit per pixel. Biases follow the reference exactly: the
second conv and the logits conv both carry one only when the norm is not
BatchNorm. So with BatchNorm the logits conv has no bias, unlike the n_layers
PatchGAN's, whose logits conv always has one.

A block's features (what pix2pixHD's feature matching compares) are the outputs of
its ``*_lrelu`` layers; ``multiscale.discriminator_features`` collects them.
"""

import keras

from .layers import apply_norm, conv, conv_bias, leaky_relu, padded_conv

MAX_LAYERS = 8


def check_n_layers(n_layers):
    if not 1 <= n_layers <= MAX_LAYERS:
        raise ValueError(f"`n_layers` must be between 1 and {MAX_LAYERS}. "
                         f"Received: n_layers={n_layers}")


def patchgan_logits(x, ndf=64, n_layers=3, norm="batch", prefix=""):
    """The PatchGAN's layers applied to ``x``; layer names start with ``prefix``.

    Returns the float32 logit map (layer ``{prefix}patch_logits``).
    """
    check_n_layers(n_layers)
    bias = conv_bias(norm)
    x = padded_conv(x, ndf, 2, True, name=f"{prefix}layer1")
    x = leaky_relu(f"{prefix}layer1_lrelu")(x)
    for n in range(1, n_layers + 1):
        layer = f"{prefix}layer{n + 1}"
        strides = 2 if n < n_layers else 1  # the last feature layer keeps the resolution
        x = padded_conv(x, ndf * min(2 ** n, 8), strides, bias, name=layer)
        x = apply_norm(x, norm, name=f"{layer}_norm")
        x = leaky_relu(f"{layer}_lrelu")(x)

    # The logits conv computes in float32 under mixed precision (training.precision).
    logits = padded_conv(x, 1, 1, True, name=f"{prefix}logits", dtype="float32")
    return keras.layers.Activation("linear", dtype="float32", name=f"{prefix}patch_logits")(logits)


def pair_input(in_channels):
    return keras.Input((None, None, in_channels), name="pair")


def patchgan_discriminator(in_channels=6, ndf=64, n_layers=3, norm="batch", name="discriminator"):
    """Build the n_layers PatchGAN; see ``registry.build_discriminator`` for the arguments."""
    pair = pair_input(in_channels)
    return keras.Model(pair, patchgan_logits(pair, ndf, n_layers, norm), name=name)


def pixel_discriminator(in_channels=6, ndf=64, norm="batch", name="discriminator"):
    """Build the 1x1 PixelGAN; see ``registry.build_discriminator`` for the arguments.

    Output: one logit per input pixel, (N, H, W, 1).
    """
    bias = conv_bias(norm)
    pair = pair_input(in_channels)
    x = conv(ndf, 1, True, name="layer1_conv", kernel_size=1)(pair)
    x = leaky_relu("layer1_lrelu")(x)
    x = conv(ndf * 2, 1, bias, name="layer2_conv", kernel_size=1)(x)
    x = apply_norm(x, norm, name="layer2_norm")
    x = leaky_relu("layer2_lrelu")(x)
    logits = conv(1, 1, bias, name="logits_conv", kernel_size=1, dtype="float32")(x)
    logits = keras.layers.Activation("linear", dtype="float32", name="patch_logits")(logits)
    return keras.Model(pair, logits, name=name)
