"""Learning rate: constant for ``n_epochs``, then linear decay over ``n_epochs_decay``.

This is the PyTorch reference's "linear" policy: in 0-based epoch ``e`` the
rate is ``lr * (1 - max(0, e + 1 - n_epochs) / (n_epochs_decay + 1))``. It is
a function of the optimizer's iteration count, so it resumes with the
checkpointed optimizer. ``n_epochs_decay=0`` is the paper's constant rate.
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfpix2pix")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, initial_lr, steps_per_epoch, n_epochs, n_epochs_decay):
        self.initial_lr = float(initial_lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.n_epochs = int(n_epochs)
        self.n_epochs_decay = int(n_epochs_decay)

    def __call__(self, step):
        epoch = tf.math.floordiv(tf.cast(step, tf.int64), self.steps_per_epoch)
        past = tf.maximum(tf.cast(0, tf.int64), epoch + 1 - self.n_epochs)
        factor = 1.0 - tf.cast(past, tf.float32) / float(self.n_epochs_decay + 1)
        return self.initial_lr * tf.maximum(factor, 0.0)

    def get_config(self):
        return {"initial_lr": self.initial_lr, "steps_per_epoch": self.steps_per_epoch,
                "n_epochs": self.n_epochs, "n_epochs_decay": self.n_epochs_decay}
