"""The pix2pix training step under a ``tf.distribute`` strategy.

One step is the paper's alternating update (and the PyTorch reference's):

1. G translates A once: ``fake = G(A)``.
2. D step on ``d_loss_scale * [BCE(D(A, B), 1) + BCE(D(A, fake), 0)]`` (the
   paper's ``/ 2``), with ``fake`` held constant, and D's update applied.
3. G step on ``BCE(D(A, fake), 1) + lambda_L1 * |B - fake|_1``, with a *fresh*
   forward pass of the just-updated D.

``--gan-mode`` swaps BCE for another objective (``losses.d_terms``/``g_term``;
wgangp adds its gradient penalty to D's loss), ``--lambda-feat`` adds feature
matching on D's intermediate features to G's loss, ``--unconditional`` feeds D
only B, and ``--no-gan`` leaves step 3's L1 alone. Losses are per-example means
divided by the global batch, so gradients summed across replicas equal
single-device gradients on the whole batch.

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

The NaN guard (``train.nan_policy``): before each update, D's losses and
gradients (then G's) are checked on every replica, and the replicas agree on
the answer with one all-reduce of two numbers per update. An update whose loss or gradient
is not finite is not applied: no weight, Adam moment or Adam iteration count
moves, and the step's BatchNorm statistics are rolled back. (D's update comes
before G's loss is known, so when only G's part is not finite, D keeps its
update.) Such a step is *dropped*; ``step`` still advances, since the batch
was consumed and the schedule and data position follow it. With float16, a
step whose losses are finite but whose scaled gradients overflow is the loss
scaler's normal skip: the scale is halved as ``LossScaleOptimizer`` does, and
it is counted apart (``scale_skipped``), not as a dropped step. ``off`` checks
nothing and applies every update (a float16 scaler still skips overflows itself).
"""

import contextlib
import os
import warnings

import keras
import tensorflow as tf

from ..errors import Pix2PixWarning
from ..models import (build_discriminator, build_generator, discriminator_features,
                      discriminator_kwargs, generator_kwargs, stride)
from ..models.padding import pad_to_multiple
from ..models.test_mode import inference_model
from . import losses, precision
from ..names import GRADIENT_PENALTY_MODES
from .schedule import make_schedule
from .strategy import resolve_jit


# D's mean outputs among the metrics; the others are losses.
D_OUTPUT_NAMES = ("D_x", "D_G_z")
# Test hook: "3,5" makes the last replica's target batch NaN at steps 3 and 5 (1-based),
# so that the guard can be tested through the real step and command line.
POISON_ENV = "TFPIX2PIX_TEST_NAN_STEPS"


@contextlib.contextmanager
def op_determinism(enabled):
    """TensorFlow's op determinism (``--deterministic``) for the duration of a run.

    It makes every op pick a deterministic kernel (or fail if it has none, as some do on
    GPUs) and tf.data keep its order. The data order, augmentation, dropout and the
    initial weights are seeded and checkpointed whether or not it is on. The switch is
    process-wide: it is turned off again after the run unless it was on before.
    """
    from tensorflow.python.framework import config as tf_config

    was = tf_config.is_op_determinism_enabled()
    if enabled and not was:
        tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if enabled and not was:
            tf_config.disable_op_determinism()


def metric_names(train_cfg):
    """The per-step metrics of a config: the losses, then D's mean outputs."""
    t = train_cfg
    if t.no_gan:
        return ("G_L1",)
    names = ["G_GAN", "G_L1", "D_real", "D_fake"]
    if t.lambda_feat:
        names.append("G_feat")
    if t.gan_mode in GRADIENT_PENALTY_MODES:
        names.append("D_gp")
    return tuple(names) + ("D_x", "D_G_z")


