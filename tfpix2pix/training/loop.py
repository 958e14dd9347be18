"""The training loop: data -> strategy -> model -> resume -> steps, logging, checkpoints."""

import os
import sys
import time

import keras
import tensorflow as tf

from ..data import folder, pipeline
from ..errors import UserError
from . import run_dir as run_folder
from .progress import Progress
from .step import Pix2Pix, make_strategy
from .stop import StopRequest
from .summaries import IntervalMeans, Summaries, image_grid

LOSSES = ("G_GAN", "G_L1", "D_real", "D_fake")  # shown in the progress bar and TensorBoard


def train(cfg, files=None, out=None, err=None, stop=None):
    """Train (or resume) the run described by ``cfg``. Returns a small summary dict.

    ``files`` is ``folder.find_pairs``'s answer if the caller already has it;
    ``out`` gets the final report, ``err`` the progress bar (default: stdout, stderr).
    ``stop`` is a ``StopRequest`` whose signal handlers the caller has installed
    (the CLI does so first thing); without it, ``train`` installs its own. On
    Ctrl-C or SIGTERM the run stops after the current step, saves a checkpoint
    and returns with ``summary["stopped_by"]`` set to the signal's name.
    """
    out, err = out or sys.stdout, err or sys.stderr
    if stop is None:
        with StopRequest() as own:
            return _train(cfg, files, out, err, own)
    return _train(cfg, files, out, err, stop)


def _train(cfg, files, out, err, stop):
    train_paths, grid_paths = files or folder.find_pairs(cfg.data.path, cfg.log.num_images)
    folder.check_images(train_paths + [p for p in grid_paths if p not in train_paths])
    run_dir = run_folder.prepare(cfg)
    keras.utils.set_random_seed(cfg.train.seed)

    strategy = make_strategy(cfg.train.strategy)
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
    checkpoint = model.checkpoint()
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(run_dir, "checkpoints"),
                                         max_to_keep=cfg.log.keep_checkpoints,
                                         step_counter=model.step, checkpoint_name="ckpt")
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    start = int(model.step.numpy())
    summary = {"run_dir": run_dir, "start_step": start, "step": start, "total_steps": total,
               "steps_per_epoch": per_epoch}
    if start >= stop_at:
        print(f"{run_dir}: already at step {start} of {stop_at}; nothing to do (raise --epochs or "
              "--max-steps to train further)", file=out)
        return summary
    if start:
        print(f"Resuming {run_dir} at step {start} (epoch {start // per_epoch + 1}).", file=out)

    grid_a, grid_b = pipeline.eval_pairs(grid_paths, cfg.data.crop_size, cfg.data.direction)
    data = pipeline.TrainData(
        train_paths, load_size=cfg.data.load_size, crop_size=cfg.data.crop_size,
        direction=cfg.data.direction, flip=not cfg.data.no_flip, seed=cfg.train.seed,
        global_batch=batch, cache=cfg.data.cache)
    batches = data.stream(start, distribute=strategy.experimental_distribute_dataset)
    summaries = Summaries(run_dir)
    progress = Progress(start, total, per_epoch, batch, line_every=cfg.log.log_every, stream=err)

    def write_grid(step):
        return summaries.grid(step, image_grid(grid_a, model.translate(grid_a), grid_b))

    def next_batch(step):
        try:
            return next(batches)
        except tf.errors.OpError as exc:  # files that changed or vanished after the check
            first = str(exc.message).strip().splitlines()[0]
            raise UserError(f"--data {cfg.data.path}: reading the training images failed at "
                            f"step {step} ({first}); check that the files did not change") from None

    interval = IntervalMeans()
    step, grid_path, metrics, t0 = start, None, {}, time.perf_counter()
    saved = start if manager.latest_checkpoint else None

    def save():  # at most once per step: a stop right after a periodic save adds nothing
        nonlocal saved
        if saved != step:
            manager.save(checkpoint_number=model.step)
            saved = step

    # The stop request is checked only here, between steps (see stop.py).
    try:
        if start == 0 and not stop.requested:
            grid_path = write_grid(0)  # the untrained generator, for comparison
        while step < stop_at and not stop.requested:
            began = time.perf_counter()
            metrics = {k: float(v) for k, v in model.train_step(next_batch(step)).items()}
            interval.add(metrics, seconds=time.perf_counter() - began)
            step += 1
            progress.update(step, {k: metrics[k] for k in LOSSES})
            if step % cfg.log.log_every == 0 or step == stop_at:
                means = interval.pop()
                scalars = {f"loss/{k}": means[k] for k in LOSSES}
                scalars.update({"D/real_mean": means["D_x"], "D/fake_mean": means["D_G_z"],
                                "lr": float(model.lr_schedule(step - 1)),
                                "perf/images_per_sec": means["steps_per_sec"] * batch})
                summaries.scalars(step, scalars)
            if step % cfg.log.image_every == 0 or step == stop_at:
                grid_path = write_grid(step)
            if step % cfg.log.checkpoint_every == 0 or step == stop_at:
                save()
        if stop.requested:
            save()
        elif metrics:
            progress.update(step, {k: metrics[k] for k in LOSSES}, force=True)
    finally:
        progress.close()
        summaries.close()
    summary.update(step=step, seconds=time.perf_counter() - t0, last_grid=grid_path,
                   metrics=metrics)
    if stop.requested:
        summary["stopped_by"] = stop.name
        print(f"Stopped by {stop.name} at step {step}; checkpoint saved in "
              f"{os.path.join(run_dir, 'checkpoints')}. Rerun the same command to resume.",
              file=out)
        return summary
    _report(cfg, summary, stop_at, out)
    return summary


def _report(cfg, s, stop, out):
    run_dir = s["run_dir"]
    state = "Finished" if stop == s["total_steps"] else "Stopped (--max-steps)"
    print(f"\n{state} at step {s['step']} of {s['total_steps']} in {s['seconds']:.0f} s.\n"
          f"  run folder:  {run_dir}  (config.yaml, checkpoints/, images/)\n"
          f"  image grid:  {s['last_grid']}  (rows: input | output | target)\n"
          f"  TensorBoard: tensorboard --logdir {os.path.dirname(run_dir) or '.'}", file=out)
    if stop < s["total_steps"]:
        print("  Rerun the same command without --max-steps to continue.", file=out)
    if cfg.data.path.startswith(folder.BUILTIN_PREFIX):
        print("\nTrain the paper's model on facades (labels -> photo is BtoA):\n"
              "  python -m tfpix2pix.train --config experiments/facades.yaml "
              "--data /path/to/facades", file=out)
