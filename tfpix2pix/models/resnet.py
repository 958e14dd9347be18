"""The ResNet generator (Johnson et al. 2016), as the PyTorch reference builds it.

The layout is exactly the reference's ``ResnetGenerator`` (networks.py), so that
its published weights can be mapped onto these layers in order:

- stem: ReflectionPad(3) -> Conv 7x7 (in -> ngf) -> Norm -> ReLU;
- down1, down2: Conv 3x3 stride 2, zero padding 1 (ngf -> 2ngf -> 4ngf) -> Norm -> ReLU;
- block1..N at 4ngf: x + [ReflectionPad(1), Conv 3x3, Norm, ReLU, (Dropout 0.5),
  ReflectionPad(1), Conv 3x3, Norm](x);
- up1, up2: ConvTranspose 3x3 stride 2, padding 1, output_padding 1
  (4ngf -> 2ngf -> ngf) -> Norm -> ReLU;
- head: ReflectionPad(3) -> Conv 7x7 (ngf -> out, always with a bias) -> tanh.

Biases as the reference: convs feeding BatchNorm have none; with instance norm
(non-affine) every conv has one. With ``norm="none"`` every conv has one too
(``layers.conv_bias``); the reference would leave them out there, as it only adds
biases for InstanceNorm.

Spatial alignment is PyTorch's, not Keras's "same":

- a stride-2 3x3 conv with PyTorch's padding 1 pads one pixel on every side; TF's
  "same" pads 0 before and 1 after, which shifts the sampling grid by one pixel.
  So: ZeroPadding2D(1) + "valid" (``layers.padded_conv``);
- PyTorch's ConvTranspose(k=3, s=2, p=1, output_padding=1) keeps rows (and
  columns) [1, 2n + 1) of the full (2n + 1)-long transposed output; TF's "same"
  keeps [0, 2n). So: "valid" (the full output) + Cropping2D of the first row and
  column.

H and W must be multiples of 4 (two stride-2 levels) for the output to have the
input's size.
"""

import keras

from .layers import ReflectionPad2D, apply_norm, conv, conv_bias, conv_transpose, padded_conv


def _norm_relu(x, norm, name):
    x = apply_norm(x, norm, name=f"{name}_norm")
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _reflect_conv(x, filters, kernel_size, use_bias, name):
    """ReflectionPad(k // 2) -> Conv k x k, stride 1, "valid": layers {name}_pad, {name}_conv."""
    x = ReflectionPad2D(kernel_size // 2, name=f"{name}_pad")(x)
    return conv(filters, 1, use_bias, name=f"{name}_conv", padding="valid",
                kernel_size=kernel_size)(x)


def _residual_block(x, norm, use_dropout, name):
    width, bias = x.shape[-1], conv_bias(norm)
    y = _reflect_conv(x, width, 3, bias, name=f"{name}_1")
    y = _norm_relu(y, norm, name=f"{name}_1")
    if use_dropout:
        y = keras.layers.Dropout(0.5, name=f"{name}_dropout")(y)
    y = _reflect_conv(y, width, 3, bias, name=f"{name}_2")
    y = apply_norm(y, norm, name=f"{name}_2_norm")
    return keras.layers.Add(name=f"{name}_add")([x, y])


def resnet_generator(n_blocks=9, in_channels=3, out_channels=3, ngf=64, norm="batch",
                     use_dropout=True, n_downsampling=2, name="generator"):
    """Build the ResNet generator; see ``registry.build_generator`` for the common arguments.

    Args:
        n_blocks: residual blocks at the lowest resolution (6 or 9 in the reference).
        n_downsampling: stride-2 levels; the reference fixes it at 2 (H, W multiples of 4).
    """
    if n_blocks < 0:
        raise ValueError(f"`n_blocks` must be 0 or more. Received: n_blocks={n_blocks}")
    if n_downsampling < 1:
        raise ValueError("`n_downsampling` must be at least 1. "
                         f"Received: n_downsampling={n_downsampling}")
    bias = conv_bias(norm)
    image = keras.Input((None, None, in_channels), name="image")

    x = _reflect_conv(image, ngf, 7, bias, name="stem")
    x = _norm_relu(x, norm, name="stem")
    for i in range(1, n_downsampling + 1):
        x = padded_conv(x, ngf * 2 ** i, 2, bias, name=f"down{i}", kernel_size=3)
        x = _norm_relu(x, norm, name=f"down{i}")

    for b in range(1, n_blocks + 1):
        x = _residual_block(x, norm, use_dropout, name=f"block{b}")

    for i in range(1, n_downsampling + 1):
        x = conv_transpose(ngf * 2 ** (n_downsampling - i), bias, name=f"up{i}_deconv",
                           kernel_size=3, padding="valid")(x)
        x = keras.layers.Cropping2D(((1, 0), (1, 0)), name=f"up{i}_crop")(x)
        x = _norm_relu(x, norm, name=f"up{i}")

    x = _reflect_conv(x, out_channels, 7, True, name="head")
    output = keras.layers.Activation("tanh", dtype="float32", name="output")(x)
    return keras.Model(image, output, name=name)
