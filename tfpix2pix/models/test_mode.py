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


def inference_model(generator, test_mode="eval"):
    """A functional model computing ``generator`` in ``test_mode``, whatever ``training`` says.

    It shares the generator's layers and variables, so weights restored into the
    generator later are used too.
    """
    check_choice("test_mode", test_mode, TEST_MODES)

    def call(layer, *args, **kwargs):
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
