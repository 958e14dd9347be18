"""The generator at inference, in one of three test modes, without side effects.

- ``eval``: BatchNorm uses its moving statistics; no dropout.
- ``per_image``: every BatchNorm normalises each image by that image's own mean and
  variance (per channel), then applies BN's learned scale and offset; no dropout. At
  batch 1 this is what the paper's test-time BatchNorm in training mode computes, made
  independent of the other images in a batch.
- ``paper``: ``per_image`` plus dropout at rate 0.5, as the paper tested (random by design).

The inference model is built from the trained generator's own layers (``clone_model``
with shared layers), so it reads the trained variables directly and writes none: no
moving statistic and no RNG state changes when it runs. Dropout in ``paper`` mode draws
from TensorFlow's stateful random ops, which keep no variable.

These models are views of a trained generator, rebuilt from it on demand; they are not
saved on their own (the generator is), so their layers have no ``from_config``.
"""

import keras
import tensorflow as tf

from .registry import TEST_MODES, check_choice


class InferenceBatchNorm(keras.layers.Layer):
    """A trained BatchNormalization at inference: moving or per-image statistics.

    Its ``call`` takes no ``training`` argument on purpose: a functional model passes
    its caller's ``training`` on to every layer that accepts one, and a BatchNorm
    called with training=True would update its moving statistics.
    """

    def __init__(self, batch_norm, per_image, **kwargs):
        super().__init__(**kwargs)
        self.batch_norm, self.per_image = batch_norm, per_image

    def call(self, x):
        bn = self.batch_norm
        if not self.per_image:
            return bn(x, training=False)
        mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)  # per image, per channel
        return tf.nn.batch_normalization(x, mean, variance, bn.beta if bn.center else None,
                                         bn.gamma if bn.scale else None, bn.epsilon)


class PaperDropout(keras.layers.Layer):
    """Dropout that is always on, from stateful random ops (no variable is updated)."""

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, x):
        return tf.nn.dropout(x, rate=self.rate)


class PhaseDeconv(keras.layers.Layer):
    """A trained 4x4, stride-2, 'same' Conv2DTranspose computed as four 2x2 convolutions.

    Output pixel (2i + a, 2j + b) only sees input rows {i-1, i} (a = 0) or {i, i+1}
    (a = 1), through kernel rows (3, 1) or (2, 0), and likewise for columns. So each of
    the four phases (a, b) is a 2x2 VALID convolution of the input padded by one pixel,
    and ``depth_to_space`` interleaves them: the same sums in another order (~1e-6).
    It pays off when the weights are constants (a frozen graph) and large, on small
    feature maps: timed alone under oneDNN, unet_256's 1024->512 layers at 2x2, 4x4 and
    8x8 inputs took 32, 52 and 40 ms as transposed convolutions and 7, 11 and 22 ms as
    phases; from 16x16 on the transposed form was as fast or faster
    (see ``inference.translator.float_function``).
    """

    TAPS = ((3, 1), (2, 0))  # kernel rows (or columns) used by phase 0 and phase 1

    def __init__(self, deconv, **kwargs):
        super().__init__(**kwargs)
        self.deconv = deconv

    def call(self, x):
        d = self.deconv
        kernel = tf.transpose(d.kernel, [0, 1, 3, 2])  # (kh, kw, out, in) -> (kh, kw, in, out)
        h, w = tf.shape(x)[1], tf.shape(x)[2]
        padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
        phases = []
        for a in (0, 1):
            rows = tf.gather(kernel, self.TAPS[a], axis=0)
            for b in (0, 1):
                k = tf.gather(rows, self.TAPS[b], axis=1)
                window = padded[:, a:a + h + 1, b:b + w + 1]
                phases.append(tf.nn.conv2d(window, k, 1, "VALID"))
        y = tf.nn.depth_to_space(tf.concat(phases, axis=-1), 2)
        if d.use_bias:
            y = tf.nn.bias_add(y, d.bias)
        return d.activation(y) if d.activation is not None else y


def _phase_deconv_pays(layer):
    """The decoder's weight-heavy transposed convolutions (in x out >= 1024 x 512)."""
    return (isinstance(layer, keras.layers.Conv2DTranspose)
            and tuple(layer.kernel_size) == (4, 4) and tuple(layer.strides) == (2, 2)
            and layer.padding == "same" and layer.data_format == "channels_last"
            and layer.kernel.shape[2] * layer.kernel.shape[3] >= 2 ** 19)


def inference_model(generator, test_mode="eval", phase_deconv=False):
    """A functional model computing ``generator`` in ``test_mode``, whatever ``training`` says.

    It shares the generator's layers and variables, so weights restored into the
    generator later are used too. ``phase_deconv`` computes the largest transposed
    convolutions as ``PhaseDeconv``: for graphs whose weights are frozen into constants.
    """
    check_choice("test_mode", test_mode, TEST_MODES)

    def call(layer, *args, **kwargs):
        if phase_deconv and _phase_deconv_pays(layer):
            return PhaseDeconv(layer, name=f"{layer.name}_phases")(args[0])
        if isinstance(layer, keras.layers.BatchNormalization):
            per_image = test_mode != "eval"
            return InferenceBatchNorm(layer, per_image,
                                      name=f"{layer.name}_{'per_image' if per_image else 'eval'}"
                                      )(args[0])
        if isinstance(layer, keras.layers.Dropout):
            if test_mode == "paper":
                return PaperDropout(layer.rate, name=f"{layer.name}_always")(args[0])
            return args[0]
        return layer(*args, **kwargs)

    return keras.models.clone_model(generator, clone_function=lambda layer: layer,
                                    call_function=call)
