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
"""

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

        pieces = self.jit and replicas > 1
        compiled = (lambda fn: tf.function(fn, jit_compile=True)) if pieces else (lambda fn: fn)
        self._g_forward = compiled(self._g_forward)
        self._d_gradients = compiled(self._d_gradients)
        self._g_loss = compiled(self._g_loss)
        # reduce_retracing: with --preprocess none or scale_width, batch shapes vary.
        self._one_step = tf.function(self._one_step, jit_compile=self.jit and not pieces,
                                     reduce_retracing=True)

    def checkpoint(self, loss_scale=None):
        """Everything a resumed run needs to continue exactly where this one stopped.

        Keras layers don't expose their ``SeedGenerator`` state (dropout's RNG) to
        ``tf.train.Checkpoint``, so it is tracked here; without it a resumed run
        draws different dropout masks. The optimizers are the Adams themselves at
        every precision; float16's loss scales are saved beside them, so a checkpoint
        written at one precision restores at another (``loss_scale=False`` leaves
        them out, for reading a checkpoint that has none).
        """
        nets = [n for n in (self.generator, self.discriminator) if n is not None]
        rng_state = [v for model in nets
                     for v in model.non_trainable_variables if "seed_generator" in v.path]
        objects = dict(generator=self.generator, g_optimizer=self.g_adam, step=self.step,
                       rng_state=rng_state)
        if self.gan:
            objects.update(discriminator=self.discriminator, d_optimizer=self.d_adam)
        if self.precision == "mixed_fp16" and loss_scale is not False:
            optimizers = (self.g_optimizer, self.d_optimizer) if self.gan else (self.g_optimizer,)
            objects["loss_scale"] = [v for opt in optimizers
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
        d_metrics = {}
        with tf.GradientTape() as g_tape:
            fake_b = self._g_forward(real_a)
            if self.gan:
                with g_tape.stop_recording():
                    alpha = (self._alpha(real_a) if self.gan_mode in GRADIENT_PENALTY_MODES
                             else None)
                    d_grads, d_metrics = self._d_gradients(real_a, real_b,
                                                           tf.stop_gradient(fake_b), alpha)
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
                for k in self.metric_names}

    def train_step(self, batch):
        """Run one step on a distributed (A, B) batch; return global-mean metrics."""
        return self._one_step(batch)

    @tf.function
    def train_steps(self, iterator, count):
        """Run ``count`` steps on batches from a distributed ``iterator`` in one call.

        Returns the metrics averaged over the ``count`` steps.
        """
        sums = {k: tf.constant(0.0) for k in self.metric_names}
        for _ in tf.range(count):
            metrics = self._one_step(next(iterator))
            sums = {k: sums[k] + metrics[k] for k in self.metric_names}
        return {k: v / tf.cast(count, tf.float32) for k, v in sums.items()}

    @tf.function(reduce_retracing=True)
    def translate(self, real_a):
        """G(A) in the run's test mode (``models.test_mode``), changing no variable; sizes
        that are not multiples of G's stride are padded for G and cropped back."""
        size = tf.shape(real_a)
        fake = self.inference(pad_to_multiple(real_a, self.stride), training=False)
        return fake[:, :size[1], :size[2]]
