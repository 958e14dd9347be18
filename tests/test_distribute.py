"""MirroredStrategy on two logical CPUs (set up in conftest) against one device."""

import warnings

import numpy as np
import pytest
import tensorflow as tf
from conftest import feeds_instance_norm, tiny_config

from tfpix2pix.errors import Pix2PixWarning
from tfpix2pix.training.step import Pix2Pix
from tfpix2pix.training.strategy import make_strategy

# Numerics and tolerances: run again with oneDNN the other way (tox.ini).
pytestmark = pytest.mark.onednn


def _same_start(cfg):
    """A single-device model and a 2-replica model with identical weights."""
    single = Pix2Pix(cfg, tf.distribute.get_strategy(), steps_per_epoch=10)
    strategy = make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    mirrored = Pix2Pix(cfg, strategy, steps_per_epoch=10)
    mirrored.generator.set_weights(single.generator.get_weights())
    mirrored.discriminator.set_weights(single.discriminator.get_weights())
    return single, mirrored, strategy


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    a, b = (rng.uniform(-1, 1, (2, 64, 64, 3)).astype("float32") for _ in range(2))
    return tf.constant(a), tf.constant(b)


def _distributed(strategy, a, b):
    return next(iter(strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors((a, b)))))


# Tolerances for comparing 2 replicas with one device (measured on a 2-core AMD EPYC, AVX2):
# - The loss metrics are global means of the same per-example values, summed in another order:
#   float32 rounding gives ~1e-6 relative; TF32 convolutions on NVIDIA GPUs ~1e-3. A wrong
#   reduction (per-replica means summed, a missing division by the global batch) is off by 2x.
METRIC_RTOL = 1e-3
# - Gradients and updates are compared tensor by tensor, norm-wise: ||two - one|| / ||one||.
#   Float32 summation order moved D's gradient by ~6e-7; G's by ~5e-4 (its loss goes through
#   the D that step 1 just updated, and Adam turns D's rounding-level gradients into updates of
#   up to +-lr). The 2-step update of every kernel moved by at most 1.6e-4 over four inits.
#   Applying one replica's gradient instead of the sum, or the gradient of half the batch,
#   moves it by 0.3 to 2, and a gradient scaled by the replica count by 1.0. 1e-2 sits between.
#   Elementwise comparison after Adam steps is not meaningful: where g1 and g2 nearly cancel,
#   Adam's m / sqrt(v) amplifies rounding, and single elements moved by up to 4% of lr.
NORM_RTOL = 1e-2
# - sync_batch's 2-step updates: run alone, every kernel within 1.2e-4 (three inits); with two
#   test processes sharing the 2 cores, once 1.007e-2 (enc5, whose BatchNorm normalises 2x2
#   maps over a global batch of 2, 8 values a channel, summed by the all-reduce in an order
#   that follows the threads). Plain batch norm on 2 replicas, the bug this catches, is at
#   1.3 to 1.4 (its statistics are each replica's own). The step-1 gradients stay at NORM_RTOL.
SYNC_BATCH_UPDATE_RTOL = 5e-2


def _relative(two, one):
    return float(np.linalg.norm(two - one) / np.linalg.norm(one))


def _compared_variables(model):
    """Trainable variables whose gradient is more than rounding noise (see feeds_instance_norm)."""
    return [(i, w) for i, w in enumerate(model.trainable_variables)
            if not feeds_instance_norm(model, w)]


