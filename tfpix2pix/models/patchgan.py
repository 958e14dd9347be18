"""The PatchGAN discriminator: it classifies each patch of an (A, B) pair.

With 3 layers (the paper's 70x70 PatchGAN): C64 (no norm) - C128 - C256 -
C512 (stride 1), then a 4x4 stride-1 conv to one logit per patch. Blocks are
Conv -> Norm -> LeakyReLU(0.2), as in the reference. Every conv pads by 1 on
each side explicitly, as PyTorch's ``padding=1`` does, so output sizes match
the reference for any input size (30x30 logits for 256x256).
"""

import keras

from .layers import apply_norm, conv, conv_bias, leaky_relu


def _padded_conv(x, filters, strides, use_bias, name, dtype=None):
    x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad", dtype=dtype)(x)
    return conv(filters, strides, use_bias, name=f"{name}_conv", padding="valid", dtype=dtype)(x)


def patchgan_discriminator(in_channels=6, ndf=64, n_layers=3, norm="batch", name="discriminator"):
    """Build the PatchGAN; see ``registry.build_discriminator`` for the arguments."""
    bias = conv_bias(norm)
    pair = keras.Input((None, None, in_channels), name="pair")

    x = _padded_conv(pair, ndf, 2, True, name="layer1")
    x = leaky_relu("layer1_lrelu")(x)
    for n in range(1, n_layers + 1):
        layer = f"layer{n + 1}"
        strides = 2 if n < n_layers else 1  # the last feature layer keeps the resolution
        x = _padded_conv(x, ndf * min(2 ** n, 8), strides, bias, name=layer)
        x = apply_norm(x, norm, name=f"{layer}_norm")
        x = leaky_relu(f"{layer}_lrelu")(x)

    # The logits conv computes in float32 under mixed precision (training.precision).
    logits = _padded_conv(x, 1, 1, True, name="logits", dtype="float32")
    logits = keras.layers.Activation("linear", dtype="float32", name="patch_logits")(logits)
    return keras.Model(pair, logits, name=name)
