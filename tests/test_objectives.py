"""The GAN objectives by name (``names.GAN_MODES``), computed in ``training.losses``.

Expected values are worked out by hand in the comments, from logit maps that
are constant per example unless said otherwise.
"""

import math
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfpix2pix.training import losses
from tfpix2pix.names import GAN_MODES, GRADIENT_PENALTY_MODES, LR_POLICIES, Registry

# Numerics and tolerances: run again with oneDNN the other way (tox.ini).
pytestmark = pytest.mark.onednn

LN3 = math.log(3.0)  # sigmoid(ln 3) = 3 / (3 + 1) = 0.75


def logit_maps(values, size=2, dtype=tf.float32):
    """A [batch, size, size, 1] map whose example i is values[i] everywhere."""
    v = np.asarray(values, "float32").reshape(-1, 1, 1, 1)
    return tf.constant(np.broadcast_to(v, (len(values), size, size, 1)), dtype)


def check(tensor, expected, rel=1e-5):
    assert tensor.shape == (len(expected),) and tensor.dtype == tf.float32
    np.testing.assert_allclose(tensor.numpy(), expected, rtol=rel, atol=1e-6)


def test_names_are_importable_without_tensorflow():
    code = ("import sys, tfpix2pix.names as n; "
            "assert 'tensorflow' not in sys.modules, 'names imported tensorflow'; "
            "print(n.GAN_MODES, n.LR_POLICIES)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert set(GRADIENT_PENALTY_MODES) <= set(GAN_MODES)
    assert LR_POLICIES.names == ("linear", "step", "cosine", "constant")


def test_a_registry_checks_names_and_describes_them_for_help():
    registry = Registry("colour", {"red": "the warm one", "blue": ""})
    assert registry.names == ("red", "blue") and "red" in registry and len(registry) == 2
    assert registry.describe() == "red (the warm one); blue"
    assert registry.check("blue") == "blue"
    with pytest.raises(ValueError, match=r"`colour` must be one of red, blue\. "
                                         r"Received: colour='green'"):
        registry.check("green")
    assert registry.subset("blue") == ("blue",)
    with pytest.raises(ValueError, match="colour='green'"):
        registry.subset("red", "green")


# (mode, real logits per example, fake logits per example, D real, D fake, G on fake):
# vanilla: BCE(x, 1) = -ln sigmoid(x): x = 0 -> ln 2; x = ln 3 -> -ln 0.75 = ln(4/3).
#          BCE(x, 0) = -ln(1 - sigmoid(x)): x = 0 -> ln 2; x = ln 3 -> -ln 0.25 = ln 4.
# lsgan:   (0.5 - 1)^2 = 0.25, (2 - 1)^2 = 1; fake 0.5^2 = 0.25, (-1)^2 = 1;
#          G (0.5 - 1)^2 = 0.25, (-1 - 1)^2 = 4.
# hinge:   relu(1 - 0.3) = 0.7, relu(1 - 2) = 0; relu(1 + 0.5) = 1.5, relu(1 - 2) = 0; G -x.
# wgangp:  -x on real, x on fake, G -x.
CASES = [
    ("vanilla", [0.0, LN3], [0.0, LN3], [math.log(2), math.log(4 / 3)],
     [math.log(2), math.log(4)], [math.log(2), math.log(4 / 3)]),
    ("lsgan", [0.5, 2.0], [0.5, -1.0], [0.25, 1.0], [0.25, 1.0], [0.25, 4.0]),
    ("hinge", [0.3, 2.0], [0.5, -2.0], [0.7, 0.0], [1.5, 0.0], [-0.5, 2.0]),
    ("wgangp", [0.3, -1.0], [0.5, -2.0], [-0.3, 1.0], [0.5, -2.0], [-0.5, 2.0]),
]


def test_every_mode_has_a_case():
    assert [case[0] for case in CASES] == list(GAN_MODES)


@pytest.mark.parametrize("mode, real, fake, d_real, d_fake, g", CASES)
def test_terms_on_one_logit_map(mode, real, fake, d_real, d_fake, g):
    real_term, fake_term = losses.d_terms(mode, logit_maps(real), logit_maps(fake))
    check(real_term, d_real)
    check(fake_term, d_fake)
    check(losses.g_term(mode, logit_maps(fake)), g)


@pytest.mark.parametrize("mode, real, fake, d_real, d_fake, g", CASES)
def test_terms_sum_over_scales(mode, real, fake, d_real, d_fake, g):
    # Scale 1 is 4x4 with the case's logits, scale 2 is 2x2 with logit 0 everywhere,
    # whose terms are: vanilla ln 2 (both D terms and G); lsgan 1 on real and G, 0 on
    # fake; hinge 1 and 1, G 0; wgangp 0.
    at_zero = {"vanilla": (math.log(2),) * 3, "lsgan": (1, 0, 1), "hinge": (1, 1, 0),
               "wgangp": (0, 0, 0)}[mode]
    zeros = logit_maps([0.0, 0.0], size=2)
    real_term, fake_term = losses.d_terms(mode, [logit_maps(real, 4), zeros],
                                          (logit_maps(fake, 4), zeros))
    check(real_term, np.add(d_real, at_zero[0]))
    check(fake_term, np.add(d_fake, at_zero[1]))
    check(losses.g_term(mode, [logit_maps(fake, 4), zeros]), np.add(g, at_zero[2]))


def test_terms_average_each_example_map():
    # lsgan on real, one example with patches 0.5, 0.5, 1.5, 1.0:
    # ((-0.5)^2 + (-0.5)^2 + 0.5^2 + 0^2) / 4 = 0.75 / 4 = 0.1875.
    logits = tf.constant([0.5, 0.5, 1.5, 1.0], shape=(1, 2, 2, 1))
    check(losses.d_terms("lsgan", logits, logits)[0], [0.1875])
    # hinge on fake: relu(1 + x) = 1.5, 1.5, 2.5, 2.0 -> 7.5 / 4 = 1.875.
    check(losses.d_terms("hinge", logits, logits)[1], [1.875])


@pytest.mark.parametrize("dtype", [tf.bfloat16, tf.float16])
def test_terms_are_float32_for_mixed_precision_logits(dtype):
    real_term, fake_term = losses.d_terms("lsgan", logit_maps([0.5], dtype=dtype),
                                          logit_maps([0.5], dtype=dtype))
    check(real_term, [0.25])
    check(losses.g_term("vanilla", logit_maps([0.0], dtype=dtype)), [math.log(2)])


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="`gan_mode` must be one of vanilla, lsgan, hinge, "
                                         "wgangp. Received: gan_mode='wgan'"):
        losses.d_terms("wgan", logit_maps([0.0]), logit_maps([0.0]))
    with pytest.raises(ValueError, match="Received: gan_mode='LSGAN'"):
        losses.g_term("LSGAN", logit_maps([0.0]))


