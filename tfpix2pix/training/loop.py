"""The training loop: set up, resume, then step, log, grid and checkpoint until the stop.

``train`` runs one ``_Run``, whose methods are the loop's named steps in the order a
run takes them::

    __init__ (set up) -> resume -> loop: [stopping? -> step -> log -> grid -> checkpoint]
                                 -> close -> finish

Everything a step reads or changes is an attribute of the ``_Run``, so each step can be
read on its own; what the run prints is in ``report``. The order of the calls that draw
random numbers (the seed, G's and D's initialisers, the restore, step 0's grid, then the
training steps) is what makes a resumed run continue exactly, so the steps keep it.
"""

import math
import os
import sys
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from .. import config as C
from .. import run_folder
from ..data import check, folder, fs, pipeline
from ..errors import Pix2PixWarning, UserError
from ..files import failure_reason, write_atomic
from . import report
from .cluster import Role, weights_digest
from .progress import Progress
from .step import Pix2Pix, op_determinism
from .stop import StopRequest
from .strategy import make_strategy
from .summaries import IntervalMeans, Summaries, image_grid

# D's mean outputs go to TensorBoard as D/...; every other metric is a loss term.
D_OUTPUTS = {"D_x": "D/real_mean", "D_G_z": "D/fake_mean"}
# How a collective operation fails when a worker of a multi-worker run is gone.
WORKER_LOST = (tf.errors.UnavailableError, tf.errors.CancelledError,
               tf.errors.DeadlineExceededError, tf.errors.AbortedError)


def train(cfg, files=None, out=None, err=None, stop=None, strategy=None):
    """Train (or resume) the run described by ``cfg``. Returns a small summary dict.

    ``files`` is ``folder.find_splits``'s answer if the caller already has it;
    ``out`` gets the start-up line and the final report, ``err`` the progress bar
    (default: stdout, stderr).
    ``stop`` is a ``StopRequest`` whose signal handlers the caller has installed
    (the CLI does so first thing); without it, ``train`` installs its own. On
    Ctrl-C or SIGTERM the run stops after the current step, saves a checkpoint
    and returns with ``summary["stopped_by"]`` set to the signal's name.
    ``strategy`` is made from ``cfg.train.strategy`` if not given; a multi-worker
    one must be made before TensorFlow's first op (the CLI does so).
    """
    out, err = out or sys.stdout, err or sys.stderr
    if stop is None:
        with StopRequest() as own:
            return _train(cfg, files, out, err, own, strategy)
    return _train(cfg, files, out, err, stop, strategy)


def _train(cfg, files, out, err, stop, strategy):
    strategy = _strategy(cfg) if strategy is None else strategy
    # One process per run folder; only the chief writes it (see cluster.py).
    with run_folder.RunLock(cfg.run_dir, enabled=Role(strategy).chief), \
            op_determinism(cfg.train.deterministic):
        run = _Run(cfg, files, strategy, stop, out, err)
        if not run.resume():
            run.role.clean_up()
            return run.summary
        try:
            run.loop()
        except WORKER_LOST as exc:  # in a save or a grid: a collective with a lost worker
            if not run.role.multiworker:
                raise
            raise run._worker_lost(exc) from None
        finally:
            run.close()
        return run.finish()


def _strategy(cfg):
    try:
        return make_strategy(cfg.train.strategy, cfg.train.worker_timeout)
    except RuntimeError as exc:  # "Collective ops must be configured at program startup"
        raise UserError(f"--strategy {cfg.train.strategy}: MultiWorkerMirroredStrategy "
                        f"could not start ({exc}); it must be created before TensorFlow "
                        "runs any op, so train with python -m tfpix2pix.train, or pass "
                        "train(..., strategy=) one made at the start of your program"
                        ) from None