@pytest.mark.parametrize("norm", ["instance", "sync_batch"])
def test_two_replicas_take_the_same_step_as_one_device(norm):
    # No dropout, and a norm whose statistics don't depend on how the batch is split
    # (instance: per image; sync_batch: over the global batch, as one device computes
    # them), so splitting the global batch over replicas must not change the update.
    cfg = tiny_config("unused", "unused", model={"norm": norm, "no_dropout": True},
                      train={"batch_size": 2})
    single, mirrored, strategy = _same_start(cfg)
    pairs = [(single.generator, single.g_optimizer, mirrored.generator, mirrored.g_optimizer),
             (single.discriminator, single.d_optimizer, mirrored.discriminator,
              mirrored.d_optimizer)]
    start = {id(m): [w.numpy() for w in m.trainable_variables] for m, _o, _m2, _o2 in pairs}
    a, b = _batch()
    compared = 0
    for step in range(2):
        one = single.train_step((a, b))
        two = mirrored.train_step(_distributed(strategy, a, b))
        for key in one:
            assert float(two[key]) == pytest.approx(float(one[key]), rel=METRIC_RTOL), key
        if step == 0:
            # After one step Adam's first moment is exactly (1 - beta1) * gradient: this compares
            # the gradients the replicas summed with the single device's.
            for model, opt, _model2, opt2 in pairs:
                for i, w in _compared_variables(model):
                    m1, m2 = opt._momentums[i].numpy(), opt2._momentums[i].numpy()
                    assert _relative(m2, m1) < NORM_RTOL, f"gradient of {w.path}"
                    compared += 1
    assert int(mirrored.step.numpy()) == 2 and int(mirrored.g_optimizer.iterations.numpy()) == 2
    for model, _opt, model2, _opt2 in pairs:
        for i, w in _compared_variables(model):
            if norm == "sync_batch" and len(w.shape) < 2:
                # A short vector (D's first bias has ndf = 8 elements) after two Adam steps:
                # where an element's two gradients nearly cancel, m / sqrt(v) turns rounding
                # into an update of up to lr, so with sync_batch's thread-ordered sums (see
                # SYNC_BATCH_UPDATE_RTOL) one element can put the whole vector past any bound
                # (seen once with two test processes on the CPU). Its gradient was compared
                # at step 1, above.
                continue
            w0 = start[id(model)][i]
            update_one = w.numpy() - w0
            update_two = model2.trainable_variables[i].numpy() - w0
            bound = SYNC_BATCH_UPDATE_RTOL if norm == "sync_batch" else NORM_RTOL
            assert _relative(update_two, update_one) < bound, f"2-step update of {w.path}"
    assert compared >= 20


def test_weights_actually_move_and_replicas_stay_in_sync():
    cfg = tiny_config("unused", "unused", train={"batch_size": 2})  # batch norm, dropout
    with pytest.warns(Pix2PixWarning, match="--norm batch on 2 replicas.*sync_batch"):
        _single, mirrored, strategy = _same_start(cfg)
    before = [w.numpy() for w in mirrored.generator.trainable_weights]
    metrics = mirrored.train_step(_distributed(strategy, *_batch(1)))
    assert all(np.isfinite(float(v)) for v in metrics.values())
    after = mirrored.generator.trainable_weights
    assert any(np.abs(w.numpy() - b).max() > 1e-5 for w, b in zip(after, before))
    for w in after:  # every replica holds the same copy of each weight
        copies = [v.numpy() for v in w.value.values]
        assert len(copies) == 2 and np.array_equal(copies[0], copies[1]), w.path


def _moving_statistics(model):
    """{variable path: [replica 0's copy, replica 1's copy]} of every BatchNorm moving mean."""
    return {v.path: [c.numpy() for c in v.value.values] for v in model.non_trainable_variables
            if v.path.endswith("moving_mean")}


@pytest.mark.parametrize("norm", ["batch", "sync_batch"])
def test_sync_batch_keeps_moving_statistics_identical_on_every_replica(norm):
    # Plain BatchNorm updates each replica's moving averages from that replica's half of the
    # batch, and a checkpoint keeps replica 0's copy (FIELD_NOTES 2.4): the copies drift apart.
    # sync_batch normalises with the statistics of the global batch, so the copies stay equal.
    cfg = tiny_config("unused", "unused", model={"norm": norm}, train={"batch_size": 2})
    strategy = make_strategy("mirrored")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = Pix2Pix(cfg, strategy, steps_per_epoch=10)
    assert any(issubclass(w.category, Pix2PixWarning) for w in caught) == (norm == "batch")
    for seed in range(2):
        model.train_step(_distributed(strategy, *_batch(seed)))
    stats = _moving_statistics(model.generator)
    assert len(stats) >= 6
    assert all(np.abs(one).max() > 1e-4 for one, _two in stats.values())  # they were updated
    differs = [path for path, (one, two) in stats.items() if not np.allclose(one, two, atol=1e-6)]
    if norm == "sync_batch":
        assert differs == []
    else:
        assert len(differs) == len(stats)  # random halves of a batch never agree
