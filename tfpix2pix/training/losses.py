"""The pix2pix objective, reduced per example.

Every function returns one value per example (shape ``[batch]``): PatchGAN
maps and pixels are averaged inside each example first. The step then divides
the per-example sums by the *global* batch (``tf.nn.compute_average_loss``),
which keeps gradients right under any number of replicas.

The GAN objectives are chosen by name (``names.GAN_MODES``). With ``x`` a logit
of D, each term is a per-example mean over D's patch map:

=========  ======================  ==============  ==========================
mode       D term on real          D term on fake  G term
=========  ======================  ==============  ==========================
vanilla    BCE(x, 1)               BCE(x, 0)       BCE(x, 1) (non-saturating)
lsgan      (x - 1)^2               x^2             (x - 1)^2
hinge      relu(1 - x)             relu(1 + x)     -x
wgangp     -x                      x               -x
=========  ======================  ==============  ==========================

``wgangp`` adds the gradient penalty (``gradient_penalty``) to D's loss; the
PyTorch reference's ``wgangp`` mode never does. Logits may be one tensor or a
list of tensors, one logit map per scale of a multi-scale D, of any sizes: a
term is then the sum over the scales of the per-example means, as pix2pixHD sums
its scales. They are computed in float32 whatever dtype D computes in. The
weights are the step's:

    d_loss = d_loss_scale * (d_real + d_fake + lambda_gp * gradient_penalty)
    g_loss = g_gan + lambda_l1 * l1 + lambda_feat * feature_matching

(the penalty only in ``wgangp``, feature matching only with a D that returns
its features; the paper's D loss is ``d_loss_scale`` 0.5).
"""

import tensorflow as tf

from ..names import GAN_MODES

# Under the square root of the gradient penalty's norm: the norm of a zero
# gradient is then 1e-8, not 0, and its derivative stays finite. The reference
# adds 1e-16 to every gradient element instead; both are far below float32's
# resolution of any gradient that matters.
GP_EPSILON = 1e-16
# Keeps the penalty's alphas apart from other draws hashed from the same (seed, step).
_ALPHA_STREAM = 0x6770


def _per_example_mean(x):
    return tf.reduce_mean(tf.reshape(x, (tf.shape(x)[0], -1)), axis=1)


def _bce(logits, is_real):
    target = tf.ones_like(logits) if is_real else tf.zeros_like(logits)
    return tf.nn.sigmoid_cross_entropy_with_logits(target, logits)


def l1(target, output):
    return _per_example_mean(tf.abs(target - output))


# The elementwise terms on a float32 logit map x (``_summed`` averages and sums them).
# Named functions, not lambdas: AutoGraph cannot tell apart lambdas on one line.
def _bce_real(x):
    return _bce(x, True)


def _bce_fake(x):
    return _bce(x, False)


def _square_from_one(x):
    return tf.square(x - 1.0)


def _hinge_real(x):
    return tf.nn.relu(1.0 - x)


def _hinge_fake(x):
    return tf.nn.relu(1.0 + x)


# mode -> (D's term on real logits, D's term on fake logits, G's term on fake logits)
_TERMS = {
    "vanilla": (_bce_real, _bce_fake, _bce_real),
    "lsgan": (_square_from_one, tf.square, _square_from_one),
    "hinge": (_hinge_real, _hinge_fake, tf.negative),
    "wgangp": (tf.negative, tf.identity, tf.negative),
}


def _as_list(outputs):
    """One tensor or a list of tensors (one per scale) -> a list of float32 tensors."""
    maps = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [tf.cast(x, tf.float32) for x in maps]


def _summed(term, logits):
    """The per-example mean of ``term`` over each logit map, summed over the maps."""
    return tf.add_n([_per_example_mean(term(x)) for x in _as_list(logits)])


def _terms(mode):
    return _TERMS[GAN_MODES.check(mode)]


def d_terms(mode, real_logits, fake_logits):
    """D's two terms, ``(on real, on fake)``, each of shape ``[batch]``.

    The D loss is ``d_loss_scale * (real + fake)`` (plus the gradient penalty in
    ``wgangp``); the scale is the step's.
    """
    real, fake, _ = _terms(mode)
    return _summed(real, real_logits), _summed(fake, fake_logits)


def g_term(mode, fake_logits):
    """G's adversarial term on D's logits for G's output, shape ``[batch]``."""
    return _summed(_terms(mode)[2], fake_logits)


def mean_d_output(mode, logits):
    """Mean D output per example, shape ``[batch]``, for monitoring (``D_x``, ``D_G_z``).

    D's probability ``sigmoid(x)`` in ``vanilla``; the raw logit ``x`` in the
    other modes, whose D is not a classifier. With several scales, the mean over
    them.
    """
    GAN_MODES.check(mode)
    scales = len(logits) if isinstance(logits, (list, tuple)) else 1
    return _summed(tf.sigmoid if mode == "vanilla" else tf.identity, logits) / float(scales)


def _mix32(h):
    """murmur3's 32-bit finalizer: a bijection of uint32 that spreads every input bit."""
    for shift, factor in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, tf.constant(shift, tf.uint32)))
        h = h * tf.constant(factor, tf.uint32)
    return tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, tf.constant(16, tf.uint32)))


