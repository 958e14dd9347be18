"""What a training run says: its start-up line, why there is nothing to do, how it ended.

Each is printed once, to the run's ``out`` stream (the progress bar has ``err``).
"""

import os
import shlex
import sys
from typing import NamedTuple

from .. import run_folder
from ..data import folder


class RunLength(NamedTuple):
    """How long a run is, in global steps."""

    per_epoch: int
    epochs: int  # --epochs + --n-epochs-decay
    total: int  # where the learning-rate schedule ends: epochs * per_epoch
    stop_at: int  # where this command stops: total, or --max-steps if that comes first


def epochs(count):
    """"1 epoch", "18 epochs"."""
    return f"{count} epoch" + ("" if count == 1 else "s")


def start_up_line(cfg, role, pairs, length, start):
    """Run folder, data, model, the steps to do from ``start`` and where TensorBoard should
    look, in one line. ``pairs`` is (train paths, val paths)."""
    d, m, t = cfg.data, cfg.model, cfg.train
    who = f"{role.name} of {role.workers} workers: " if role.multiworker else ""
    if start:
        opening = f"Resuming {cfg.run_dir} at step {start} (epoch {start // length.per_epoch + 1})"
    else:
        opening = f"Training {cfg.run_dir}"
    train, val = pairs
    splits = f"{len(train)} train" + (f" + {len(val)} val" if val else "")
    nets = f"netG {m.netG}" + ("" if t.no_gan else f", netD {m.netD}")
    until = (f"to step {length.stop_at} of {length.total}" if length.stop_at < length.total
             else f"to step {length.total}, {epochs(length.epochs)} of {length.per_epoch}")
    return (f"{who}{opening}: data {d.path} {d.direction} ({splits} pairs), {nets}; "
            f"{length.stop_at - start} steps to do ({until}). TensorBoard: "
            f"{run_folder.tensorboard_command(cfg.run_dir)}")


def nothing_to_do(cfg, length, start):
    """Why a run at ``start`` has nothing to do, and what would train it further.

    ``--max-steps`` only stops a run early: the epochs set the learning-rate schedule (the
    linear policy decays to zero at its end), so a run is extended by its epochs, as in
    the PyTorch reference.
    """
    t = cfg.train
    if start < length.total:  # stopped by --max-steps, before the schedule's end
        return (f"{cfg.run_dir}: already at step {start} (--max-steps {t.max_steps}); "
                "nothing to do. Raise --max-steps, or leave it out to train to the "
                f"schedule's end at step {length.total}")
    return (f"{cfg.run_dir}: already at step {start}, the end of its {epochs(length.epochs)} "
            f"(--epochs {t.n_epochs} + --n-epochs-decay {t.n_epochs_decay}); nothing to do. "
            "To train longer, raise --epochs or --n-epochs-decay (the learning-rate schedule "
            "follows the new length); --max-steps cannot go past the schedule's end")


def stopped(summary, name):
    """A run stopped by the signal ``name`` (and where to resume it)."""
    return (f"Stopped by {name} at step {summary['step']}; checkpoint saved in "
            f"{run_folder.checkpoints_dir(summary['run_dir'])}. Rerun the same command to "
            "resume.")


def finished(cfg, s, length, role, out):
    """The end-of-run report: where the run folder, the last grid, the val L1 and the
    TensorBoard command are; a multi-worker run's workers add their weights' digest."""
    run_dir = s["run_dir"]
    state = "Finished" if length.stop_at == length.total else "Stopped (--max-steps)"
    if role.multiworker:
        print(f"\n{role.name} of {role.workers} workers: {state.lower()} at step {s['step']}; "
              f"weights sha256 {s['weights_sha256'][:16]}", file=out)
        if not role.chief:
            return
    layout = f"{run_folder.CONFIG_FILE}, {run_folder.CHECKPOINTS}/, {run_folder.IMAGES}/"
    print(f"\n{state} at step {s['step']} of {length.total} in {s['seconds']:.0f} s.\n"
          f"  run folder:  {run_dir}  ({layout})\n"
          f"  image grid:  {s['last_grid']}  (rows: input | output | target)\n"
          + (f"  val L1:      {s['val_l1']:.4f}  (mean |G(A) - B| over the val split)\n"
             if "val_l1" in s else "") +
          f"  TensorBoard: {run_folder.tensorboard_command(run_dir)}", file=out)
    if length.stop_at < length.total:
        print("  To continue, rerun the same command with --max-steps 0 (train to the end) or a "
              "higher step.", file=out)
    if cfg.data.path.startswith(folder.BUILTIN_PREFIX):
        python = _python()
        print("\nTrain the paper's model on facades (labels -> photo is BtoA):\n"
              f"  {python} -m tfpix2pix.data download facades\n"
              f"  {python} -m tfpix2pix.train --config experiments/facades.yaml "
              "--data datasets/facades", file=out)


def _python():
    """This Python as a command to type: relative to the current folder when inside it
    (.venv/bin/python), so that it works with the venv not activated."""
    relative = os.path.relpath(sys.executable)
    return shlex.quote(sys.executable if relative.startswith("..") else relative)
