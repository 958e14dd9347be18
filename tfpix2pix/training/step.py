"""The pix2pix training step under a ``tf.distribute`` strategy.

One step is the paper's alternating update (and the PyTorch reference's):

1. G translates A once: ``fake = G(A)``.
2. D step on ``[BCE(D(A, B), 1) + BCE(D(A, fake), 0)] / 2``, with ``fake``
   held constant, and D's update applied.
3. G step on ``BCE(D(A, fake), 1) + lambda * |B - fake|_1``, with a *fresh*
   forward pass of the just-updated D.

Losses are per-example means divided by the global batch, so gradients summed
across replicas equal single-device gradients on the whole batch.

Speed options (``train.precision``, ``train.jit``, ``train.steps_per_call``):

- mixed precision (``precision.py``); with float16 each optimizer is wrapped
  in a ``LossScaleOptimizer``, which skips the updates of steps whose scaled
  gradients overflow. ``step`` below stays the count of steps taken;
- XLA: on one device the whole step is compiled. Under a multi-replica
  strategy only forward passes and gradients are (G's forward, D's loss and
  gradients, G's loss); the updates run outside XLA, which cannot apply
  gradients to distributed variables;
- ``train_steps`` runs several steps in one call, reading the distributed
  iterator inside the function.
"""

import json
import os
import warnings

import keras
import tensorflow as tf

from ..errors import Pix2PixWarning, UserError
from ..models import build_discriminator, build_generator, generator_kwargs
from ..models.test_mode import inference_model
from . import losses, precision
from .schedule import LinearDecay

METRICS = ("G_GAN", "G_L1", "D_real", "D_fake", "D_x", "D_G_z")


def cluster_size(tf_config=None):
    """How many tasks (chief and workers) TF_CONFIG names; 0 without TF_CONFIG."""
    raw = os.environ.get("TF_CONFIG", "") if tf_config is None else tf_config
    if not raw.strip():
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except (ValueError, AttributeError):
        raise UserError("TF_CONFIG is not valid JSON; set it to {\"cluster\": {\"worker\": "
                        "[\"host:port\", ...]}, \"task\": {\"type\": \"worker\", \"index\": i}}"
                        ) from None
    return sum(len(cluster.get(kind, ())) for kind in ("chief", "worker"))


def make_strategy(kind="auto"):
    """The ``tf.distribute`` strategy for ``--strategy``.

    ``auto``: MultiWorkerMirroredStrategy if TF_CONFIG names several tasks, else
    MirroredStrategy over the GPUs if there are several, else the default.
    ``mirrored``: MirroredStrategy over all GPUs, or all logical CPUs if there are none.
    ``multiworker``: MultiWorkerMirroredStrategy over the cluster in TF_CONFIG (or this
    machine alone without it). ``default``: the default (single-device) strategy.

    MultiWorkerMirroredStrategy must be created before TensorFlow runs its first op.
    """
    if kind == "multiworker" or (kind == "auto" and cluster_size() > 1):
        return tf.distribute.MultiWorkerMirroredStrategy()
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


def resolve_jit(setting):
    """``--jit auto|on|off`` -> bool: auto is on with a GPU, off on CPUs (slower there)."""
    if setting == "auto":
        return bool(tf.config.list_logical_devices("GPU"))
    return setting == "on"


