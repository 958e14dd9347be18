"""Learning-rate policies by name (``training.schedule``), checked at hand-computed steps.

Every case has 10 steps per epoch, so step s is in epoch s // 10.
"""

import math

import keras
import pytest
import tensorflow as tf

from tfpix2pix.training import schedule
from tfpix2pix.names import LR_POLICIES

LR = 2e-4
SHAPE = dict(lr=LR, steps_per_epoch=10, n_epochs=2, n_epochs_decay=2, lr_decay_iters=2)

# (policy, [(step, rate / LR)]), the run being 2 + 2 epochs:
# linear: 1 - max(0, e + 1 - 2) / (2 + 1): epochs 0, 1 -> 1; 2 -> 2/3; 3 -> 1/3; 4 -> 0 (and
#         it stays 0 after the run).
# step:   0.1 ** (e // 2): epochs 0, 1 -> 1; 2, 3 -> 0.1; 4 -> 0.01.
# cosine: (1 + cos(pi * e / 4)) / 2: 1, (1 + sqrt(2)/2) / 2, 1/2, (1 - sqrt(2)/2) / 2, 0,
#         and 0 after the run (it does not rise again).
# constant: 1 everywhere.
HALF_SQRT2 = math.sqrt(2) / 2
CASES = [
    ("linear", [(0, 1), (19, 1), (20, 2 / 3), (35, 1 / 3), (40, 0), (95, 0)]),
    ("step", [(0, 1), (19, 1), (20, 0.1), (39, 0.1), (40, 0.01), (61, 0.001)]),
    ("cosine", [(0, 1), (9, 1), (10, (1 + HALF_SQRT2) / 2), (25, 0.5), (39, (1 - HALF_SQRT2) / 2),
                (40, 0), (75, 0)]),
    ("constant", [(0, 1), (35, 1), (10 ** 6, 1)]),
]


def test_every_policy_has_a_case_and_a_schedule():
    assert [policy for policy, _ in CASES] == list(LR_POLICIES) == list(schedule.SCHEDULES)


@pytest.mark.parametrize("policy, expected", CASES)
def test_rate_at_chosen_steps(policy, expected):
    rate = schedule.make_schedule(policy, **SHAPE)
    assert isinstance(rate, keras.optimizers.schedules.LearningRateSchedule)
    for step, factor in expected:
        for given in (step, tf.constant(step, tf.int64), tf.Variable(step, dtype=tf.int64)):
            value = rate(given)
            assert value.dtype == tf.float32
            want = pytest.approx(LR * factor, rel=1e-6, abs=LR * 1e-6)
            assert float(value) == want, (step, given)


def test_linear_is_the_existing_linear_decay():
    rate = schedule.make_schedule("linear", **SHAPE)
    assert type(rate) is schedule.LinearDecay
    old = schedule.LinearDecay(LR, steps_per_epoch=10, n_epochs=2, n_epochs_decay=2)
    assert rate.get_config() == old.get_config() == {
        "initial_lr": LR, "steps_per_epoch": 10, "n_epochs": 2, "n_epochs_decay": 2}
    # n_epochs_decay=0 is the paper's constant rate.
    paper = schedule.LinearDecay(LR, steps_per_epoch=10, n_epochs=200, n_epochs_decay=0)
    assert float(paper(1999)) == pytest.approx(LR, rel=1e-7)


def test_step_counts_epochs_in_lr_decay_iters():
    rate = schedule.make_schedule("step", LR, steps_per_epoch=4, n_epochs=100, n_epochs_decay=100)
    # The reference's default lr_decay_iters: 50 epochs, here 200 steps.
    assert float(rate(199)) == pytest.approx(LR, rel=1e-6)
    assert float(rate(200)) == pytest.approx(LR * 0.1, rel=1e-6)


@pytest.mark.parametrize("policy", LR_POLICIES)
def test_get_config_round_trip(policy):
    rate = schedule.make_schedule(policy, **SHAPE)
    again = type(rate).from_config(rate.get_config())
    assert again.get_config() == rate.get_config()
    # Registered: Keras serialization finds the class by name.
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(rate))
    assert type(restored) is type(rate) and restored.get_config() == rate.get_config()
    for step in (0, 25, 45):
        assert float(restored(step)) == float(rate(step))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="`lr_policy` must be one of linear, step, cosine, "
                                         "constant. Received: lr_policy='plateau'"):
        schedule.make_schedule("plateau", **SHAPE)
    with pytest.raises(ValueError, match="`lr_decay_iters` must be at least 1"):
        schedule.make_schedule("step", **{**SHAPE, "lr_decay_iters": 0})
    with pytest.raises(ValueError, match="`steps_per_epoch` must be at least 1"):
        schedule.make_schedule("constant", **{**SHAPE, "steps_per_epoch": 0})


def test_rate_as_an_adam_learning_rate():
    rate = schedule.make_schedule("cosine", **SHAPE)
    step = tf.Variable(25, dtype=tf.int64)
    adam = keras.optimizers.Adam(lambda: rate(step))
    assert float(adam.learning_rate) == pytest.approx(LR * 0.5, rel=1e-6)
