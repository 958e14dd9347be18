"""Learning-rate policies by name (``names.LR_POLICIES``), per epoch.

Each schedule takes the step (the run's own step counter) and changes the rate
once per epoch, the 0-based epoch ``e = step // steps_per_epoch``, as the
PyTorch reference steps its schedulers once per epoch. Being a function of the
checkpointed step, the rate resumes exactly. With ``T = n_epochs +
n_epochs_decay`` epochs in the run:

- ``linear`` (``LinearDecay``): the reference's "linear" policy,
  ``lr * (1 - max(0, e + 1 - n_epochs) / (n_epochs_decay + 1))``: constant for
  ``n_epochs``, then linear decay over ``n_epochs_decay``. ``n_epochs_decay=0``
  is the paper's constant rate.
- ``step`` (``StepDecay``): the reference's StepLR(step_size=lr_decay_iters,
  gamma=0.1), ``lr * 0.1 ** (e // lr_decay_iters)``; ``lr_decay_iters`` counts
  epochs, since the reference steps StepLR once per epoch.
- ``cosine`` (``CosineDecay``): ``lr * (1 + cos(pi * min(e, T) / T)) / 2``, from
  ``lr`` in the first epoch towards 0 at the end of the run. The reference's
  CosineAnnealingLR(T_max=n_epochs) reaches 0 after ``n_epochs`` and rises again
  during the decay epochs; this one anneals over the whole run.
- ``constant`` (``Constant``): ``lr`` throughout.

``make_schedule`` builds one by name. All are registered for Keras
serialization, and ``get_config`` returns their constructor's arguments.
"""

import math

import keras
import tensorflow as tf

from ..names import LR_POLICIES

__all__ = ["LR_POLICIES", "SCHEDULES", "LinearDecay", "StepDecay", "CosineDecay",
           "Constant", "make_schedule"]


def _at_least_one(what, value):
    if int(value) < 1:
        raise ValueError(f"`{what}` must be at least 1. Received: {what}={value!r}")
    return int(value)


class _EpochSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A rate that changes once per epoch; ``_config`` names its constructor's arguments."""

    _config = ("initial_lr", "steps_per_epoch")

    def __init__(self, initial_lr, steps_per_epoch):
        self.initial_lr = float(initial_lr)
        self.steps_per_epoch = int(steps_per_epoch)

    def epoch(self, step):
        """The 0-based epoch (int64) that ``step`` falls in."""
        return tf.math.floordiv(tf.cast(step, tf.int64), self.steps_per_epoch)

    def get_config(self):
        return {name: getattr(self, name) for name in self._config}


class _RunSchedule(_EpochSchedule):
    """A per-epoch rate shaped by the run's ``n_epochs`` and ``n_epochs_decay``."""

    _config = ("initial_lr", "steps_per_epoch", "n_epochs", "n_epochs_decay")

    def __init__(self, initial_lr, steps_per_epoch, n_epochs, n_epochs_decay):
        super().__init__(initial_lr, steps_per_epoch)
        self.n_epochs = int(n_epochs)
        self.n_epochs_decay = int(n_epochs_decay)


@keras.saving.register_keras_serializable(package="tfpix2pix")
class LinearDecay(_RunSchedule):
    """``linear``: constant for ``n_epochs``, then linear decay over ``n_epochs_decay``."""

    def __call__(self, step):
        past = tf.maximum(tf.cast(0, tf.int64), self.epoch(step) + 1 - self.n_epochs)
        factor = 1.0 - tf.cast(past, tf.float32) / float(self.n_epochs_decay + 1)
        return self.initial_lr * tf.maximum(factor, 0.0)


@keras.saving.register_keras_serializable(package="tfpix2pix")
class StepDecay(_EpochSchedule):
    """``step``: x0.1 every ``lr_decay_iters`` epochs."""

    _config = ("initial_lr", "steps_per_epoch", "lr_decay_iters")
    GAMMA = 0.1  # the reference's StepLR gamma

    def __init__(self, initial_lr, steps_per_epoch, lr_decay_iters=50):
        super().__init__(initial_lr, steps_per_epoch)
        self.lr_decay_iters = _at_least_one("lr_decay_iters", lr_decay_iters)

    def __call__(self, step):
        drops = tf.math.floordiv(self.epoch(step), self.lr_decay_iters)
        return self.initial_lr * tf.pow(self.GAMMA, tf.cast(drops, tf.float32))


@keras.saving.register_keras_serializable(package="tfpix2pix")
class CosineDecay(_RunSchedule):
    """``cosine``: half a cosine from ``lr`` to 0 over all ``n_epochs + n_epochs_decay``."""

    def __call__(self, step):
        total = max(self.n_epochs + self.n_epochs_decay, 1)
        progress = tf.minimum(tf.cast(self.epoch(step), tf.float32) / float(total), 1.0)
        return self.initial_lr * 0.5 * (1.0 + tf.cos(math.pi * progress))


@keras.saving.register_keras_serializable(package="tfpix2pix")
class Constant(keras.optimizers.schedules.LearningRateSchedule):
    """``constant``: ``lr`` at every step."""

    _config = ("initial_lr",)

    def __init__(self, initial_lr):
        self.initial_lr = float(initial_lr)

    def __call__(self, step):
        return tf.constant(self.initial_lr, tf.float32)

    def get_config(self):
        return {"initial_lr": self.initial_lr}


# ``--lr-policy`` name -> its schedule; each takes the arguments its ``_config`` names.
SCHEDULES = {"linear": LinearDecay, "step": StepDecay, "cosine": CosineDecay,
             "constant": Constant}


def make_schedule(policy, lr, steps_per_epoch, n_epochs, n_epochs_decay, lr_decay_iters=50):
    """The learning-rate schedule for ``--lr-policy`` (one of ``LR_POLICIES``).

    Args:
        policy: ``linear``, ``step``, ``cosine`` or ``constant``.
        lr: the initial rate.
        steps_per_epoch: steps in one epoch (at least 1).
        n_epochs, n_epochs_decay: the run's epochs at the initial rate and of
            decay (``linear``); ``cosine`` anneals over their sum.
        lr_decay_iters: epochs between the x0.1 drops of ``step``.
    """
    schedule = SCHEDULES[LR_POLICIES.check(policy)]
    run = {"initial_lr": lr, "steps_per_epoch": _at_least_one("steps_per_epoch", steps_per_epoch),
           "n_epochs": n_epochs, "n_epochs_decay": n_epochs_decay,
           "lr_decay_iters": lr_decay_iters}
    return schedule(**{name: run[name] for name in schedule._config})
