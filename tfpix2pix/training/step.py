"""The pix2pix training step under a ``tf.distribute`` strategy.

One step is the paper's alternating update (and the PyTorch reference's):

1. G translates A once: ``fake = G(A)``.
2. D step on ``[BCE(D(A, B), 1) + BCE(D(A, fake), 0)] / 2``, with ``fake``
   held constant, and D's update applied.
3. G step on ``BCE(D(A, fake), 1) + lambda * |B - fake|_1``, with a *fresh*
   forward pass of the just-updated D.

Losses are per-example means divided by the global batch, so gradients summed
across replicas equal single-device gradients on the whole batch.
"""

import keras
import tensorflow as tf

from ..models import build_discriminator, build_generator, generator_kwargs
from ..models.test_mode import inference_model
from . import losses
from .schedule import LinearDecay


def make_strategy(kind="auto"):
    """``auto``: MirroredStrategy over the GPUs if there are several, else the default.
    ``mirrored``: MirroredStrategy over all GPUs, or all logical CPUs if there are none.
    ``default``: the default (single-device) strategy."""
    gpus = tf.config.list_logical_devices("GPU")
    if kind == "mirrored" or (kind == "auto" and len(gpus) > 1):
        if gpus:
            return tf.distribute.MirroredStrategy([d.name for d in gpus])
        # Replicas on (logical) CPUs: reduce by copying to one device. The default
        # collective all-reduce clashes with an earlier strategy's collective keys
        # in the same process ("Shape mismatch in the collective instance").
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(
            cpus, cross_device_ops=tf.distribute.ReductionToOneDevice(cpus[0]))
    return tf.distribute.get_strategy()


class Pix2Pix:
    """G, D, their optimizers and the compiled step, built inside ``strategy.scope()``."""

    def __init__(self, cfg, strategy, steps_per_epoch):
        self.strategy = strategy
        self.global_batch = cfg.train.batch_size
        self.lambda_l1 = cfg.train.lambda_l1
        m, t = cfg.model, cfg.train
        with strategy.scope():
            self.generator = build_generator(**generator_kwargs(m))
            # The grids show G as predict and the export will: in the run's test mode.
            self.inference = inference_model(self.generator, cfg.infer.test_mode)
            self.discriminator = build_discriminator(m.netD, in_channels=6, ndf=m.ndf,
                                                     n_layers=m.n_layers_D, norm=m.norm)
            self.lr_schedule = LinearDecay(t.lr, steps_per_epoch, t.n_epochs, t.n_epochs_decay)
            # epsilon 1e-8 as in torch.optim.Adam, which the reference trains with.
            self.g_optimizer = keras.optimizers.Adam(self.lr_schedule, beta_1=t.beta1,
                                                     beta_2=t.beta2, epsilon=1e-8, name="adam_G")
            self.d_optimizer = keras.optimizers.Adam(self.lr_schedule, beta_1=t.beta1,
                                                     beta_2=t.beta2, epsilon=1e-8, name="adam_D")
            # Create the slots now: created during the first traced step under
            # MirroredStrategy they fail (Keras issue #23085).
            self.g_optimizer.build(self.generator.trainable_variables)
            self.d_optimizer.build(self.discriminator.trainable_variables)
        # Our own step counter: the source of truth for logging and stopping.
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")

    def checkpoint(self):
        """Everything a resumed run needs to continue exactly where this one stopped.

        Keras layers don't expose their ``SeedGenerator`` state (dropout's RNG) to
        ``tf.train.Checkpoint``, so it is tracked here; without it a resumed run
        draws different dropout masks.
        """
        rng_state = [v for model in (self.generator, self.discriminator)
                     for v in model.non_trainable_variables if "seed_generator" in v.path]
        return tf.train.Checkpoint(generator=self.generator, discriminator=self.discriminator,
                                   g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer,
                                   step=self.step, rng_state=rng_state)

    def _replica_step(self, real_a, real_b):
        G, D = self.generator, self.discriminator

        def average(per_example):
            return tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch)

        with tf.GradientTape() as g_tape:
            fake_b = G(real_a, training=True)

            with g_tape.stop_recording(), tf.GradientTape() as d_tape:
                real_logits = D(tf.concat([real_a, real_b], -1), training=True)
                fake_logits = D(tf.concat([real_a, tf.stop_gradient(fake_b)], -1), training=True)
                d_real = losses.gan_bce(real_logits, is_real=True)
                d_fake = losses.gan_bce(fake_logits, is_real=False)
                d_loss = average(0.5 * (d_real + d_fake))
            d_grads = d_tape.gradient(d_loss, D.trainable_variables)
            self.d_optimizer.apply_gradients(zip(d_grads, D.trainable_variables))

            g_logits = D(tf.concat([real_a, fake_b], -1), training=True)  # the updated D
            g_gan = losses.gan_bce(g_logits, is_real=True)
            g_l1 = losses.l1(real_b, fake_b)
            g_loss = average(g_gan + self.lambda_l1 * g_l1)
        g_grads = g_tape.gradient(g_loss, G.trainable_variables)
        self.g_optimizer.apply_gradients(zip(g_grads, G.trainable_variables))

        per_example = {"G_GAN": g_gan, "G_L1": g_l1, "D_real": d_real, "D_fake": d_fake,
                       "D_x": losses.mean_probability(real_logits),
                       "D_G_z": losses.mean_probability(fake_logits)}
        return {k: average(v) for k, v in per_example.items()}

    @tf.function
    def train_step(self, batch):
        """Run one step on a distributed (A, B) batch; return global-mean metrics."""
        real_a, real_b = batch
        per_replica = self.strategy.run(self._replica_step, args=(real_a, real_b))
        self.step.assign_add(1)
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                for k, v in per_replica.items()}

    @tf.function
    def translate(self, real_a):
        """G(A) in the run's test mode (``models.test_mode``), changing no variable."""
        return self.inference(real_a, training=False)
