"""Building blocks shared by the generator and the discriminator.

The paper initialises every conv weight from N(0, 0.02) and norm scales from
N(1, 0.02). Biases follow the PyTorch reference so that its published weights
can be loaded: a conv that feeds a BatchNorm has no bias (the norm's beta
plays that role); with instance norm (no affine parameters) or no norm, every
conv has a bias.
"""

import keras

from .registry import BATCH_NORMS


@keras.saving.register_keras_serializable(package="tfpix2pix")
class LeakyReLU(keras.layers.LeakyReLU):
    """Keras's LeakyReLU, computed as max(x, slope * x) (the same function for 0 < slope < 1).

    TF 2.21's grappler remapper fails on the fused LeakyRelu op when the
    gradient needs the pre-activation (the D forward inside the G step); it
    logs "remapper failed" and then skips all of its fusions for the step.
    """

    def call(self, inputs):
        return keras.ops.maximum(inputs, inputs * self.negative_slope)


def leaky_relu(name):
    return LeakyReLU(negative_slope=0.2, name=name)


def conv_init():
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def conv_bias(norm):
    """Whether a conv in a network normalised with ``norm`` carries a bias."""
    return norm not in BATCH_NORMS


def conv(filters, strides, use_bias, name, padding="same", dtype=None, kernel_size=4):
    return keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                               use_bias=use_bias, kernel_initializer=conv_init(), name=name,
                               dtype=dtype)


def padded_conv(x, filters, strides, use_bias, name, kernel_size=4, dtype=None):
    """PyTorch's ``Conv2d(padding=1)``: zero-pad 1 on every side, then a "valid" conv.

    Keras's "same" is not that for stride 2: TensorFlow pads 0 before and 1 after
    there, which shifts every output by one input pixel. Layers ``{name}_pad`` and
    ``{name}_conv``.
    """
    x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad", dtype=dtype)(x)
    return conv(filters, strides, use_bias, name=f"{name}_conv", padding="valid", dtype=dtype,
                kernel_size=kernel_size)(x)


def conv_transpose(filters, use_bias, name, kernel_size=4, padding="same"):
    # The default, 4x4 stride 2 "same", has the geometry of PyTorch's ConvTranspose2d(k=4,
    # s=2, p=1). Other PyTorch paddings need "valid" and a crop (see ``resnet``).
    return keras.layers.Conv2DTranspose(filters, kernel_size, strides=2, padding=padding,
                                        use_bias=use_bias, kernel_initializer=conv_init(),
                                        name=name)


@keras.saving.register_keras_serializable(package="tfpix2pix")
class ReflectionPad2D(keras.layers.Layer):
    """PyTorch's ``ReflectionPad2d(padding)`` on NHWC maps: mirror ``padding`` rows and
    columns on each side, without repeating the edge (numpy's and TF's "reflect").

    Each spatial side must be longer than ``padding``.
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, inputs):
        p = self.padding
        return keras.ops.pad(inputs, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


def normalization(norm, name):
    """A norm layer, or None for ``norm="none"``.

    ``batch`` uses PyTorch's defaults (momentum 0.1, i.e. Keras 0.9; eps 1e-5).
    ``sync_batch`` is the same layer with its batch statistics computed over all
    replicas of a distribution strategy (plain ``batch`` uses each replica's own).
    ``instance`` normalises each channel of each image, without affine
    parameters, as the reference's ``InstanceNorm2d`` does.
    """
    if norm in BATCH_NORMS:
        return keras.layers.BatchNormalization(
            momentum=0.9, epsilon=1e-5, synchronized=norm == "sync_batch",
            gamma_initializer=keras.initializers.RandomNormal(mean=1.0, stddev=0.02), name=name)
    if norm == "instance":
        return keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, center=False, scale=False,
                                               name=name)
    if norm == "none":
        return None
    raise ValueError("`norm` must be one of batch, sync_batch, instance, none. "
                     f"Received: norm={norm!r}")


def apply_norm(x, norm, name):
    layer = normalization(norm, name)
    return x if layer is None else layer(x)