class Pix2Pix:
    """G, D, their optimizers and the compiled step, built inside ``strategy.scope()``."""

    def __init__(self, cfg, strategy, steps_per_epoch):
        self.strategy = strategy
        self.global_batch = cfg.train.batch_size
        self.lambda_l1 = cfg.train.lambda_l1
        m, t = cfg.model, cfg.train
        self.precision = precision.resolve(t.precision)
        self.jit = resolve_jit(t.jit)
        replicas = strategy.num_replicas_in_sync
        if m.norm == "batch" and replicas > 1:
            warnings.warn(f"--norm batch on {replicas} replicas: each replica normalises with "
                          "its own batch statistics and keeps its own moving averages; use "
                          "--norm sync_batch to share them", Pix2PixWarning, stacklevel=2)
        # Our own step counter: the source of truth for logging, stopping and the learning
        # rate (a float16 loss scaler skips updates, so the optimizers' counts can lag).
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        with strategy.scope():
            with precision.policy(self.precision):
                self.generator = build_generator(**generator_kwargs(m))
                self.discriminator = build_discriminator(m.netD, in_channels=6, ndf=m.ndf,
                                                         n_layers=m.n_layers_D, norm=m.norm)
            # The grids show G as predict and the export will: in the run's test mode.
            self.inference = inference_model(self.generator, cfg.infer.test_mode)
            self.lr_schedule = LinearDecay(t.lr, steps_per_epoch, t.n_epochs, t.n_epochs_decay)

            def learning_rate():
                return self.lr_schedule(self.step)

            # epsilon 1e-8 as in torch.optim.Adam, which the reference trains with.
            self.g_adam, self.d_adam = (
                keras.optimizers.Adam(learning_rate, beta_1=t.beta1, beta_2=t.beta2,
                                      epsilon=1e-8, name=f"adam_{net}") for net in "GD")
            self.g_optimizer, self.d_optimizer = self.g_adam, self.d_adam
            if self.precision == "mixed_fp16":
                self.g_optimizer, self.d_optimizer = (
                    keras.optimizers.LossScaleOptimizer(opt, name=f"loss_scale_{net}")
                    for opt, net in ((self.g_adam, "G"), (self.d_adam, "D")))
            # Create the slots now: created during the first traced step under
            # MirroredStrategy they fail (Keras issue #23085).
            self.g_optimizer.build(self.generator.trainable_variables)
            self.d_optimizer.build(self.discriminator.trainable_variables)

        pieces = self.jit and replicas > 1
        compiled = (lambda fn: tf.function(fn, jit_compile=True)) if pieces else (lambda fn: fn)
        self._g_forward = compiled(self._g_forward)
        self._d_gradients = compiled(self._d_gradients)
        self._g_loss = compiled(self._g_loss)
        self._one_step = tf.function(self._one_step, jit_compile=self.jit and not pieces)

    def checkpoint(self, loss_scale=None):
        """Everything a resumed run needs to continue exactly where this one stopped.

        Keras layers don't expose their ``SeedGenerator`` state (dropout's RNG) to
        ``tf.train.Checkpoint``, so it is tracked here; without it a resumed run
        draws different dropout masks. The optimizers are the Adams themselves at
        every precision; float16's loss scales are saved beside them, so a checkpoint
        written at one precision restores at another (``loss_scale=False`` leaves
        them out, for reading a checkpoint that has none).
        """
        rng_state = [v for model in (self.generator, self.discriminator)
                     for v in model.non_trainable_variables if "seed_generator" in v.path]
        objects = dict(generator=self.generator, discriminator=self.discriminator,
                       g_optimizer=self.g_adam, d_optimizer=self.d_adam, step=self.step,
                       rng_state=rng_state)
        if self.precision == "mixed_fp16" and loss_scale is not False:
            objects["loss_scale"] = [v for opt in (self.g_optimizer, self.d_optimizer)
                                     for v in (opt.dynamic_scale, opt.step_counter)]
        return tf.train.Checkpoint(**objects)

    def restore(self, path):
        """Restore a checkpoint written by ``checkpoint()`` at any precision."""
        saved = {name.split("/")[0] for name, _shape in tf.train.list_variables(path)}
        status = self.checkpoint(loss_scale="loss_scale" in saved).restore(path)
        # Every object of ours is in the checkpoint; a float16 run's loss scales may be
        # in it and not in ours (expect_partial keeps them from being reported as lost).
        status.assert_existing_objects_matched().expect_partial()

    # The three parts of a replica's step that XLA may compile under a multi-replica
    # strategy: forward passes and gradients, no variable updates.

    def _g_forward(self, real_a):
        return self.generator(real_a, training=True)

    def _d_gradients(self, real_a, real_b, fake_b):
        D = self.discriminator
        with tf.GradientTape() as tape:
            real_logits = D(tf.concat([real_a, real_b], -1), training=True)
            fake_logits = D(tf.concat([real_a, fake_b], -1), training=True)
            d_real = losses.gan_bce(real_logits, is_real=True)
            d_fake = losses.gan_bce(fake_logits, is_real=False)
            d_loss = self._scaled(self.d_optimizer, self._average(0.5 * (d_real + d_fake)))
        grads = tape.gradient(d_loss, D.trainable_variables)
        return grads, {"D_real": d_real, "D_fake": d_fake,
                       "D_x": losses.mean_probability(real_logits),
                       "D_G_z": losses.mean_probability(fake_logits)}

    def _g_loss(self, real_a, real_b, fake_b):
        g_logits = self.discriminator(tf.concat([real_a, fake_b], -1), training=True)
        g_gan = losses.gan_bce(g_logits, is_real=True)
        g_l1 = losses.l1(real_b, fake_b)
        g_loss = self._scaled(self.g_optimizer, self._average(g_gan + self.lambda_l1 * g_l1))
        return g_loss, {"G_GAN": g_gan, "G_L1": g_l1}

    def _average(self, per_example):
        return tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch)

    @staticmethod
    def _scaled(optimizer, loss):
        """The loss a float16 loss scaler differentiates (its apply_gradients unscales)."""
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return optimizer.scale_loss(loss)
        return loss

    def _replica_step(self, real_a, real_b):
        G, D = self.generator, self.discriminator
        with tf.GradientTape() as g_tape:
            fake_b = self._g_forward(real_a)
            with g_tape.stop_recording():
                d_grads, d_metrics = self._d_gradients(real_a, real_b, tf.stop_gradient(fake_b))
                self.d_optimizer.apply_gradients(zip(d_grads, D.trainable_variables))
            g_loss, g_metrics = self._g_loss(real_a, real_b, fake_b)  # the updated D
        g_grads = g_tape.gradient(g_loss, G.trainable_variables)
        self.g_optimizer.apply_gradients(zip(g_grads, G.trainable_variables))
        return {k: self._average(v) for k, v in {**g_metrics, **d_metrics}.items()}

    def _one_step(self, batch):
        real_a, real_b = batch
        per_replica = self.strategy.run(self._replica_step, args=(real_a, real_b))
        self.step.assign_add(1)
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica[k], axis=None)
                for k in METRICS}

    def train_step(self, batch):
        """Run one step on a distributed (A, B) batch; return global-mean metrics."""
        return self._one_step(batch)

    @tf.function
    def train_steps(self, iterator, count):
        """Run ``count`` steps on batches from a distributed ``iterator`` in one call.

        Returns the metrics averaged over the ``count`` steps.
        """
        sums = {k: tf.constant(0.0) for k in METRICS}
        for _ in tf.range(count):
            metrics = self._one_step(next(iterator))
            sums = {k: sums[k] + metrics[k] for k in METRICS}
        return {k: v / tf.cast(count, tf.float32) for k, v in sums.items()}

    @tf.function
    def translate(self, real_a):
        """G(A) in the run's test mode (``models.test_mode``), changing no variable."""
        return self.inference(real_a, training=False)
