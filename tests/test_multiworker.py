"""MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1, through the real command."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import command_env, feeds_instance_norm

from tfpix2pix import run_folder
from tfpix2pix.training.step import POISON_ENV, Pix2Pix

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


def _start(argv, task=None, ports=None, **extra_env):
    env = command_env(**extra_env)
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


def _two_workers(argv_of, **extra_env):
    """Run worker 0 (the chief) and worker 1 together; return their (status, out, err)."""
    ports = _free_ports(2)
    procs = [_start(argv_of(i), i, ports, **extra_env) for i in range(2)]
    return [_finish(p) for p in procs]


def _digest(out):
    return re.search(r"of 2 workers: finished at step \d+; weights sha256 (\w+)", out).group(1)


@pytest.mark.onednn
def test_two_workers_train_like_one_process_and_only_the_chief_writes(pairs_dir, tmp_path):
    runs = [tmp_path / "chief", tmp_path / "worker1"]  # as on two hosts without shared storage
    # Step 3's target batch is NaN on the last replica (worker 1's; the single process's
    # only one): the NaN guard of every worker must drop that update, as one process does,
    # or the weights part (or the workers wait on each other for ever).
    poison = {POISON_ENV: "3"}
    (chief, worker) = _two_workers(
        lambda i: _argv(pairs_dir, runs[i], "--epochs", "1", "--n-epochs-decay", "1",
                        "--nan-policy", "skip"), **poison)
    for status, out, err in (chief, worker):
        assert status == 0, err[-3000:]
        # Nothing but the progress lines: no TensorFlow warnings reach the user.
        assert [line for line in err.splitlines() if not line.startswith("epoch ")] == [], err
        assert err.splitlines()[-1].endswith(" skipped 1"), err
    assert "chief of 2 workers: finished at step 8" in chief[1]
    assert "worker 1 of 2 workers: finished at step 8" in worker[1]
    # Both hold identical weights: the gradients are all-reduced, each applies the same sum.
    assert _digest(chief[1]) == _digest(worker[1])

    written = sorted(os.listdir(runs[0]))
    assert {run_folder.CONFIG_FILE, run_folder.CHECKPOINTS, run_folder.IMAGES} <= set(written)
    assert any(name.startswith("events.out.tfevents") for name in written)
    assert run_folder.latest_checkpoint(runs[0]).endswith("ckpt-8")
    assert not runs[1].exists()  # its scratch checkpoints went to a deleted temp folder

    single = tmp_path / "single"
    done = subprocess.run(_argv(pairs_dir, single, "--epochs", "1", "--n-epochs-decay", "1",
                                "--strategy", "default", "--nan-policy", "skip"),
                          capture_output=True, text=True, timeout=LIMIT,
                          env=command_env(**poison))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.splitlines()[-1].endswith(" skipped 1"), done.stderr
    (init, two), (_init, one) = _trained_weights(runs[0]), _trained_weights(single)
    assert two.keys() == one.keys() == init.keys() and len(one) >= 20
    disagreement = {}
    for key in one:
        # Same initial weights, the same 7 updates (step 3 dropped by both), summed in another
        # order. Measured as the part of the training update the two runs disagree on,
        # |two - one| / |one - init|, measured on a Zen 4: at most 2.0e-5 with oneDNN off,
        # 0.041 with it on (dec6's kernel; 0.024 for the innermost conv's bias). oneDNN's
        # kernels sum in other orders at batch 1 and batch 2, and in Adam's first steps an
        # element whose gradient is near zero moves by +-lr whatever its size, so rounding
        # decides its sign. A worker that applied only its own gradient, or read other
        # pairs, moves its weights in other directions: a disagreement of the order of the
        # update itself.
        # (A wrong gradient scale would not show here, Adam undoes it: test_distribute.py
        # checks the scale.)
        moved = np.linalg.norm(one[key] - init[key])
        disagreement[key] = np.linalg.norm(two[key] - one[key]) / moved
    assert max(disagreement.values()) < 0.1, sorted(disagreement.items(), key=lambda kv: kv[1])


def _trained_weights(run_dir):
    """({path: initial value}, {path: value}) of G's and D's trainable weights: as the run
    built them from its seed, and in its latest checkpoint; but for conv biases that feed
    an instance norm (their gradient is rounding noise)."""
    cfg = run_folder.read_config(str(run_dir))
    keras.utils.set_random_seed(cfg.train.seed)  # as training does before building them
    model = Pix2Pix(cfg, tf.distribute.get_strategy(), steps_per_epoch=1)
    weights = [v for net in (model.generator, model.discriminator)
               for v in net.trainable_variables if not feeds_instance_norm(net, v)]
    init = {v.path: v.numpy() for v in weights}
    model.restore(run_folder.latest_checkpoint(run_dir))
    return init, {v.path: v.numpy() for v in weights}

def _two_workers_past_the_first_checkpoint(argv, run_dir):
    """Start worker 0 (the chief) and worker 1; return them once the chief has saved its
    first checkpoint (step 4)."""
    ports = _free_ports(2)
    chief, worker = (_start(argv, i, ports) for i in range(2))
    state = os.path.join(run_folder.checkpoints_dir(run_dir), "checkpoint")
    deadline = time.monotonic() + LIMIT
    while not os.path.exists(state):
        assert chief.poll() is None and time.monotonic() < deadline, chief.stderr.read()
        time.sleep(0.05)
    return chief, worker


def test_a_killed_worker_is_reported_and_a_restart_resumes_from_the_chiefs_checkpoint(
        pairs_dir, tmp_path):
    run_dir = tmp_path / "run"  # one folder for both, as on one machine or shared storage
    # 32 steps, no grids: the restart trains what is left (each step is a collective over
    # gRPC between two processes on the test machine's cores, the slow part of this test).
    argv = _argv(pairs_dir, run_dir, "--epochs", "7", "--n-epochs-decay", "1",
                 "--image-every", "1000")
    chief, worker = _two_workers_past_the_first_checkpoint(argv, run_dir)
    worker.send_signal(signal.SIGKILL)
    _finish(worker)
    status, _out, err = _finish(chief)  # it notices the lost peer and stops with one line
    assert status == 2, err[-3000:]
    message = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(message) == 1 and "lost contact with another worker" in message[0]
    assert "restart every worker with the same command" in message[0]
    assert "Traceback" not in err
    latest = run_folder.latest_checkpoint(run_dir)
    saved = int(latest.rsplit("-", 1)[1])
    assert 4 <= saved < 32

    chief, worker = _two_workers(lambda _i: argv)
    for status, out, err in (chief, worker):
        assert status == 0, err[-3000:]
        assert f"Resuming {run_dir} at step {saved} " in out
        assert "of 2 workers: finished at step 32" in out
    assert _digest(chief[1]) == _digest(worker[1])
    assert run_folder.latest_checkpoint(run_dir).endswith("ckpt-32")


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
    latest = run_folder.latest_checkpoint(run_dir)
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
