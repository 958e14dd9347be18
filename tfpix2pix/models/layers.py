"""Building blocks shared by the generator and the discriminator.

The paper initialises every conv weight from N(0, 0.02) and norm scales from
N(1, 0.02). Biases follow the PyTorch reference so that its published weights
can be loaded: a conv that feeds a BatchNorm has no bias (the norm's beta
plays that role); with instance norm (no affine parameters) or no norm, every
conv has a bias.
"""

import keras


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
    return norm not in ("batch", "sync_batch")


def conv(filters, strides, use_bias, name, padding="same", dtype=None):
    return keras.layers.Conv2D(filters, 4, strides=strides, padding=padding, use_bias=use_bias,
                               kernel_initializer=conv_init(), name=name, dtype=dtype)


def conv_transpose(filters, use_bias, name):
    # 4x4, stride 2, "same": the same geometry as PyTorch's ConvTranspose2d(k=4, s=2, p=1).
    return keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=use_bias,
                                        kernel_initializer=conv_init(), name=name)


def normalization(norm, name):
    """A norm layer, or None for ``norm="none"``.

    ``batch`` uses PyTorch's defaults (momentum 0.1, i.e. Keras 0.9; eps 1e-5).
    ``sync_batch`` is the same layer with its batch statistics computed over all
    replicas of a distribution strategy (plain ``batch`` uses each replica's own).
    ``instance`` normalises each channel of each image, without affine
    parameters, as the reference's ``InstanceNorm2d`` does.
    """
    if norm in ("batch", "sync_batch"):
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
