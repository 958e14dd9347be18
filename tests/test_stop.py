"""Stopping a run with Ctrl-C (SIGINT) or SIGTERM: at any moment, after at most one step.

In-process tests send real signals to this process (``os.kill(os.getpid(), ...)``) from
inside the moment under test, so they pin the step at which the run must stop without
depending on speed. Subprocess tests check the command's exit codes and that a stopped
and resumed run ends where an uninterrupted one does. Every wait is bounded by an event
(a line printed, a file written) with a generous limit, never by a sleep.
"""

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import tensorflow as tf
from conftest import assert_same_state, checkpoint_state, command_env, tiny_config

from tfpix2pix import run_folder
from tfpix2pix.data import pipeline
from tfpix2pix.training import loop, summaries
from tfpix2pix.training.step import Pix2Pix

LIMIT = 300  # seconds allowed for any one event; a slow CPU needs ~20 s for the slowest


# --- in process: a signal at a chosen moment -----------------------------------------------

def _config(pairs_dir, run_dir):
    # 8 pairs at batch 2: 4 steps per epoch, 40 in all. Scalars every 5 steps, a grid and a
    # checkpoint every 10.
    return tiny_config(pairs_dir, run_dir, train={"n_epochs": 10, "n_epochs_decay": 0},
                       log={"log_every": 5, "image_every": 10, "checkpoint_every": 10})


def _kill_on_call(calls, signum=signal.SIGINT):
    """A hook that sends ``signum`` to this process on the given call numbers (1-based)."""
    count = {"n": 0}

    def hook():
        count["n"] += 1
        if count["n"] in calls:
            os.kill(os.getpid(), signum)
    return hook


def _wrap(monkeypatch, owner, name, hook, before=True):
    original = getattr(owner, name)

    def wrapped(*args, **kwargs):
        if before:
            hook()
        result = original(*args, **kwargs)
        if not before:
            hook()
        return result
    monkeypatch.setattr(owner, name, wrapped)


def _wrap_instance_step(monkeypatch, hook):
    """Call ``hook`` at the start of every ``model.train_step`` call."""
    init = Pix2Pix.__init__

    def patched_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        step = self.train_step

        def train_step(batch):
            hook()
            return step(batch)
        self.train_step = train_step
    monkeypatch.setattr(Pix2Pix, "__init__", patched_init)


def _wrap_stream(monkeypatch, hook):
    """Call ``hook`` each time the data stream produces a batch."""
    distribute = pipeline.TrainData.distribute

    def patched(self, *args, **kwargs):
        for batch in distribute(self, *args, **kwargs):
            hook()
            yield batch
    monkeypatch.setattr(pipeline.TrainData, "distribute", patched)


POINTS = {
    # name: (how to inject the signal, the step the run must stop at)
    "start-up, before the model is built": (
        lambda mp: _wrap(mp, loop, "make_strategy", _kill_on_call({1})), 0),
    "while the step is being traced": (
        lambda mp: _wrap(mp, Pix2Pix, "_replica_step", _kill_on_call({1})), 1),
    "mid-epoch, as a step starts": (
        lambda mp: _wrap_instance_step(mp, _kill_on_call({3})), 3),
    "in the data pipeline": (
        lambda mp: _wrap_stream(mp, _kill_on_call({6})), 6),
    "while scalars are written": (  # call 1 is step 0's val/L1, with the first grid
        lambda mp: _wrap(mp, summaries.Summaries, "scalars", _kill_on_call({2})), 5),
    "while a grid is written": (  # grid 1 is step 0's, grid 2 is step 10's
        lambda mp: _wrap(mp, summaries.Summaries, "grid", _kill_on_call({2})), 10),
    "during a periodic checkpoint save": (
        lambda mp: _wrap(mp, tf.train.CheckpointManager, "save", _kill_on_call({1})), 10),
    "SIGTERM mid-epoch": (
        lambda mp: _wrap_instance_step(mp, _kill_on_call({7}, signal.SIGTERM)), 7),
}


def _restorable(run_dir, step):
    """The latest checkpoint is ckpt-<step> and restores every object of a fresh model."""
    latest = run_folder.latest_checkpoint(run_dir)
    assert latest and latest.endswith(f"ckpt-{step}"), latest
    cfg = _config("unused", run_dir)
    model = Pix2Pix(cfg, tf.distribute.get_strategy(), steps_per_epoch=4)
    model.checkpoint().restore(latest).assert_existing_objects_matched()
    assert int(model.step.numpy()) == step