def test_mean_d_output():
    # vanilla: sigmoid(0) = 0.5, sigmoid(ln 3) = 0.75; two scales: (0.5 + 0.75) / 2.
    check(losses.mean_d_output("vanilla", logit_maps([0.0, LN3])), [0.5, 0.75])
    two = [logit_maps([0.0], 4), logit_maps([LN3], 2)]
    check(losses.mean_d_output("vanilla", two), [0.625])
    # Other modes: the raw logits, (2 + (-1)) / 2 over two scales.
    check(losses.mean_d_output("hinge", logit_maps([0.3, -2.0])), [0.3, -2.0])
    check(losses.mean_d_output("wgangp", [logit_maps([2.0], 4), logit_maps([-1.0], 2)]), [0.5])


# --- gradient penalty -----------------------------------------------------------------------

W = (0.1, 0.2, 0.2)  # sum of squares 0.09


def linear_critic(w, two_scales=False):
    """critic(x)[n, h, w, 0] = sum_c w_c x[n, h, w, c]: a 1x1 convolution to one logit.

    The sum of its outputs over a 2x2 image is sum_{h,w,c} w_c x[h, w, c], so its
    gradient with respect to x is w_c at every pixel, whatever x (and alpha) is.
    The second scale is the same critic on the 2x2 average: its one logit is
    sum_c w_c * (sum_{h,w} x[h, w, c]) / 4, whose gradient is w_c / 4 at every pixel.
    """
    def critic(x):
        logits = tf.reduce_sum(x * w, axis=-1, keepdims=True)
        if two_scales:
            return [logits, tf.reduce_sum(tf.reduce_mean(x, (1, 2), keepdims=True) * w, -1,
                                          keepdims=True)]
        return logits
    return critic


