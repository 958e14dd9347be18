"""MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1, through the real command."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf
from conftest import feeds_instance_norm

from tfpix2pix import config as C
from tfpix2pix.training.run_dir import saved_config
from tfpix2pix.training.step import Pix2Pix

LIMIT = 300  # seconds allowed for any one event (start-up, a run, noticing a lost worker)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _argv(pairs_dir, run_dir, *extra):
    # Instance norm and no dropout: every example's update is independent of how the global
    # batch is split, so two workers of one replica each must match one process on batch 2.
    return [sys.executable, "-m", "tfpix2pix.train", "--data", str(pairs_dir),
            "--run-dir", str(run_dir), "--load-size", "72", "--crop-size", "64",
            "--netG", "unet_64", "--ngf", "8", "--ndf", "8", "--norm", "instance",
            "--no-dropout", "--batch-size", "2", "--seed", "3", "--log-every", "2",
            "--image-every", "4", "--checkpoint-every", "4", *extra]


def _start(argv, task=None, ports=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    if task is not None:
        env["TF_CONFIG"] = json.dumps({
            "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
            "task": {"type": "worker", "index": task}})
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def _finish(proc):
    try:
        out, err = proc.communicate(timeout=LIMIT)
        return proc.returncode, out, err
    finally:
        proc.kill()


def _two_workers(argv_of):
    """Run worker 0 (the chief) and worker 1 together; return their (status, out, err)."""
    ports = _free_ports(2)
    procs = [_start(argv_of(i), i, ports) for i in range(2)]
    return [_finish(p) for p in procs]


def _digest(out):
    return re.search(r"of 2 workers: finished at step \d+; weights sha256 (\w+)", out).group(1)


def test_two_workers_train_like_one_process_and_only_the_chief_writes(pairs_dir, tmp_path):
    runs = [tmp_path / "chief", tmp_path / "worker1"]  # as on two hosts without shared storage
    (chief, worker) = _two_workers(
        lambda i: _argv(pairs_dir, runs[i], "--epochs", "1", "--n-epochs-decay", "1"))
    for status, out, err in (chief, worker):
        assert status == 0, err[-3000:]
        # Nothing but the progress lines: no TensorFlow warnings reach the user.
        assert [line for line in err.splitlines() if not line.startswith("epoch ")] == [], err
    assert "chief of 2 workers: finished at step 8" in chief[1]
    assert "worker 1 of 2 workers: finished at step 8" in worker[1]
    # Both hold identical weights: the gradients are all-reduced, each applies the same sum.
    assert _digest(chief[1]) == _digest(worker[1])

    written = sorted(os.listdir(runs[0]))
    assert "config.yaml" in written and "checkpoints" in written and "images" in written
    assert any(name.startswith("events.out.tfevents") for name in written)
    assert tf.train.latest_checkpoint(str(runs[0] / "checkpoints")).endswith("ckpt-8")
    assert not runs[1].exists()  # its scratch checkpoints went to a deleted temp folder

    single = tmp_path / "single"
    done = subprocess.run(_argv(pairs_dir, single, "--epochs", "1", "--n-epochs-decay", "1",
                                "--strategy", "default"),
                          capture_output=True, text=True, timeout=LIMIT,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-3000:]
    two, one = _trained_weights(runs[0]), _trained_weights(single)
    assert two.keys() == one.keys() and len(one) >= 20
    for key in one:
        # Same initial weights, same 8 updates of the same global batches, summed in another
        # order: the weights agree to a few 1e-6 of their norm (measured on a Zen 3: at most
        # 1.4e-5, the innermost conv's bias). 8 Adam steps move them by ~1e-2 of their norm
        # in directions set by the data, so a worker that applied only its own gradient, or
        # read other pairs, differs by far more than the bound. (A wrong gradient scale
        # would not show here, Adam undoes it: test_distribute.py checks the scale.)
        relative = np.linalg.norm(two[key] - one[key]) / np.linalg.norm(one[key])
        assert relative < 1e-4, key


def _trained_weights(run_dir):
    """{path: value} of G's and D's trainable weights in the run's latest checkpoint, but
    for conv biases that feed an instance norm (their gradient is rounding noise)."""
    cfg = C.apply_overrides(C.Config(), saved_config(str(run_dir)), "config.yaml")
    model = Pix2Pix(cfg, tf.distribute.get_strategy(), steps_per_epoch=1)
    model.restore(tf.train.latest_checkpoint(str(run_dir / "checkpoints")))
    return {v.path: v.numpy() for net in (model.generator, model.discriminator)
            for v in net.trainable_variables if not feeds_instance_norm(net, v)}

def _two_workers_past_the_first_checkpoint(argv, run_dir):
    """Start worker 0 (the chief) and worker 1; return them once the chief has saved its
    first checkpoint (step 4)."""
    ports = _free_ports(2)
    chief, worker = (_start(argv, i, ports) for i in range(2))
    state = run_dir / "checkpoints" / "checkpoint"
    deadline = time.monotonic() + LIMIT
    while not state.exists():
        assert chief.poll() is None and time.monotonic() < deadline, chief.stderr.read()
        time.sleep(0.05)
    return chief, worker


def test_a_killed_worker_is_reported_and_a_restart_resumes_from_the_chiefs_checkpoint(
        pairs_dir, tmp_path):
    run_dir = tmp_path / "run"  # one folder for both, as on one machine or shared storage
    argv = _argv(pairs_dir, run_dir, "--epochs", "15", "--n-epochs-decay", "1")  # 64 steps
    chief, worker = _two_workers_past_the_first_checkpoint(argv, run_dir)
    worker.send_signal(signal.SIGKILL)
    _finish(worker)
    status, _out, err = _finish(chief)  # it notices the lost peer and stops with one line
    assert status == 2, err[-3000:]
    message = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(message) == 1 and "lost contact with another worker" in message[0]
    assert "restart every worker with the same command" in message[0]
    assert "Traceback" not in err
    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    saved = int(latest.rsplit("-", 1)[1])
    assert 4 <= saved < 64

    chief, worker = _two_workers(lambda _i: argv)
    for status, out, err in (chief, worker):
        assert status == 0, err[-3000:]
        assert f"Resuming {run_dir} at step {saved} " in out
        assert "of 2 workers: finished at step 64" in out
    assert _digest(chief[1]) == _digest(worker[1])
    assert tf.train.latest_checkpoint(str(run_dir / "checkpoints")).endswith("ckpt-64")


def test_sigterm_on_one_worker_stops_both_after_the_same_step_with_its_exit_status(
        pairs_dir, tmp_path):
    # Preemption of one pod: the other workers must stop with it (not hang in a collective),
    # save one checkpoint at the same step, and exit 143 too, so that a scheduler restarts
    # the job instead of seeing the chief succeed.
    run_dir = tmp_path / "run"
    argv = _argv(pairs_dir, run_dir, "--epochs", "15", "--n-epochs-decay", "1")  # 64 steps
    chief, worker = _two_workers_past_the_first_checkpoint(argv, run_dir)
    worker.send_signal(signal.SIGTERM)
    results = [_finish(p) for p in (chief, worker)]
    steps = []
    for (status, out, err), own in zip(results, (" on another worker", "")):
        assert status == 143, err[-3000:]
        found = re.search(r"Stopped by SIGTERM(.*) at step (\d+); checkpoint saved", out)
        assert found and found.group(1) == own, out
        steps.append(int(found.group(2)))
    assert steps[0] == steps[1] and 4 <= steps[0] < 64
    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    assert latest.endswith(f"ckpt-{steps[0]}")


def test_workers_that_restored_different_steps_refuse_to_train(pairs_dir, tmp_path):
    # Without shared storage a restarted non-chief worker finds no checkpoint: training on
    # would mix step counts, so both workers stop with the same one-line explanation.
    runs = [tmp_path / "chief", tmp_path / "worker1"]
    first = _two_workers(lambda i: _argv(pairs_dir, runs[i], "--epochs", "1",
                                         "--n-epochs-decay", "0", "--max-steps", "2"))
    assert all(status == 0 for status, _o, _e in first)
    again = _two_workers(lambda i: _argv(pairs_dir, runs[i], "--epochs", "1",
                                         "--n-epochs-decay", "0"))
    for status, _out, err in again:
        assert status == 2, err[-3000:]
        assert "the workers restored different steps" in err and "--run-dir" in err
