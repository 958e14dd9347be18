"""MirroredStrategy on two logical CPUs (set up in conftest) against one device."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from tfpix2pix.training.step import Pix2Pix, make_strategy


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


def test_two_replicas_take_the_same_step_as_one_device():
    # Instance norm and no dropout: every example's computation is independent of the
    # others, so splitting the global batch over replicas must not change the update.
    cfg = tiny_config("unused", "unused", model={"norm": "instance", "no_dropout": True},
                      train={"batch_size": 2})
    single, mirrored, strategy = _same_start(cfg)
    a, b = _batch()
    for step in range(2):
        one = single.train_step((a, b))
        two = mirrored.train_step(_distributed(strategy, a, b))
        for key in one:
            assert float(two[key]) == pytest.approx(float(one[key]), rel=1e-4, abs=1e-6), key
    assert int(mirrored.step.numpy()) == 2 and int(mirrored.g_optimizer.iterations.numpy()) == 2
    compared = 0
    for model_one, model_two in ((single.generator, mirrored.generator),
                                 (single.discriminator, mirrored.discriminator)):
        for w1, w2 in zip(model_one.trainable_weights, model_two.trainable_weights):
            if _feeds_instance_norm(model_one, w1):
                continue
            np.testing.assert_allclose(w2.numpy(), w1.numpy(), rtol=1e-4, atol=2e-6,
                                       err_msg=w1.path)
            compared += 1
    assert compared >= 20


def _feeds_instance_norm(model, weight):
    """A conv bias right before an instance norm cancels out: its gradient is only
    rounding noise, which Adam scales up to +-lr, so it can't be compared."""
    layer, _, name = weight.path.rpartition("/")
    prefix = layer.rsplit("_", 1)[0]
    return name == "bias" and prefix + "_norm" in {layer.name for layer in model.layers}


def test_weights_actually_move_and_replicas_stay_in_sync():
    cfg = tiny_config("unused", "unused", train={"batch_size": 2})  # batch norm, dropout
    _single, mirrored, strategy = _same_start(cfg)
    before = [w.numpy() for w in mirrored.generator.trainable_weights]
    metrics = mirrored.train_step(_distributed(strategy, *_batch(1)))
    assert all(np.isfinite(float(v)) for v in metrics.values())
    after = mirrored.generator.trainable_weights
    assert any(np.abs(w.numpy() - b).max() > 1e-5 for w, b in zip(after, before))
    for w in after:  # every replica holds the same copy of each weight
        copies = [v.numpy() for v in w.value.values]
        assert len(copies) == 2 and np.array_equal(copies[0], copies[1]), w.path