def images(batch, seed, size=2, channels=3):
    return tf.random.stateless_uniform((batch, size, size, channels), (seed, 0), -1, 1)


def test_gradient_penalty_of_a_linear_critic():
    w = tf.Variable(W)
    real, fake, alpha = images(2, 1), images(2, 2), tf.constant([0.25, 0.9])
    # The flattened gradient is w repeated at 4 pixels: ||g||^2 = 4 * 0.09 = 0.36, so
    # ||g|| = 0.6 and the penalty (0.6 - 1)^2 = 0.16 for every example.
    with tf.GradientTape() as tape:
        penalty = losses.gradient_penalty(linear_critic(w), real, fake, alpha)
    check(penalty, [0.16, 0.16])
    # d/dw_c (sqrt(4 * sum w^2) - 1)^2 = 2 (0.6 - 1) * 4 w_c / 0.6 = -16/3 w_c per example;
    # the gradient of the sum over the batch of 2 is twice that.
    np.testing.assert_allclose(tape.gradient(penalty, w), -32 / 3 * np.array(W), rtol=1e-5)
    # Two scales: the gradient is w + w / 4 = 1.25 w at every pixel, ||g|| = 1.25 * 0.6
    # = 0.75, penalty (0.75 - 1)^2 = 0.0625.
    check(losses.gradient_penalty(linear_critic(w, two_scales=True), real, fake, alpha),
          [0.0625, 0.0625])


def tiny_conv_critic(two_scales=False):
    x = keras.Input((8, 8, 3))
    h = keras.layers.LeakyReLU(0.2)(keras.layers.Conv2D(4, 3, strides=2, padding="same")(x))
    logits = keras.layers.Conv2D(1, 3, padding="same")(h)
    if two_scales:
        logits = [logits, keras.layers.Conv2D(1, 4)(h)]
    return keras.Model(x, logits)


def dense_gradients(grads, variables):
    """Gradients as arrays, zeros for None (Keras variables refuse UnconnectedGradients.ZERO)."""
    return [np.zeros(v.shape) if g is None else g.numpy() for g, v in zip(grads, variables)]


@pytest.mark.parametrize("two_scales", [False, True])
def test_gradient_penalty_of_a_conv_critic(two_scales):
    keras.utils.set_random_seed(0)
    critic = tiny_conv_critic(two_scales)
    real, fake = images(3, 3, size=8), images(3, 4, size=8)
    alpha = losses.interpolation_alpha(seed=0, step=5, global_batch=3)
    with tf.GradientTape() as tape:
        penalty = losses.gradient_penalty(critic, real, fake, alpha)
        loss = tf.reduce_sum(penalty)
    assert penalty.shape == (3,) and np.all(penalty.numpy() > 1e-4)
    # The output convs' biases do not change grad_x, so they get no gradient (None);
    # every kernel does, through the inner tape.
    grads = dense_gradients(tape.gradient(loss, critic.trainable_variables),
                            critic.trainable_variables)
    assert all(np.all(np.isfinite(g)) for g in grads)
    for v, g in zip(critic.trainable_variables, grads):
        assert ("kernel" not in v.path) or np.abs(g).max() > 1e-6, v.path
    # Per example: an example's penalty does not depend on the others in the batch.
    alone = losses.gradient_penalty(critic, real[1:2], fake[1:2], alpha[1:2])
    np.testing.assert_allclose(alone, penalty[1:2], rtol=1e-5)