class _Run:
    """One call of ``train``: the state its steps share, and the steps."""

    # --- set up -----------------------------------------------------------------------------

    def __init__(self, cfg, files, strategy, stop, out, err):
        self.cfg, self.strategy, self.stop, self.out, self.err = cfg, strategy, stop, out, err
        self.role = Role(strategy)
        self.run_dir = cfg.run_dir
        d = cfg.data
        self.train_paths, self.val_paths = files or folder.find_splits(
            d.path, dataset_mode=d.dataset_mode)
        self.length = self._count_steps()
        if cfg.train.init_from:
            run_folder.check_init_from(cfg)
        # The chief's newest intact checkpoint (ckpt-<step>); a damaged one is reported.
        self.latest = run_folder.resumable_checkpoint(self.run_dir)
        start = run_folder.checkpoint_step(self.latest) if self.latest else 0
        if start < self.length.stop_at:  # else ``resume`` says that there is nothing to do
            print(report.start_up_line(cfg, self.role, (self.train_paths, self.val_paths),
                                       self.length, start),
                  file=out)  # before the slow part of the set-up
        self._check_data()
        if self.role.chief:
            run_folder.prepare(cfg)
            run_folder.remove_partial_saves(run_folder.checkpoints_dir(self.run_dir))
            self._write_skipped()
        else:
            run_folder.check_compatible(cfg, self.run_dir)
        self._build_model()

    def _count_steps(self):
        t = self.cfg.train
        replicas = self.strategy.num_replicas_in_sync
        if t.batch_size % replicas:
            raise UserError(f"--batch-size {t.batch_size} does not split across {replicas} "
                            f"replicas; use a multiple of {replicas}")
        per_epoch = pipeline.steps_per_epoch(len(self.train_paths), t.batch_size)
        if per_epoch == 0:
            raise UserError(f"--batch-size {t.batch_size} is larger than the "
                            f"{len(self.train_paths)} training pairs; lower it")
        epochs = t.n_epochs + t.n_epochs_decay
        total = epochs * per_epoch
        if t.max_steps > total:
            warnings.warn(f"--max-steps {t.max_steps} is past the schedule's end at step "
                          f"{total} ({report.epochs(epochs)} of {per_epoch} steps), where the "
                          "run stops; to train longer, raise --epochs or --n-epochs-decay",
                          Pix2PixWarning, stacklevel=3)
        return report.RunLength(per_epoch, epochs, total,
                                stop_at=min(total, t.max_steps) if t.max_steps else total)

    def _check_data(self):
        """Check every image that will be read, before anything is built."""
        d = self.cfg.data
        self.grid_paths = (self.val_paths or self.train_paths)[:self.cfg.log.num_images]
        # How pixels are read, for the checks and every pipeline: preprocessing and channels.
        self.reading = dict(preprocess=d.preprocess, load_size=d.load_size,
                            crop_size=d.crop_size, input_nc=d.input_nc, output_nc=d.output_nc)
        sets = (self.train_paths, self.grid_paths, *([self.val_paths] if self.val_paths else []))
        checks = dict(direction=d.direction, batch_size=self.cfg.train.batch_size, **self.reading)
        self.skipped = getattr(self, "skipped", [])  # [(file, why)] left out by --on-bad-file skip
        if d.on_bad_file == "error":
            self.info = folder.check_images(*sets, decode=d.cache == "none", **checks)
            return
        self.info, kept, skipped = check.leave_out_bad(*sets, **checks)
        if skipped:
            self.train_paths, self.grid_paths = kept[:2]
            self.val_paths = kept[2] if self.val_paths else self.val_paths
            self.skipped += skipped
            print(f"--on-bad-file skip: left out {len(skipped)} bad "
                  f"file{'s' * (len(skipped) != 1)} (listed in "
                  f"{run_folder.skipped_files_path(self.run_dir)}), kept "
                  f"{len(self.train_paths)} training pairs", file=self.err)
            self.length = self._count_steps()

    def _write_skipped(self):
        """The files --on-bad-file skip left out, one a line: the file, a tab, why."""
        if self.skipped and self.role.chief:
            write_atomic(run_folder.skipped_files_path(self.run_dir),
                         "".join(f"{where}\t{why}\n" for where, why in self.skipped))

    def _build_model(self):
        keras.utils.set_random_seed(self.cfg.train.seed)  # initial weights, dropout RNG
        self.model = Pix2Pix(self.cfg, self.strategy, self.length.per_epoch)
        self.losses = [k for k in self.model.metric_names if k not in D_OUTPUTS]
        self.checkpoint = self.model.checkpoint()
        self.manager = run_folder.checkpoint_manager(
            self.checkpoint, self.role.write_dir(self.run_dir), self.cfg.log.keep_checkpoints,
            self.model.step)

    # --- resume -----------------------------------------------------------------------------

    def resume(self):
        """Restore the latest checkpoint and open the streams from its step. Returns False,
        having said so in one line, if the run is already where this command stops."""
        if self.latest:
            if not run_folder.has_training_state(self.latest):
                raise UserError(
                    f"--run-dir {self.run_dir} holds a generator without training state (as "
                    "python -m tfpix2pix.convert writes); to fine-tune it, train a new run "
                    f"with --init-from {self.run_dir} --run-dir <new folder>")
            self.model.restore(self.latest)
        elif self.cfg.train.init_from:  # a fresh run whose G starts from another run's
            run_folder.load_generator_weights(self.model.generator, self.cfg.train.init_from)
        self.start = self.step = int(self.model.step.numpy())
        self.saved = self.start if self.latest else None  # the step of the newest checkpoint
        self.role.agree_on_start(self.start)
        self.summary = {
            "run_dir": self.run_dir, "start_step": self.start, "step": self.start,
            "total_steps": self.length.total, "steps_per_epoch": self.length.per_epoch,
            "precision": self.model.precision, "jit": self.model.jit,
            "replicas": self.strategy.num_replicas_in_sync, "workers": self.role.workers,
            "role": self.role.name}
        if self.start >= self.length.stop_at:
            print(report.nothing_to_do(self.cfg, self.length, self.start), file=self.out)
            return False
        try:
            self._open_streams()
        except UserError:
            if self.cfg.data.on_bad_file == "error":
                raise
            # A file went bad between the check and its first decode: check again, leaving
            # it out, as at the start (with a smaller set, if this is a resumed run).
            self._check_data()
            self._write_skipped()
            self._open_streams()
        return True

    def _open_streams(self):
        """The fixed grid and val pairs, the training stream from ``start``, the writers."""
        cfg, d = self.cfg, self.cfg.data

        def fixed(pairs):  # (A, B) per pair at their evaluation size, no jitter
            return pipeline.eval_pairs(pairs, direction=d.direction,
                                       bit_depth=self.info.bit_depth, as_list=True,
                                       **self.reading)

        self.val_pairs = fixed(self.val_paths) if self.val_paths else None
        # With a val split the grid's pairs are its first ones: decoded and translated once.
        self.grid_pairs = (self.val_pairs[:len(self.grid_paths)] if self.val_pairs
                           else fixed(self.grid_paths))
        self.data = pipeline.TrainData(
            self.train_paths, direction=d.direction, flip=not d.no_flip, seed=cfg.train.seed,
            global_batch=cfg.train.batch_size, cache=d.cache,
            cache_dir=run_folder.cache_dir(self.run_dir), bit_depth=self.info.bit_depth,
            **self.reading)
        self.batches = self.data.distribute(self.strategy, self.start)
        self.summaries = Summaries(self.run_dir if self.role.chief else None)
        if self.start == 0:
            self.summaries.hparams(hparam_values(cfg), trial_id=cfg.name)
        self.progress = Progress(self.start, self.length.stop_at, self.length.per_epoch,
                                 cfg.train.batch_size, line_every=cfg.log.log_every,
                                 stream=self.err)
        self.interval = IntervalMeans()
        self.grid_path, self.metrics, self.began = None, {}, time.perf_counter()
        self.stopped = self.remote_stop = False
        self.nan_skipped = self.scale_skipped = 0  # the NaN guard's counts (``nan_guard``)

    # --- the loop ---------------------------------------------------------------------------

    def loop(self):
        """Steps until ``stop_at`` or a stop request, each followed by what falls due."""
        log, stop_at = self.cfg.log, self.length.stop_at
        if self.start == 0 and not self.stopping():
            self.grid_path = self.grid(0)  # the untrained generator, for comparison
        while self.step < stop_at and not self.stopped and not self.stopping():
            before = self.train_steps(min(self.cfg.train.steps_per_call, stop_at - self.step))
            if self.due(log.log_every, before):
                self.log_scalars()
            if self.due(log.image_every, before):
                self.grid_path = self.grid(self.step) or self.grid_path
            if self.due(log.checkpoint_every, before):
                self.save()
        if self.stopped:
            self.save()
        elif self.metrics:
            self.progress.update(self.step, self._losses(), force=True,
                                 counts=self._skip_counts())

    def stopping(self):
        """Whether to stop now: a signal here or, in a multi-worker run, on any worker.

        The stop request is checked only here, between calls (see stop.py); the workers of
        a multi-worker run agree on it, so that all of them stop after the same step.
        """
        try:
            agreed = self.role.agreed_signal(self.stop.signum)  # an all-reduce across workers
        except WORKER_LOST as exc:
            raise self._worker_lost(exc) from None
        if agreed is not None and agreed != self.stop.signum:
            self.stop.adopt(agreed)  # asked on another worker: stop and exit as every worker does
            self.remote_stop = True
        self.stopped = agreed is not None
        return self.stopped

    def _worker_lost(self, exc):
        """The one line for a collective operation that failed because a worker is gone."""
        last = run_folder.latest_checkpoint(self.run_dir)
        return UserError(f"{self.role.name}: lost contact with another worker "
                         f"({self.role.lost_worker(exc)}) at step {self.step} "
                         f"({type(exc).__name__}); restart every worker with the "
                         f"same command to resume from the chief's last checkpoint ({last})")

    def train_steps(self, count):
        """Run ``count`` steps in one call; update the progress bar. Returns the step before."""
        began = time.perf_counter()
        self.metrics = self._call(count)
        self.nan_guard()
        if all(math.isfinite(v) for v in self.metrics.values()):  # else every step was dropped
            self.interval.add(self.metrics, seconds=time.perf_counter() - began, steps=count)
        before, self.step = self.step, self.step + count
        self.progress.update(self.step, self._losses(), counts=self._skip_counts())
        return before

    def nan_guard(self):
        """Read the NaN guard's counters after a call; end the run, in one line, if a step's
        update was dropped under --nan-policy stop or too many in a row under skip. The
        state in memory is not saved: the last checkpoint stays the latest."""
        self.nan_skipped, self.scale_skipped, halt, what = self.model.guard_state()
        if halt is None:
            return
        t, last = self.cfg.train, run_folder.latest_checkpoint(self.run_dir)
        kept = (f"the last checkpoint, {os.path.basename(last)}, is kept" if last
                else "no checkpoint was saved")
        found = "non-finite " + ", ".join(what)
        if t.nan_policy == "stop":
            raise UserError(f"step {halt}: {found} (--nan-policy stop); its update was not "
                            f"applied and {kept}; lower --lr, or train on with --nan-policy "
                            "skip")
        raise UserError(f"step {halt}: {t.max_skipped_steps} steps in a row skipped, the last "
                        f"with {found} (--nan-policy skip, --max-skipped-steps "
                        f"{t.max_skipped_steps}); {kept}; lower --lr, or check the data")

    def _skip_counts(self):
        """The progress line's counts: steps dropped by the NaN guard, float16 scale skips."""
        counts = {"skipped": self.nan_skipped} if self.nan_skipped else {}
        if self.scale_skipped:
            counts["scale skips"] = self.scale_skipped
        return counts

    def _call(self, count):
        """``count`` steps from ``self.step`` in one call; their mean metrics as floats.

        A training file that went bad since the check stops the run naming it, or, under
        --on-bad-file skip, is replaced by another pair and the call goes on (the metrics
        are then those of the steps after it).
        """
        at = self.step
        while True:
            try:
                if self.cfg.train.steps_per_call == 1:
                    metrics = self.model.train_step(next(self.batches))
                else:
                    metrics = self.model.train_steps(self.batches, tf.constant(count))
                return {k: float(v) for k, v in metrics.items()}
            except tf.errors.OpError as exc:
                if self.role.multiworker and isinstance(exc, WORKER_LOST):
                    raise self._worker_lost(exc) from None
                failed = int(self.model.step.numpy())  # steps before it in this call are done
                self._bad_data(exc, failed)
                count -= failed - at
                at = failed
                self.batches = self.data.distribute(self.strategy, failed)

    def _bad_data(self, exc, step):
        """Training files that changed or vanished after the check: a UserError naming them,
        or, under --on-bad-file skip, left out from now on (counted and listed)."""
        path, last = self.cfg.data.path, run_folder.latest_checkpoint(self.run_dir)
        kept = f"the last checkpoint ({last}) is kept" if last else "no checkpoint was saved yet"
        if not path.startswith(folder.BUILTIN_PREFIX) and not fs.exists(path):
            raise UserError(f"--data {path}: the data folder is gone (at step {step}); {kept}; "
                            "put it back and rerun the same command to resume") from None
        positions = sorted(set(int(k) for k in self.data.batch_indices(step)))
        pairs = self.data.pairs.subset(positions)
        found = check.find_problems(pairs, decode=True, direction=self.cfg.data.direction,
                                    **self.reading)
        bad = [k for k in range(len(pairs)) if pairs.key(k) in found.bad]
        if not bad:
            first = str(getattr(exc, "message", exc)).strip().splitlines()[0]
            raise UserError(f"--data {path}: reading the training images failed at step "
                            f"{step} ({first}); check that the files did not change; "
                            f"{kept}") from None
        if self.cfg.data.on_bad_file == "error":
            raise UserError(f"{found.bad[pairs.key(bad[0])]} (it changed after the start-up "
                            f"check; the run stopped at step {step}; {kept}; or train with "
                            "--on-bad-file skip)") from None
        self.data.replace([positions[k] for k in bad])
        for k in bad:
            why = found.bad[pairs.key(k)]
            self.skipped.append((pairs.where(k), why))
            print(f"--on-bad-file skip: step {step}: left out {why}", file=self.err)
        self._write_skipped()

    def _losses(self):
        return {k: self.metrics[k] for k in self.losses}

    def due(self, every, before):
        """Whether a multiple of ``every`` is in (before, step], or this is the last step."""
        return self.step // every > before // every or self.step == self.length.stop_at

    def log_scalars(self):
        """The interval's mean losses, D's outputs, the lr and the speed to TensorBoard."""
        scalars = {"lr": float(self.model.lr_schedule(self.step - 1))}
        if self.interval.count:  # else every step since the last write was dropped
            means = self.interval.pop()
            scalars.update({f"loss/{k}": means[k] for k in self.losses})
            scalars.update({tag: means[k] for k, tag in D_OUTPUTS.items() if k in means})
            scalars["perf/images_per_sec"] = means["steps_per_sec"] * self.cfg.train.batch_size
        # The NaN guard's counts since this process started.
        if self.cfg.train.nan_policy == "skip" or self.nan_skipped:
            scalars["nan/skipped_steps"] = self.nan_skipped
        if self.model.precision == "mixed_fp16":
            scalars["nan/loss_scale_skips"] = self.scale_skipped
        self.summaries.scalars(self.step, scalars)

    def grid(self, step):
        """Translate the val (or grid) pairs; write the grid and the val L1. Returns its path.

        Every worker translates (the same collective reads everywhere); the chief writes.
        """
        outputs = translated(self.model, self.val_pairs or self.grid_pairs)  # grid's first
        shown = self.grid_pairs
        grid = image_grid([a[0] for a, _ in shown], [f[0] for f in outputs[:len(shown)]],
                          [b[0] for _, b in shown])
        try:
            path = self.summaries.grid(step, grid)
            if self.val_pairs:
                self.summary["val_l1"] = mean_l1(self.val_pairs, outputs)
                self.summaries.scalars(step, {"val/L1": self.summary["val_l1"]})
        except (OSError, tf.errors.OpError) as exc:  # a full disk: the grid is not written
            last = run_folder.latest_checkpoint(self.run_dir)
            kept = f"the latest checkpoint is {last}" if last else "no checkpoint was saved yet"
            raise UserError(f"--run-dir {self.run_dir}: writing the image grid of step {step} "
                            f"failed ({failure_reason(exc)}); {kept}; free some space and "
                            "rerun the same command to resume") from None
        return path

    def save(self):
        """A checkpoint of this step, at most once: a stop right after a periodic save adds
        nothing."""
        if self.saved != self.step:
            run_folder.save_checkpoint(self.manager, int(self.model.step.numpy()))
            self.saved = self.step

    # --- finish -----------------------------------------------------------------------------

    def close(self):
        self.progress.close()
        self.summaries.close()
        self.role.clean_up()

    def finish(self):
        """Complete the summary and print how the run ended. Returns the summary."""
        s = self.summary
        s.update(step=self.step, seconds=time.perf_counter() - self.began,
                 last_grid=self.grid_path, metrics=self.metrics, skipped_files=len(self.skipped))
        if self.role.multiworker:
            s["weights_sha256"] = weights_digest(self.model)
        if self.stopped:
            s["stopped_by"] = self.stop.name
            name = self.stop.name + (" on another worker" if self.remote_stop else "")
            print(report.stopped(s, name), file=self.out)
        else:
            report.finished(self.cfg, s, self.length, self.role, self.out)
        return s


def translated(model, pairs):
    """G(A) of every (A, B) pair (each [1, H, W, C]) in the run's test mode."""
    return [model.translate(a).numpy() for a, _b in pairs]


def mean_l1(pairs, outputs):
    """Mean |G(A) - B| over every pixel of ``pairs`` given their ``outputs``, in [-1, 1]."""
    total = count = 0.0
    for (_a, b), fake in zip(pairs, outputs):
        total += float(np.abs(fake - b.numpy()).sum())
        count += fake.size
    return total / count


def hparam_values(cfg):
    """The config's leaves as HParams values (bool, int, float or str)."""
    return {key: C.get(cfg, key) for key, _f, _t in C.leaves()}