def interpolation_alpha(seed, step, global_batch, replica_offset=0, per_replica=None):
    """The gradient penalty's interpolation weights, shape ``[per_replica]``, in [0, 1).

    Example ``i`` of the *global* batch gets a uniform alpha that is a function of
    ``(seed, step, i)`` alone; this returns those of examples ``replica_offset``
    to ``replica_offset + per_replica - 1`` (by default, to the end of the batch).
    So one replica and N replicas give every example the same alpha, and a resumed
    run draws what the uninterrupted one would have. Under a strategy:
    ``per_replica = tf.shape(x)[0]``, ``replica_offset =
    replica_id_in_sync_group * per_replica``.

    The draw is a counter-based hash in integer arithmetic (murmur3's finalizer),
    not ``tf.random``: TF's stateless random ops give other numbers under XLA than
    without it (Philox included), and the step is compiled whole on one device
    but in pieces on several. Integer ops agree everywhere. The top 24 bits of
    the hash make the float32 alpha exactly.
    """
    if per_replica is None:
        per_replica = global_batch - replica_offset
    step = tf.cast(step, tf.int64)
    h = tf.constant(_ALPHA_STREAM, tf.uint32)
    for word in (tf.cast(tf.cast(seed, tf.int64), tf.uint32), tf.cast(step, tf.uint32),
                 tf.cast(tf.bitwise.right_shift(step, tf.constant(32, tf.int64)), tf.uint32)):
        h = _mix32(tf.bitwise.bitwise_xor(h, word))
    index = tf.cast(tf.range(replica_offset, replica_offset + per_replica), tf.uint32)
    bits = tf.bitwise.right_shift(_mix32(tf.bitwise.bitwise_xor(h, index)),
                                  tf.constant(8, tf.uint32))
    return tf.cast(bits, tf.float32) * (1.0 / (1 << 24))


def gradient_penalty(critic, real_input, fake_input, alpha):
    """WGAN-GP's penalty ``(||grad_x critic(x)||_2 - 1)^2``, shape ``[batch]``.

    ``x = alpha * real + (1 - alpha) * fake`` per example (``alpha`` of shape
    ``[batch]``, from ``interpolation_alpha``); both inputs are held constant,
    so the penalty trains the critic only. ``critic(x)`` returns logits, one
    tensor or a list (one per scale); the gradient is that of the sum of all of
    them (every patch of every scale) with respect to the whole input ``x``, and
    its norm is over all of an example's elements, ``sqrt(sum g^2 + GP_EPSILON)``.
    Call it inside the D step's tape: the inner tape is recorded by the outer
    one, so the penalty is differentiable with respect to the critic's weights.
    ``lambda_gp`` (10 in WGAN-GP) is the step's. A D with batch norm mixes the
    examples of a batch, and then the gradient is not the example's own.
    """
    real = tf.stop_gradient(tf.cast(real_input, tf.float32))
    fake = tf.stop_gradient(tf.cast(fake_input, tf.float32))
    a = tf.reshape(tf.cast(alpha, tf.float32), [-1] + [1] * (real.shape.rank - 1))
    x = a * real + (1.0 - a) * fake
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.add_n([tf.reduce_sum(logits) for logits in _as_list(critic(x))])
    grad = tape.gradient(total, x)
    norm = tf.sqrt(tf.reduce_sum(tf.reshape(tf.square(grad), (tf.shape(grad)[0], -1)), axis=1)
                   + GP_EPSILON)
    return tf.square(norm - 1.0)


def _feature_scales(features):
    """A list of feature maps (one scale) or a list of such lists -> a list of lists."""
    if not features:
        raise ValueError("feature_matching needs at least one feature map. Received: []")
    return [list(f) for f in features] if isinstance(features[0], (list, tuple)) else [features]


def feature_matching(real_features, fake_features):
    """pix2pixHD's discriminator feature-matching loss, shape ``[batch]``.

    The features are D's intermediate outputs, *without* its logits: a list over
    scales of lists of feature maps (or one list, for a single scale), the same
    structure for the real pair and the fake one. The loss is

        sum over scales i and features j of  w_i * v_i * mean|fake_ij - real_ij|

    per example, with the real features held constant, ``w_i = 1 / (number of
    scales)`` and ``v_i = 4 / (number of features of scale i)``. That is
    pix2pixHD's ``D_weights = 1 / num_D`` and ``feat_weights = 4 / (n_layers_D +
    1)``, its D having ``n_layers_D + 1`` feature maps before the logits at every
    scale. ``lambda_feat`` (10 in pix2pixHD) is the step's. 0 when real == fake.
    """
    real_scales, fake_scales = _feature_scales(real_features), _feature_scales(fake_features)
    if [len(s) for s in real_scales] != [len(s) for s in fake_scales]:
        raise ValueError("feature_matching: the real and fake features differ in structure. "
                         f"Received: {[len(s) for s in real_scales]} and "
                         f"{[len(s) for s in fake_scales]} features per scale")
    total = []
    for real, fake in zip(real_scales, fake_scales):
        weight = (1.0 / len(fake_scales)) * (4.0 / len(fake))
        for r, f in zip(_as_list(real), _as_list(fake)):
            total.append(weight * _per_example_mean(tf.abs(f - tf.stop_gradient(r))))
    return tf.add_n(total)