@pytest.mark.parametrize("point", list(POINTS))
def test_a_signal_at_any_moment_stops_after_that_step_with_a_checkpoint(
        point, pairs_dir, tmp_path, monkeypatch, capsys):
    inject, expected_step = POINTS[point]
    inject(monkeypatch)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    summary = loop.train(_config(pairs_dir, tmp_path / "run"))
    assert summary["stopped_by"] == ("SIGTERM" if "SIGTERM" in point else "SIGINT")
    assert summary["step"] == expected_step
    assert f"at step {expected_step}; checkpoint saved" in capsys.readouterr().out
    # One checkpoint: the stop's (a stop right after the periodic save at 10 adds none).
    indexes = [n for n in os.listdir(run_folder.checkpoints_dir(tmp_path / "run"))
               if n.endswith(".index")]
    assert indexes == [f"ckpt-{expected_step}.index"]
    _restorable(tmp_path / "run", expected_step)
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # handlers given back


def test_a_second_signal_during_the_final_save_keeps_the_previous_checkpoint(
        pairs_dir, tmp_path, monkeypatch):
    # The first Ctrl-C comes as step 12 starts (ckpt-10 exists). The second arrives after the
    # files of ckpt-12 are written but before the manager records it as the latest, the last
    # moment at which the old checkpoint could be lost. The manager calls _record_state twice
    # per save (before and after deleting old files): calls 1-2 are ckpt-10's, 3 is ckpt-12's.
    _wrap_instance_step(monkeypatch, _kill_on_call({12}))
    _wrap(monkeypatch, tf.train.CheckpointManager, "_record_state", _kill_on_call({3}))
    with pytest.raises(KeyboardInterrupt):
        loop.train(_config(pairs_dir, tmp_path / "run"))
    _restorable(tmp_path / "run", 10)


# --- the real command, in a subprocess ------------------------------------------------------

def _argv(pairs_dir, run_dir, *extra):
    return [sys.executable, "-m", "tfpix2pix.train", "--data", str(pairs_dir),
            "--run-dir", str(run_dir), "--load-size", "72", "--crop-size", "64",
            "--netG", "unet_64", "--ngf", "8", "--ndf", "8", "--batch-size", "2",
            "--epochs", "500", "--n-epochs-decay", "0", "--log-every", "1",
            "--checkpoint-every", "1000", *extra]


class Command:
    """A running ``python -m tfpix2pix.train``, its stderr read line by line in a thread."""

    def __init__(self, argv):
        env = command_env()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_line(self, fragment):
        deadline = time.monotonic() + LIMIT
        while True:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.001))
            assert line is not None, f"the command ended before printing {fragment!r}"
            if fragment in line:
                return line

    def finish(self):
        """Wait for the exit; return (exit status, stdout)."""
        try:
            self.proc.wait(timeout=LIMIT)
            return self.proc.returncode, self.proc.stdout.read()
        finally:
            self.proc.kill()


def _run(argv):
    env = command_env()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=LIMIT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


# SIGTERM, what schedulers send; SIGINT's exit status and checkpoint through the real command
# are checked by test_ctrl_c_right_after_start_up_exits_130_with_a_checkpoint, and the two
# signals take the same path in the loop (the in-process tests above run both).
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143)], ids=["SIGTERM"])
def test_stopped_and_resumed_run_ends_where_an_uninterrupted_one_does(
        signum, code, pairs_dir, tmp_path):
    run_dir = tmp_path / "stopped"
    command = Command(_argv(pairs_dir, run_dir))
    command.wait_for_line(" step 3/")  # a progress line per step: step 3 is done
    command.proc.send_signal(signum)
    returncode, out = command.finish()
    name = signal.Signals(signum).name
    assert returncode == code, out
    stopped = int(re.search(rf"Stopped by {name} at step (\d+); checkpoint saved", out).group(1))
    assert stopped >= 3 and "Rerun the same command to resume" in out
    assert run_folder.latest_checkpoint(run_dir).endswith(f"ckpt-{stopped}")

    until = ["--max-steps", str(stopped + 3)]
    resumed = _run(_argv(pairs_dir, run_dir, *until))
    assert f"Resuming {run_dir} at step {stopped} " in resumed
    _run(_argv(pairs_dir, tmp_path / "straight", *until))
    assert_same_state(checkpoint_state(run_dir), checkpoint_state(tmp_path / "straight"))


def test_ctrl_c_right_after_start_up_exits_130_with_a_checkpoint(pairs_dir, tmp_path):
    run_dir = tmp_path / "run"
    command = Command(_argv(pairs_dir, run_dir))
    config = run_folder.config_path(run_dir)
    deadline = time.monotonic() + LIMIT
    while not os.path.exists(config):  # written once the flags and data are checked
        assert command.proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    command.proc.send_signal(signal.SIGINT)
    returncode, out = command.finish()
    assert returncode == 130, out
    stopped = int(re.search(r"Stopped by SIGINT at step (\d+); checkpoint saved", out).group(1))
    reader = tf.train.load_checkpoint(run_folder.latest_checkpoint(run_dir))
    assert reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == stopped
