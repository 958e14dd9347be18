"""The pix2pix U-Net generator, as the paper (with its errata) specifies it.

For depth 8 (``unet_256``) the encoder is C64-C128-C256-C512-C512-C512-C512-C512
and the decoder CD512-CD1024-CD1024-C1024-C1024-C512-C256-C128, where the
decoder widths count the concatenated skip connection.

Blocks are pre-activation, as in the original Torch code and the PyTorch
reference (the ordering changes the function, and loading the reference's
weights depends on it):

- encoder level 1: Conv;
- encoder level i > 1: LeakyReLU(0.2) -> Conv -> Norm, with no norm on the
  innermost (1x1) level (errata: BatchNorm on a 1x1 map at batch 1 zeroes it);
- the skip from a level carries its normalised, not yet activated output;
- decoder block: ReLU -> ConvTranspose -> Norm (-> Dropout 0.5 on the first
  three), applied to concat(skip, upsampled);
- output: ReLU -> ConvTranspose (with bias) -> tanh.

``skips=False`` is the paper's encoder-decoder ablation (``encoder_decoder_256``):
the same encoder and the same decoder filter counts, with the skip connections
severed, so each decoder block takes only the previous block's output (its
deconvs have half the input channels of the U-Net's, except the innermost).
"""

import keras

from .layers import apply_norm, conv, conv_bias, conv_transpose, leaky_relu

DROPOUT_BLOCKS = 3  # the paper's CD512-CD1024-CD1024


def unet_generator(num_downs=8, in_channels=3, out_channels=3, ngf=64, norm="batch",
                   use_dropout=True, skips=True, name="generator"):
    """Build the U-Net; see ``registry.build_generator`` for the common arguments.

    Args:
        num_downs: stride-2 levels; the innermost map is (H, W) / 2**num_downs.
        skips: concatenate each encoder level's output into the decoder (U-Net);
            False gives the encoder-decoder, with no ``Concatenate`` layer.
    """
    if num_downs < 2:
        raise ValueError(f"`num_downs` must be at least 2. Received: num_downs={num_downs}")
    bias = conv_bias(norm)

    def width(level):  # filters of encoder level ``level`` (1-based)
        return ngf * min(2 ** (level - 1), 8)

    image = keras.Input((None, None, in_channels), name="image")

    # Encoder: encoded[i - 1] is level i's output.
    x = conv(width(1), 2, bias, name="enc1_conv")(image)
    encoded = [x]
    for level in range(2, num_downs + 1):
        x = leaky_relu(f"enc{level}_lrelu")(x)
        x = conv(width(level), 2, bias, name=f"enc{level}_conv")(x)
        if level < num_downs:
            x = apply_norm(x, norm, name=f"enc{level}_norm")
        encoded.append(x)

    # Decoder: block ``level`` upsamples to the resolution of encoder level - 1.
    for i, level in enumerate(range(num_downs, 1, -1)):
        if skips and level < num_downs:
            x = keras.layers.Concatenate(name=f"dec{level}_concat")([encoded[level - 1], x])
        x = keras.layers.ReLU(name=f"dec{level}_relu")(x)
        x = conv_transpose(width(level - 1), bias, name=f"dec{level}_deconv")(x)
        x = apply_norm(x, norm, name=f"dec{level}_norm")
        if use_dropout and i < DROPOUT_BLOCKS:
            x = keras.layers.Dropout(0.5, name=f"dec{level}_dropout")(x)

    if skips:
        x = keras.layers.Concatenate(name="dec1_concat")([encoded[0], x])
    x = keras.layers.ReLU(name="dec1_relu")(x)
    x = conv_transpose(out_channels, True, name="dec1_deconv")(x)
    output = keras.layers.Activation("tanh", dtype="float32", name="output")(x)
    return keras.Model(image, output, name=name)