class Pix2Pix:
    """G, D, their optimizers and the compiled step, built inside ``strategy.scope()``.

    ``train.no_gan`` builds no D: the step is G's L1 update alone (the paper's L1
    ablation). ``model.unconditional`` feeds D only B (the paper's GAN ablation).
    """

    def __init__(self, cfg, strategy, steps_per_epoch):
        self.strategy = strategy
        m, t, d = cfg.model, cfg.train, cfg.data
        self.global_batch = t.batch_size
        self.lambda_l1, self.lambda_gp, self.lambda_feat = t.lambda_l1, t.lambda_gp, t.lambda_feat
        self.gan_mode, self.d_loss_scale, self.seed = t.gan_mode, t.d_loss_scale, t.seed
        self.gan, self.conditional = not t.no_gan, not m.unconditional
        self.metric_names = metric_names(t)
        self.stride = stride(m.netG, m.num_downs)
        self.precision = precision.resolve(t.precision)
        self.jit = resolve_jit(t.jit)
        replicas = strategy.num_replicas_in_sync
        if m.norm == "batch" and replicas > 1:
            warnings.warn(f"--norm batch on {replicas} replicas: each replica normalises with "
                          "its own batch statistics and keeps its own moving averages; use "
                          "--norm sync_batch to share them", Pix2PixWarning, stacklevel=2)
        if self.precision == "mixed_fp16" and t.gan_mode in GRADIENT_PENALTY_MODES:
            warnings.warn(f"--precision mixed_fp16 with --gan-mode {t.gan_mode}: the gradient "
                          "penalty's input gradient is not loss-scaled and may underflow in "
                          "float16; prefer mixed_bf16", Pix2PixWarning, stacklevel=2)
        # Our own step counter: the source of truth for logging, stopping and the learning
        # rate (a float16 loss scaler skips updates, so the optimizers' counts can lag).
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        with strategy.scope():
            with precision.policy(self.precision):
                self.generator = build_generator(**generator_kwargs(m, d))
                self.discriminator = None
                if self.gan:
                    d_in = (d.input_nc if self.conditional else 0) + d.output_nc
                    self.discriminator = build_discriminator(**discriminator_kwargs(m, d_in))
                    self._d_features = (discriminator_features(self.discriminator)
                                        if self.lambda_feat else None)
            # The grids show G as predict and the export will: in the run's test mode.
            self.inference = inference_model(self.generator, cfg.infer.test_mode)
            self.lr_schedule = make_schedule(t.lr_policy, t.lr, steps_per_epoch, t.n_epochs,
                                             t.n_epochs_decay, t.lr_decay_iters)

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
            if self.gan:
                self.d_optimizer.build(self.discriminator.trainable_variables)
        self._init_guard(t)

        pieces = self.jit and replicas > 1
        compiled = (lambda fn: tf.function(fn, jit_compile=True)) if pieces else (lambda fn: fn)
        self._g_forward = compiled(self._g_forward)
        self._d_gradients = compiled(self._d_gradients)
        self._g_loss = compiled(self._g_loss)
        # reduce_retracing: with --preprocess none or scale_width, batch shapes vary.
        self._one_step = tf.function(self._one_step, jit_compile=self.jit and not pieces,
                                     reduce_retracing=True)

    def _init_guard(self, t):
        """The NaN guard's counters (checkpointed, so that a resumed run goes on counting)
        and the test hook."""
        self.nan_policy, self.max_skipped = t.nan_policy, t.max_skipped_steps
        self.loss_names = tuple(k for k in self.metric_names if k not in D_OUTPUT_NAMES)
        counter = lambda value, name: tf.Variable(value, dtype=tf.int64, trainable=False,
                                                  name=name)
        self.skipped = counter(0, "skipped_steps")  # dropped by the NaN guard
        self.scale_skipped = counter(0, "loss_scale_skips")  # float16 overflows
        self.skipped_in_a_row = counter(0, "skipped_in_a_row")
        self.halt_step = counter(-1, "halt_step")  # the step that ends the run, or -1
        # At halt_step: which of loss_names were not finite, then "gradients".
        self.halt_what = tf.Variable(tf.zeros(len(self.loss_names) + 1, tf.bool),
                                     trainable=False, name="halt_what")
        nets = [n for n in (self.generator, self.discriminator) if n is not None]
        self._statistics = [v for model in nets for v in model.non_trainable_variables
                            if "float" in str(v.dtype) and "seed_generator" not in v.path
                            and self.nan_policy != "off"]  # rolled back after a dropped step
        poison = os.environ.get(POISON_ENV, "")
        self._poison_steps = ([int(s) for s in poison.split(",") if s.strip()] or None)

    def guard_state(self):
        """(dropped steps, loss-scale skips, halting step or None, what was not finite)."""
        halt = int(self.halt_step.numpy())
        what = [name for name, bad in zip(self.loss_names + ("gradients",),
                                          self.halt_what.numpy()) if bad]
        return (int(self.skipped.numpy()), int(self.scale_skipped.numpy()),
                halt if halt >= 0 else None, what)

    def checkpoint(self, loss_scale=None, guard=True):
        """Everything a resumed run needs to continue exactly where this one stopped.

        Keras layers don't expose their ``SeedGenerator`` state (dropout's RNG) to
        ``tf.train.Checkpoint``, so it is tracked here; without it a resumed run
        draws different dropout masks. The optimizers are the Adams themselves at
        every precision; float16's loss scales are saved beside them, so a checkpoint
        written at one precision restores at another (``loss_scale=False`` leaves
        them out, for reading a checkpoint that has none). The NaN guard's counts are
        saved too, so that the skipped-step total and the run of skips in a row survive a
        resume (``guard=False`` reads a checkpoint of a version without them).
        """
        nets = [n for n in (self.generator, self.discriminator) if n is not None]
        rng_state = [v for model in nets
                     for v in model.non_trainable_variables if "seed_generator" in v.path]
        objects = dict(generator=self.generator, g_optimizer=self.g_adam, step=self.step,
                       rng_state=rng_state)
        if self.gan:
            objects.update(discriminator=self.discriminator, d_optimizer=self.d_adam)
        if guard:
            objects["nan_guard"] = [self.skipped, self.scale_skipped, self.skipped_in_a_row]
        if self.precision == "mixed_fp16" and loss_scale is not False:
            optimizers = (self.g_optimizer, self.d_optimizer) if self.gan else (self.g_optimizer,)
            objects["loss_scale"] = [v for opt in optimizers
                                     for v in (opt.dynamic_scale, opt.step_counter)]
        return tf.train.Checkpoint(**objects)

    def restore(self, path):
        """Restore a checkpoint written by ``checkpoint()`` at any precision."""
        saved = {name.split("/")[0] for name, _shape in tf.train.list_variables(path)}
        status = self.checkpoint(loss_scale="loss_scale" in saved,
                                 guard="nan_guard" in saved).restore(path)
        # Every object of ours is in the checkpoint; a float16 run's loss scales may be
        # in it and not in ours (expect_partial keeps them from being reported as lost).
        status.assert_existing_objects_matched().expect_partial()

    # The three parts of a replica's step that XLA may compile under a multi-replica
    # strategy: forward passes and gradients, no variable updates.

    def _g_forward(self, real_a):
        """G(A), padded to G's stride for G and cropped back when A's size is not a multiple."""
        h, w = real_a.shape[1], real_a.shape[2]
        if h is not None and w is not None and h % self.stride == 0 and w % self.stride == 0:
            return self.generator(real_a, training=True)
        size = tf.shape(real_a)
        fake = self.generator(pad_to_multiple(real_a, self.stride), training=True)
        return fake[:, :size[1], :size[2]]

    def _d_input(self, real_a, b):
        """What D judges: the pair (A, B), or B alone when unconditional."""
        return tf.concat([real_a, b], -1) if self.conditional else b

    def _discriminate(self, x, features=False):
        """D's logits (a tensor, or a list per scale) and, if asked, its features."""
        if features:
            out = self._d_features(x, training=True)
            return out["logits"], out["features"]
        return self.discriminator(x, training=True), None

    def _d_gradients(self, real_a, real_b, fake_b, alpha):
        D, mode = self.discriminator, self.gan_mode
        real_pair, fake_pair = self._d_input(real_a, real_b), self._d_input(real_a, fake_b)
        with tf.GradientTape() as tape:
            real_logits, _ = self._discriminate(real_pair)
            fake_logits, _ = self._discriminate(fake_pair)
            d_real, d_fake = losses.d_terms(mode, real_logits, fake_logits)
            per_example = d_real + d_fake
            metrics = {"D_real": d_real, "D_fake": d_fake,
                       "D_x": losses.mean_d_output(mode, real_logits),
                       "D_G_z": losses.mean_d_output(mode, fake_logits)}
            if mode in GRADIENT_PENALTY_MODES:
                gp = losses.gradient_penalty(lambda x: D(x, training=True), real_pair,
                                             fake_pair, alpha)
                per_example += self.lambda_gp * gp
                metrics["D_gp"] = gp
            d_loss = self._scaled(self.d_optimizer,
                                  self._average(self.d_loss_scale * per_example))
        grads = tape.gradient(d_loss, D.trainable_variables)
        return grads, metrics

    def _g_loss(self, real_a, real_b, fake_b):
        g_l1 = losses.l1(real_b, fake_b)
        if not self.gan:
            return self._scaled(self.g_optimizer, self._average(self.lambda_l1 * g_l1)), \
                {"G_L1": g_l1}
        matching = bool(self.lambda_feat)
        g_logits, fake_features = self._discriminate(self._d_input(real_a, fake_b), matching)
        g_gan = losses.g_term(self.gan_mode, g_logits)
        per_example = g_gan + self.lambda_l1 * g_l1
        metrics = {"G_GAN": g_gan, "G_L1": g_l1}
        if matching:  # the updated D's features of the real pair, held constant
            _, real_features = self._discriminate(self._d_input(real_a, real_b), True)
            g_feat = losses.feature_matching(real_features, fake_features)
            per_example += self.lambda_feat * g_feat
            metrics["G_feat"] = g_feat
        return self._scaled(self.g_optimizer, self._average(per_example)), metrics

    def _average(self, per_example):
        return tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch)

    @staticmethod
    def _scaled(optimizer, loss):
        """The loss a float16 loss scaler differentiates (its apply_gradients unscales)."""
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return optimizer.scale_loss(loss)
        return loss

    def _alpha(self, real_a):
        """This replica's gradient-penalty weights: drawn for the global batch from
        (seed, step), so any number of replicas and a resumed run draw the same."""
        per_replica = tf.shape(real_a)[0]
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return losses.interpolation_alpha(self.seed, self.step, self.global_batch,
                                          replica * per_replica, per_replica)

    def _replica_step(self, real_a, real_b):
        G, D = self.generator, self.discriminator
        if self._poison_steps is not None:
            real_b = self._poisoned(real_b)
        statistics = [tf.identity(v) for v in self._statistics]  # BatchNorm's, before the step
        d_metrics, d_flags = {}, (tf.constant(True), tf.constant(True))
        with tf.GradientTape() as g_tape:
            fake_b = self._g_forward(real_a)
            if self.gan:
                with g_tape.stop_recording():
                    alpha = (self._alpha(real_a) if self.gan_mode in GRADIENT_PENALTY_MODES
                             else None)
                    d_grads, d_metrics = self._d_gradients(real_a, real_b,
                                                           tf.stop_gradient(fake_b), alpha)
                    d_flags = self._apply_if_finite(self.d_optimizer, d_grads,
                                                    D.trainable_variables, d_metrics)
            g_loss, g_metrics = self._g_loss(real_a, real_b, fake_b)  # the updated D
        g_grads = g_tape.gradient(g_loss, G.trainable_variables)
        g_flags = self._apply_if_finite(self.g_optimizer, g_grads, G.trainable_variables,
                                        g_metrics)
        losses_ok, grads_ok = (d_flags[0] & g_flags[0]), (d_flags[1] & g_flags[1])
        overflow, no = losses_ok & ~grads_ok, tf.constant(False)
        if self.precision == "mixed_fp16":  # overflowing gradients are the scaler's to skip
            flags = {"_dropped": ~losses_ok, "_grads": no, "_scale_skip": overflow}
        else:
            flags = {"_dropped": ~(losses_ok & grads_ok), "_grads": overflow, "_scale_skip": no}
        for v, before in zip(self._statistics, statistics):  # a dropped step leaves no trace
            v.assign(tf.where(flags["_dropped"], before, v))
        return {**{k: self._average(v) for k, v in {**g_metrics, **d_metrics}.items()},
                **{k: tf.cast(v, tf.float32) for k, v in flags.items()}}

    def _apply_if_finite(self, optimizer, grads, variables, metrics):
        """Apply ``grads`` if the losses in ``metrics`` and the gradients are finite on every
        replica. Returns (losses finite, gradients finite), as all replicas agree.

        With a float16 loss scaler, finite losses with overflowing (scaled) gradients halve
        the scale, as the scaler itself would. Keras's scaler decides on one replica's
        gradients; deciding here on all of them keeps a non-finite sum from being applied.
        """
        if self.nan_policy == "off":  # no check: every update is applied, as in the reference
            optimizer.apply_gradients(zip(grads, variables))
            return tf.constant(True), tf.constant(True)
        losses = [v for k, v in metrics.items() if k not in D_OUTPUT_NAMES]
        bad = tf.stack([tf.cast(~_all_finite(losses), tf.float32),
                        tf.cast(~_all_finite(grads), tf.float32)])
        ctx = tf.distribute.get_replica_context()
        bad = ctx.all_reduce(tf.distribute.ReduceOp.SUM, bad)  # the guard's only reduction
        losses_ok, grads_ok = bad[0] == 0, bad[1] == 0
        scaler = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

        def update(grads):
            optimizer.apply_gradients(zip(grads, variables))

        def no_update():
            if scaler:
                def overflow():
                    optimizer.step_counter.assign(0)
                    optimizer.dynamic_scale.assign(optimizer.dynamic_scale * 0.5)
                tf.cond(losses_ok, overflow, lambda: None)

        if tf.__internal__.distribute.strategy_supports_no_merge_call():
            tf.cond(losses_ok & grads_ok, lambda: update(grads), no_update)
        else:
            # apply_gradients synchronises the replicas (a merge_call), which a strategy
            # does not allow inside a tf.cond in a replica: branch in cross-replica context,
            # as Keras's LossScaleOptimizer does.
            def branch(strategy, ok, grads):
                ok = strategy.experimental_local_results(ok)[0]
                tf.cond(ok, lambda: strategy.extended.call_for_each_replica(update, (grads,)),
                        no_update)
            ctx.merge_call(branch, args=(losses_ok & grads_ok, grads))
        return losses_ok, grads_ok

    def _poisoned(self, real_b):
        """The test hook (``POISON_ENV``): B is NaN on the last replica at the chosen steps."""
        ctx = tf.distribute.get_replica_context()
        last = ctx.replica_id_in_sync_group == ctx.num_replicas_in_sync - 1
        hit = tf.reduce_any(tf.equal(self.step + 1, self._poison_steps)) & last
        return tf.where(hit, real_b + float("nan"), real_b)

    def _one_step(self, batch):
        """One step; returns (global-mean metrics, whether the guard dropped its update)."""
        real_a, real_b = batch
        per_replica = self.strategy.run(self._replica_step, args=(real_a, real_b))
        self.step.assign_add(1)
        metrics = {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica[k],
                                           axis=None) for k in self.metric_names}
        # The flags are the same on every replica (they were all-reduced).
        flags = {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica[k],
                                         axis=None) > 0
                 for k in ("_dropped", "_grads", "_scale_skip")}
        self._count(metrics, flags)
        return metrics, flags["_dropped"]

    def _count(self, metrics, flags):
        """Update the guard's counters after a step; record the step that ends the run."""
        dropped = flags["_dropped"]
        self.skipped.assign_add(tf.cast(dropped, tf.int64))
        self.scale_skipped.assign_add(tf.cast(flags["_scale_skip"], tf.int64))
        in_a_row = tf.where(dropped, self.skipped_in_a_row + 1, 0)
        self.skipped_in_a_row.assign(in_a_row)
        ends = (dropped if self.nan_policy == "stop" else in_a_row >= self.max_skipped)
        halt = ends & (self.halt_step < 0)
        what = [~tf.math.is_finite(metrics[k]) for k in self.loss_names] + [flags["_grads"]]
        self.halt_step.assign(tf.where(halt, self.step, self.halt_step))
        self.halt_what.assign(tf.where(halt, tf.stack(what), self.halt_what))

    def train_step(self, batch):
        """Run one step on a distributed (A, B) batch; return global-mean metrics."""
        return self._one_step(batch)[0]

    @tf.function
    def train_steps(self, iterator, count):
        """Run ``count`` steps on batches from a distributed ``iterator`` in one call.

        Returns the metrics averaged over the steps whose update was not dropped by the
        NaN guard (NaN if all were).
        """
        sums = {k: tf.constant(0.0) for k in self.metric_names}
        kept = tf.constant(0.0)
        for _ in tf.range(count):
            metrics, dropped = self._one_step(next(iterator))
            sums = {k: sums[k] + tf.where(dropped, 0.0, metrics[k]) for k in self.metric_names}
            kept += tf.where(dropped, 0.0, 1.0)
        return {k: v / kept for k, v in sums.items()}

    @tf.function(reduce_retracing=True)
    def translate(self, real_a):
        """G(A) in the run's test mode (``models.test_mode``), changing no variable; sizes
        that are not multiples of G's stride are padded for G and cropped back."""
        size = tf.shape(real_a)
        fake = self.inference(pad_to_multiple(real_a, self.stride), training=False)
        return fake[:, :size[1], :size[2]]


def _all_finite(tensors):
    """Whether every element of ``tensors`` (None entries left out) is finite."""
    checks = [tf.reduce_all(tf.math.is_finite(t)) for t in tensors if t is not None]
    return tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)