@pytest.mark.parametrize("jit", [False, True])
def test_gradient_penalty_inside_tf_function(jit):
    keras.utils.set_random_seed(0)
    critic = tiny_conv_critic()
    real, fake = images(2, 5, size=8), images(2, 6, size=8)

    def penalty_and_grads(step):
        alpha = losses.interpolation_alpha(7, step, global_batch=2)
        with tf.GradientTape() as tape:
            penalty = losses.gradient_penalty(critic, real, fake, alpha)
        return penalty, tape.gradient(penalty, critic.trainable_variables)

    eager = penalty_and_grads(tf.constant(3, tf.int64))
    traced = tf.function(penalty_and_grads, jit_compile=jit)(tf.constant(3, tf.int64))
    np.testing.assert_allclose(traced[0], eager[0], rtol=1e-4, atol=1e-6)
    variables = critic.trainable_variables
    for a, b in zip(dense_gradients(traced[1], variables), dense_gradients(eager[1], variables)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_interpolation_alpha_is_the_same_on_any_number_of_replicas():
    step = tf.constant(11, tf.int64)
    whole = losses.interpolation_alpha(3, step, global_batch=4)
    halves = [losses.interpolation_alpha(3, step, 4, replica_offset=r * 2, per_replica=2)
              for r in range(2)]
    assert whole.shape == (4,) and whole.dtype == tf.float32
    np.testing.assert_array_equal(tf.concat(halves, 0), whole)
    np.testing.assert_array_equal(losses.interpolation_alpha(3, 11, 4), whole)  # deterministic
    assert np.all((whole.numpy() >= 0) & (whole.numpy() < 1))
    assert len(set(whole.numpy().tolist())) == 4  # one alpha per example
    for other in (losses.interpolation_alpha(3, 12, 4), losses.interpolation_alpha(4, 11, 4)):
        assert not np.any(np.isclose(other, whole))  # another step, another seed


def test_interpolation_alpha_is_uniform():
    alphas = losses.interpolation_alpha(0, 123, global_batch=10000).numpy()
    counts, _ = np.histogram(alphas, bins=10, range=(0, 1))
    # 1000 expected per bin; the binomial standard deviation is 30.
    assert np.all(np.abs(counts - 1000) < 150), counts
    assert abs(alphas.mean() - 0.5) < 0.01


def test_interpolation_alpha_under_xla_matches():
    draw = tf.function(lambda step: losses.interpolation_alpha(3, step, 4, 2, 2), jit_compile=True)
    np.testing.assert_array_equal(draw(tf.constant(11, tf.int64)),
                                  losses.interpolation_alpha(3, 11, 4)[2:])


# --- feature matching -----------------------------------------------------------------------

def test_feature_matching_is_zero_for_equal_features():
    feats = [[images(2, 1, size=4), images(2, 2, size=2)], [images(2, 3, size=2)]]
    check(losses.feature_matching(feats, feats), [0.0, 0.0])
    check(losses.feature_matching(feats[0], feats[0]), [0.0, 0.0])  # one scale, unnested


def test_feature_matching_hand_value():
    # Two scales of two features each: scale weight 1/2, feature weight 4/2 = 2, so every
    # feature's mean |fake - real| counts once.
    # Example 0: scale 1: |diff| all 1 (mean 1) and (0.5, 1.5) (mean 1); scale 2: equal
    # (0) and 2 (mean 2). Sum 1 + 1 + 0 + 2 = 4. Example 1: all equal, 0.
    real = [[tf.zeros((2, 2, 2, 1)), tf.zeros((2, 1, 1, 2))],
            [tf.zeros((2, 2, 2, 3)), tf.zeros((2, 1, 1, 1))]]
    fake = [[tf.constant([1.0, 0.0])[:, None, None, None] * tf.ones((2, 2, 2, 1)),
             tf.constant([[[[0.5, -1.5]]], [[[0.0, 0.0]]]])],
            [tf.zeros((2, 2, 2, 3)), tf.constant([-2.0, 0.0])[:, None, None, None]]]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(real + fake)
        loss = losses.feature_matching(real, fake)
    check(loss, [4.0, 0.0])
    # The real features are constants: only the fake side gets a gradient.
    assert tape.gradient(loss, real[0][0]) is None
    assert tape.gradient(loss, fake[0][0]) is not None
    # One scale of three features: weight 4/3; |diff| means 1, 0, 0.5 -> 4/3 * 1.5 = 2.
    one = [tf.ones((1, 2, 2, 1)), tf.zeros((1, 2, 2, 1)), tf.fill((1, 1, 1, 4), 0.5)]
    check(losses.feature_matching([tf.zeros_like(f) for f in one], one), [2.0])


def test_feature_matching_refuses_mismatched_features():
    a, b = tf.zeros((1, 2, 2, 1)), tf.ones((1, 2, 2, 1))
    with pytest.raises(ValueError, match="differ in structure"):
        losses.feature_matching([[a, a]], [[b]])
