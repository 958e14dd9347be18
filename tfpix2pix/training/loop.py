"""The training loop: data -> strategy -> model -> resume -> steps, logging, checkpoints."""

import hashlib
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from ..data import folder, pipeline
from ..errors import UserError
from . import run_dir as run_folder
from .progress import Progress
from .cluster import Role
from .step import Pix2Pix
from .strategy import make_strategy
from .stop import StopRequest
from .summaries import IntervalMeans, Summaries, image_grid

# D's mean outputs go to TensorBoard as D/...; every other metric is a loss term.
D_OUTPUTS = {"D_x": "D/real_mean", "D_G_z": "D/fake_mean"}
# How a collective operation fails when a worker of a multi-worker run is gone.
WORKER_LOST = (tf.errors.UnavailableError, tf.errors.CancelledError,
               tf.errors.DeadlineExceededError, tf.errors.AbortedError)


def train(cfg, files=None, out=None, err=None, stop=None, strategy=None):
    """Train (or resume) the run described by ``cfg``. Returns a small summary dict.

    ``files`` is ``folder.find_splits``'s answer if the caller already has it;
    ``out`` gets the final report, ``err`` the progress bar (default: stdout, stderr).
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
    if strategy is None:
        try:
            strategy = make_strategy(cfg.train.strategy)
        except RuntimeError as exc:  # "Collective ops must be configured at program startup"
            raise UserError(f"--strategy {cfg.train.strategy}: MultiWorkerMirroredStrategy "
                            f"could not start ({exc}); it must be created before TensorFlow "
                            "runs any op, so train with python -m tfpix2pix.train, or pass "
                            "train(..., strategy=) one made at the start of your program"
                            ) from None
    role = Role(strategy)
    d = cfg.data
    train_paths, val_paths = files or folder.find_splits(d.path, dataset_mode=d.dataset_mode)
    grid_paths = (val_paths or train_paths)[:cfg.log.num_images]
    # How pixels are read, for the checks and every pipeline: preprocessing and channels.
    reading = dict(preprocess=d.preprocess, load_size=d.load_size, crop_size=d.crop_size,
                   input_nc=d.input_nc, output_nc=d.output_nc)
    info = folder.check_images(train_paths, grid_paths, *([val_paths] if val_paths else []),
                               decode=d.cache == "none", direction=d.direction,
                               batch_size=cfg.train.batch_size, **reading)
    run_dir = cfg.run_dir
    if role.chief:
        run_folder.prepare(cfg)
    else:
        run_folder.check_compatible(cfg, run_dir)
    keras.utils.set_random_seed(cfg.train.seed)

    replicas = strategy.num_replicas_in_sync
    batch = cfg.train.batch_size
    if batch % replicas:
        raise UserError(f"--batch-size {batch} does not split across {replicas} replicas; "
                        f"use a multiple of {replicas}")
    per_epoch = pipeline.steps_per_epoch(len(train_paths), batch)
    if per_epoch == 0:
        raise UserError(f"--batch-size {batch} is larger than the {len(train_paths)} training "
                        "pairs; lower it")
    epochs = cfg.train.n_epochs + cfg.train.n_epochs_decay
    total = epochs * per_epoch
    stop_at = min(total, cfg.train.max_steps) if cfg.train.max_steps else total

    model = Pix2Pix(cfg, strategy, per_epoch)
    losses = [k for k in model.metric_names if k not in D_OUTPUTS]  # progress bar, TensorBoard
    checkpoint = model.checkpoint()
    manager = tf.train.CheckpointManager(
        checkpoint, os.path.join(role.write_dir(run_dir), "checkpoints"),
        max_to_keep=cfg.log.keep_checkpoints, step_counter=model.step, checkpoint_name="ckpt")
    latest = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))  # the chief's
    if latest:
        model.restore(latest)
    start = int(model.step.numpy())
    role.agree_on_start(start)
    summary = {"run_dir": run_dir, "start_step": start, "step": start, "total_steps": total,
               "steps_per_epoch": per_epoch, "precision": model.precision, "jit": model.jit,
               "replicas": replicas, "workers": role.workers, "role": role.name}
    if start >= stop_at:
        print(f"{run_dir}: already at step {start} of {stop_at}; nothing to do (raise --epochs or "
              "--max-steps to train further)", file=out)
        return summary
    if start:
        print(f"Resuming {run_dir} at step {start} (epoch {start // per_epoch + 1}).", file=out)

    def fixed(pairs):  # (A, B) per pair at their evaluation size, no jitter
        return pipeline.eval_pairs(pairs, direction=d.direction, bit_depth=info.bit_depth,
                                   as_list=True, **reading)

    val_pairs = fixed(val_paths) if val_paths else None
    # With a val split the grid's pairs are its first ones: decoded and translated once.
    grid_pairs = val_pairs[:len(grid_paths)] if val_pairs else fixed(grid_paths)
    data = pipeline.TrainData(
        train_paths, direction=d.direction, flip=not d.no_flip, seed=cfg.train.seed,
        global_batch=batch, cache=d.cache, cache_dir=os.path.join(run_dir, "cache"),
        bit_depth=info.bit_depth, **reading)
    batches = data.distribute(strategy, start)
    summaries = Summaries(run_dir if role.chief else None)
    if start == 0:
        summaries.hparams(hparam_values(cfg), trial_id=cfg.name)
    progress = Progress(start, total, per_epoch, batch, line_every=cfg.log.log_every, stream=err)
    per_call = cfg.train.steps_per_call

    def write_grid(step):
        # Every worker translates (the same collective reads everywhere); the chief writes.
        outputs = translated(model, val_pairs or grid_pairs)  # the grid's come first
        path = summaries.grid(step, image_grid([a[0] for a, _ in grid_pairs],
                                               [f[0] for f in outputs[:len(grid_pairs)]],
                                               [b[0] for _, b in grid_pairs]))
        if val_pairs:
            summary["val_l1"] = mean_l1(val_pairs, outputs)
            summaries.scalars(step, {"val/L1": summary["val_l1"]})
        return path

    def run_steps(step, count):
        """``count`` steps from ``step`` in one call; their mean metrics as floats."""
        try:
            if per_call == 1:
                metrics = model.train_step(next(batches))
            else:
                metrics = model.train_steps(batches, tf.constant(count))
            return {k: float(v) for k, v in metrics.items()}
        except tf.errors.OpError as exc:
            first = str(exc.message).strip().splitlines()[0]
            if role.multiworker and isinstance(exc, WORKER_LOST):
                last = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
                raise UserError(f"{role.name}: lost contact with another worker at step {step} "
                                f"({type(exc).__name__}); restart every worker with the same "
                                f"command to resume from the chief's last checkpoint ({last})"
                                ) from None
            # Files that changed or vanished after the check.
            raise UserError(f"--data {cfg.data.path}: reading the training images failed at "
                            f"step {step} ({first}); check that the files did not change") from None

    def due(every, before, after):  # a multiple of ``every`` in (before, after]
        return after // every > before // every or after == stop_at

    interval = IntervalMeans()
    step, grid_path, metrics, t0 = start, None, {}, time.perf_counter()
    saved = start if latest else None

    def save():  # at most once per step: a stop right after a periodic save adds nothing
        nonlocal saved
        if saved != step:
            manager.save(checkpoint_number=model.step)
            saved = step

    # The stop request is checked only here, between calls (see stop.py); the workers of a
    # multi-worker run agree on it, so that all of them stop after the same step.
    remote_stop = False

    def stopping():
        nonlocal remote_stop
        agreed = role.agreed_signal(stop.signum)
        if agreed is not None and agreed != stop.signum:
            stop.adopt(agreed)  # asked on another worker: stop and exit as every worker does
            remote_stop = True
        return agreed is not None

    stopped = False
    try:
        if start == 0 and not (stopped := stopping()):
            grid_path = write_grid(0)  # the untrained generator, for comparison
        while step < stop_at and not stopped and not (stopped := stopping()):
            count = min(per_call, stop_at - step)
            began = time.perf_counter()
            metrics = run_steps(step, count)
            interval.add(metrics, seconds=time.perf_counter() - began, steps=count)
            before, step = step, step + count
            progress.update(step, {k: metrics[k] for k in losses})
            if due(cfg.log.log_every, before, step):
                means = interval.pop()
                scalars = {f"loss/{k}": means[k] for k in losses}
                scalars.update({tag: means[k] for k, tag in D_OUTPUTS.items() if k in means})
                scalars.update({"lr": float(model.lr_schedule(step - 1)),
                                "perf/images_per_sec": means["steps_per_sec"] * batch})
                summaries.scalars(step, scalars)
            if due(cfg.log.image_every, before, step):
                grid_path = write_grid(step) or grid_path
            if due(cfg.log.checkpoint_every, before, step):
                save()
        if stopped:
            save()
        elif metrics:
            progress.update(step, {k: metrics[k] for k in losses}, force=True)
    finally:
        progress.close()
        summaries.close()
        role.clean_up()
    summary.update(step=step, seconds=time.perf_counter() - t0, last_grid=grid_path,
                   metrics=metrics)
    if role.multiworker:
        summary["weights_sha256"] = weights_digest(model)
    if stopped:
        name = stop.name + (" on another worker" if remote_stop else "")
        summary["stopped_by"] = stop.name
        print(f"Stopped by {name} at step {step}; checkpoint saved in "
              f"{os.path.join(run_dir, 'checkpoints')}. Rerun the same command to resume.",
              file=out)
        return summary
    _report(cfg, summary, stop_at, out, role)
    return summary


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
    from .. import config as C
    return {key: C.get(cfg, key) for key, _f, _t in C.leaves()}


def weights_digest(model):
    """SHA-256 of G's and D's trainable weights: equal on workers that are in sync."""
    digest = hashlib.sha256()
    for net in (model.generator, model.discriminator):
        for variable in net.trainable_variables if net is not None else ():
            digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.hexdigest()


def _report(cfg, s, stop, out, role):
    run_dir = s["run_dir"]
    state = "Finished" if stop == s["total_steps"] else "Stopped (--max-steps)"
    if role.multiworker:
        print(f"\n{role.name} of {role.workers} workers: {state.lower()} at step {s['step']}; "
              f"weights sha256 {s['weights_sha256'][:16]}", file=out)
        if not role.chief:
            return
    print(f"\n{state} at step {s['step']} of {s['total_steps']} in {s['seconds']:.0f} s.\n"
          f"  run folder:  {run_dir}  (config.yaml, checkpoints/, images/)\n"
          f"  image grid:  {s['last_grid']}  (rows: input | output | target)\n"
          + (f"  val L1:      {s['val_l1']:.4f}  (mean |G(A) - B| over the val split)\n"
             if "val_l1" in s else "") +
          f"  TensorBoard: tensorboard --logdir {os.path.dirname(run_dir) or '.'}", file=out)
    if stop < s["total_steps"]:
        print("  Rerun the same command without --max-steps to continue.", file=out)
    if cfg.data.path.startswith(folder.BUILTIN_PREFIX):
        print("\nTrain the paper's model on facades (labels -> photo is BtoA):\n"
              "  python -m tfpix2pix.train --config experiments/facades.yaml "
              "--data /path/to/facades", file=out)
