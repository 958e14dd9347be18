"""The pix2pix objective, reduced per example.

Every function returns one value per example (shape ``[batch]``): PatchGAN
maps and pixels are averaged inside each example first. The step then divides
the per-example sums by the *global* batch (``tf.nn.compute_average_loss``),
which keeps gradients right under any number of replicas.
"""

import tensorflow as tf


def _per_example_mean(x):
    return tf.reduce_mean(tf.reshape(x, (tf.shape(x)[0], -1)), axis=1)


def gan_bce(logits, is_real):
    """BCE of PatchGAN logits against an all-real (1) or all-fake (0) target."""
    target = tf.ones_like(logits) if is_real else tf.zeros_like(logits)
    return _per_example_mean(tf.nn.sigmoid_cross_entropy_with_logits(target, logits))


def l1(target, output):
    return _per_example_mean(tf.abs(target - output))


def mean_probability(logits):
    """Mean D(x) = sigmoid(logits) per example, for monitoring."""
    return _per_example_mean(tf.sigmoid(logits))
