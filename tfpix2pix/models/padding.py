"""Reflect padding of NHWC images to multiples of a generator's stride.

Training pads images whose size is not a multiple (``--preprocess none`` or
``scale_width``) before G and crops G's output back; predict, ``load()`` and the
export pad the same way. Padding is written with ``tf.gather`` on reflected
indices rather than ``tf.pad``, so it has no size limit (``REFLECT`` needs a pad
smaller than the image) and no control flow that TFLite or ONNX converters would
have to handle. It equals ``numpy.pad(mode="reflect")``.
"""

import tensorflow as tf


def _reflected(size, length):
    """Indices 0..length-1 folded into 0..size-1 by reflection about the edges."""
    period = tf.maximum(2 * (size - 1), 1)
    i = tf.range(length) % period
    return tf.where(i < size, i, period - i)


def pad_to_multiple(x, stride):
    """Reflect-pad NHWC ``x`` at the bottom and right to multiples of ``stride``."""
    h, w = tf.shape(x)[1], tf.shape(x)[2]
    x = tf.gather(x, _reflected(h, -(-h // stride) * stride), axis=1)
    return tf.gather(x, _reflected(w, -(-w // stride) * stride), axis=2)
