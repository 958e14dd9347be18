"""Crash safety of a run folder: SIGKILL inside a checkpoint save, damaged checkpoints (resume,
predict and export fall back to the one before), a full disk, an unwritable folder, two processes
on one folder, a config.yaml from a newer version.

The tests that damage or fill a run work on copies of one run trained once for the module
(``trained``); the kill tests train their own, since the kill is part of the training.

Kills are pinned by hooks, not by timing: a subprocess wraps one function of TensorFlow's save
path so that the process SIGKILLs itself right after it, on a chosen call. A full disk is a
file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored, so a write fails with EFBIG as it would
with ENOSPC), set in this process around the command.
"""

import contextlib
import errno
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from conftest import ROOT, command_env, tiny_config, write_pairs

from tfpix2pix import run_folder
from tfpix2pix.errors import Pix2PixWarning, UserError
from tfpix2pix.training import loop, summaries
from tfpix2pix.training.step import Pix2Pix

LIMIT = 300  # seconds allowed for any subprocess
TESTS = os.path.dirname(os.path.abspath(__file__))
# 32 px crops, a 4-level U-Net: 8 pairs at batch 2 are 4 steps an epoch.
SMALL = {"data": {"load_size": 36, "crop_size": 32}, "model": {"num_downs": 4}}


def _sections(max_steps, keep=3):
    return {**SMALL, "train": {"n_epochs": 10, "n_epochs_decay": 0, "max_steps": max_steps},
            "log": {"log_every": 100, "image_every": 100, "checkpoint_every": 10,
                    "keep_checkpoints": keep}}


def _config(pairs_dir, run_dir, max_steps, keep=3):
    return tiny_config(pairs_dir, run_dir, **_sections(max_steps, keep))


def _cli_argv(pairs_dir, run_dir, max_steps):
    """The command line of ``_config`` (same identity settings)."""
    return ["--data", str(pairs_dir), "--run-dir", str(run_dir), "--load-size", "36",
            "--crop-size", "32", "--netG", "unet_64", "--num-downs", "4", "--ngf", "8",
            "--ndf", "8", "--batch-size", "2", "--seed", "1", "--epochs", "10",
            "--n-epochs-decay", "0", "--max-steps", str(max_steps), "--log-every", "100",
            "--image-every", "100", "--checkpoint-every", "10"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(pairs folder, run folder) of one run trained to step 20: ckpt-10 and ckpt-20. Tests
    work on copies of the run (``_copy``) and leave it as it is."""
    root = tmp_path_factory.mktemp("trained")
    write_pairs(root / "pairs" / "train", 8)
    write_pairs(root / "pairs" / "val", 2, seed=1)
    loop.train(_config(root / "pairs", root / "run", 20))
    return root / "pairs", root / "run"


def _copy(trained, path):
    shutil.copytree(trained[1], path)
    return path


def _restorable(run_dir, step):
    latest = run_folder.latest_checkpoint(run_dir)
    assert latest and latest.endswith(f"ckpt-{step}"), latest
    model = Pix2Pix(_config("unused", run_dir, 0), tf.distribute.get_strategy(),
                    steps_per_epoch=4)
    model.restore(latest)
    assert int(model.step.numpy()) == step


def _listing(folder):
    """Every file under ``folder`` with its size and mtime."""
    found = {}
    for root, _dirs, files in os.walk(folder):
        for name in files:
            st = os.stat(os.path.join(root, name))
            found[os.path.relpath(os.path.join(root, name), folder)] = (st.st_size,
                                                                         st.st_mtime_ns)
    return found


# --- SIGKILL inside a save ------------------------------------------------------------------

KILLER = r"""
import json, os, signal, sys
sys.path.insert(0, sys.argv[1])
from conftest import tiny_config
from tensorflow.python.checkpoint import checkpoint_management, functional_saver
from tfpix2pix.training import loop

owner, name, nth = {"shard": (functional_saver, "_single_shard_save", 2),
                    "sweep": (checkpoint_management, "_delete_file_if_exists", 1)}[sys.argv[2]]
original, calls = getattr(owner, name), [0]

def killing(*args, **kwargs):
    result = original(*args, **kwargs)
    calls[0] += 1
    if calls[0] == nth:
        os.kill(os.getpid(), signal.SIGKILL)
    return result

setattr(owner, name, killing)
loop.train(tiny_config(sys.argv[3], sys.argv[4], **json.loads(sys.argv[5])))
"""

KILL_POINTS = {
    # where the second save (ckpt-20) is killed: (point, keep_checkpoints, the resume step)
    "after the data shard is written, before the index is merged": ("shard", 3, 10),
    "after the new checkpoint is recorded, while the old one is half deleted": ("sweep", 1, 20),
}


@pytest.mark.parametrize("where", list(KILL_POINTS))
def test_a_sigkill_inside_a_save_leaves_a_checkpoint_the_rerun_resumes_from(
        where, pairs_dir, tmp_path):
    point, keep, resumed_at = KILL_POINTS[where]
    run_dir = tmp_path / "run"
    done = subprocess.run([sys.executable, "-c", KILLER, TESTS, point, str(pairs_dir),
                           str(run_dir), json.dumps(_sections(20, keep))],
                          capture_output=True, text=True, env=command_env(), timeout=LIMIT)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    # The killed process's lock is left behind, naming a dead process: it must not block.
    lock = os.path.join(run_dir, run_folder.LOCK_FILE)
    assert os.path.exists(lock)
    summary = loop.train(_config(pairs_dir, run_dir, 20, keep))
    assert summary["start_step"] == resumed_at
    _restorable(run_dir, 20)
    leftovers = [n for n in os.listdir(run_folder.checkpoints_dir(run_dir))
                 if n.endswith("_temp") or ".tempstate" in n]
    assert leftovers == [] and not os.path.exists(lock)


# --- damaged checkpoints --------------------------------------------------------------------

def _truncate(path, keep=0.5):
    with open(path, "r+b") as fh:
        fh.truncate(int(os.path.getsize(path) * keep))


DAMAGE = {
    "index cut short": lambda prefix: _truncate(prefix + ".index"),
    "data cut short": lambda prefix: _truncate(prefix + ".data-00000-of-00001"),
    "data shard missing": lambda prefix: os.remove(prefix + ".data-00000-of-00001"),
}


def test_a_damaged_latest_checkpoint_falls_back_and_none_intact_deletes_nothing(
        trained, tmp_path):
    pairs_dir = trained[0]
    for kind, damage in DAMAGE.items():  # each kind, on a copy of the run
        copy = _copy(trained, tmp_path / kind.replace(" ", "_"))
        damage(os.path.join(run_folder.checkpoints_dir(copy), "ckpt-20"))
        with pytest.warns(Pix2PixWarning, match=r"checkpoint ckpt-20 is damaged \(.+\); "
                                                r"resuming from ckpt-10"):
            assert run_folder.resumable_checkpoint(copy).endswith("ckpt-10"), kind

    damage_all = _copy(trained, tmp_path / "all_damaged")
    for step in (10, 20):
        _truncate(os.path.join(run_folder.checkpoints_dir(damage_all), f"ckpt-{step}.index"))
    before = _listing(damage_all)
    with pytest.raises(UserError, match="no intact checkpoint .*nothing was deleted") as info:
        loop.train(_config(pairs_dir, damage_all, 30))
    assert "\n" not in str(info.value) and "ckpt-20: " in str(info.value)
    assert _listing(damage_all) == before

    run_dir = _copy(trained, tmp_path / "run")
    DAMAGE["data cut short"](os.path.join(run_folder.checkpoints_dir(run_dir), "ckpt-20"))
    with pytest.warns(Pix2PixWarning, match="ckpt-20 is damaged"):
        summary = loop.train(_config(pairs_dir, run_dir, 30))
    assert (summary["start_step"], summary["step"]) == (10, 30)
    _restorable(run_dir, 30)


def test_predict_and_export_use_the_checkpoint_before_a_damaged_one(trained, tmp_path):
    from tfpix2pix.export.__main__ import main as export_main
    from tfpix2pix.inference.translator import load
    from tfpix2pix.predict import main as predict_main

    damaged = _copy(trained, tmp_path / "damaged")
    DAMAGE["data cut short"](os.path.join(run_folder.checkpoints_dir(damaged), "ckpt-20"))
    older = _copy(trained, tmp_path / "older")  # the run as it was at step 10
    for name in os.listdir(run_folder.checkpoints_dir(older)):
        if not name.startswith("ckpt-10."):
            os.remove(os.path.join(run_folder.checkpoints_dir(older), name))
    (image_path,) = write_pairs(tmp_path / "inputs", 1, size=32, width=32, seed=3)
    image = np.asarray(Image.open(image_path))
    expected = load(older)(image)
    assert (expected != load(trained[1])(image)).any()  # step 10's pixels are not step 20's

    # The commands show the warning as one line, as training does.
    warned = (f"warning: {damaged}: checkpoint ckpt-20 is damaged (its data file is cut "
              "short); using ckpt-10 instead")
    err = io.StringIO()
    with warnings.catch_warnings():  # the command's way of showing warnings stays in here
        assert predict_main(["--model", str(damaged), "--input", image_path, "--output",
                             str(tmp_path / "out")], out=io.StringIO(), err=err) == 0
    assert [line for line in err.getvalue().splitlines() if "damaged" in line] == [warned]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "0000.png")),
                                  expected)

    out = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()) as err:
        assert export_main([str(damaged), "--output", str(tmp_path / "exported")], out=out) == 0
    assert [line for line in err.getvalue().splitlines() if "damaged" in line] == [warned]
    assert "(step 10," in out.getvalue(), out.getvalue()
    with open(tmp_path / "exported" / "test" / "1" / "tfpix2pix.json") as fh:
        assert json.load(fh)["training_step"] == 10


def test_when_no_checkpoint_can_be_read_predict_and_export_say_so_in_one_line(trained,
                                                                            tmp_path):
    from tfpix2pix.export.__main__ import main as export_main

    run_dir = _copy(trained, tmp_path / "run")
    folder = run_folder.checkpoints_dir(run_dir)
    DAMAGE["data cut short"](os.path.join(folder, "ckpt-20"))
    DAMAGE["index cut short"](os.path.join(folder, "ckpt-10"))
    (image_path,) = write_pairs(tmp_path / "inputs", 1, size=32, width=32)
    before = _listing(run_dir)
    done = subprocess.run([sys.executable, "-m", "tfpix2pix.predict", "--model", str(run_dir),
                           "--input", image_path, "--output", str(tmp_path / "out")],
                          capture_output=True, text=True, env=command_env(), timeout=LIMIT)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        f"error: {run_dir}: no checkpoint in {folder} could be read (ckpt-20: its data file "
        "is cut short; ckpt-10: its index file is cut short or altered); nothing was deleted: "
        "restore the folder from a backup, or train the run again"], done.stderr[-2000:]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert export_main([str(run_dir), "--output", str(tmp_path / "exported")]) == 2
    assert err.getvalue().splitlines() == done.stderr.strip().splitlines()
    assert _listing(run_dir) == before
    assert not os.path.exists(tmp_path / "exported")


# --- a full disk ----------------------------------------------------------------------------

@contextlib.contextmanager
def _file_size_limit(size):
    """A full disk in this process: a write past ``size`` bytes fails with EFBIG (File too
    large), as one would with ENOSPC, instead of raising SIGXFSZ."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_a_full_disk_during_a_save_keeps_the_previous_checkpoint(trained, tmp_path):
    from tfpix2pix import config as C
    from tfpix2pix.export.command import export
    from tfpix2pix.train import main as train_main

    pairs_dir, run_dir = trained[0], _copy(trained, tmp_path / "run")
    folder = run_folder.checkpoints_dir(run_dir)
    size = os.path.getsize(os.path.join(folder, "ckpt-20.data-00000-of-00001"))
    assert size > 200_000  # the limit below is far above config.yaml, a grid and the events
    # The command, one step on from ckpt-20: its last save, ckpt-21, is the one that does not
    # fit. (In this process: a subprocess would only add TensorFlow's start-up.)
    err = io.StringIO()
    with _file_size_limit(size // 2), contextlib.redirect_stderr(err):
        status = train_main(_cli_argv(pairs_dir, run_dir, 21), out=io.StringIO(), err=err)
    assert status == 2, err.getvalue()[-2000:]
    last = err.getvalue().strip().splitlines()[-1]
    assert "saving checkpoint ckpt-21 failed (File too large)" in last, err.getvalue()[-2000:]
    assert "latest checkpoint is still ckpt-20" in last and "Traceback" not in err.getvalue()
    assert sorted(os.listdir(folder)) == ["checkpoint", "ckpt-10.data-00000-of-00001",
                                          "ckpt-10.index", "ckpt-20.data-00000-of-00001",
                                          "ckpt-20.index"]
    assert not os.path.exists(os.path.join(run_dir, run_folder.LOCK_FILE))
    _restorable(run_dir, 20)

    # An export that does not fit: one line, and no partial version folder.
    opts = C.ExportConfig(run_dir=str(run_dir), output=str(tmp_path / "exported"))
    with _file_size_limit(16_000), pytest.raises(UserError, match=r"could not be written "
                                                                  r"\(File too large\)"):
        export(opts)
    assert [f for _root, _dirs, files in os.walk(tmp_path / "exported") for f in files] == []


def test_a_full_disk_while_writing_a_grid_stops_in_one_line(pairs_dir, tmp_path, monkeypatch):
    def full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
    monkeypatch.setattr(summaries, "write_atomic", full)
    with pytest.raises(UserError, match=r"writing the image grid of step 0 failed \(No space "
                                        r"left on device\); no checkpoint was saved yet"):
        loop.train(_config(pairs_dir, tmp_path / "run", 10))
    assert not os.path.exists(tmp_path / "run" / run_folder.LOCK_FILE)


# --- the run folder: who may write it -------------------------------------------------------

HOLDER = r"""
import sys, time
from tfpix2pix.run_folder import RunLock
with RunLock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_second_process_on_a_run_folder_is_refused_with_the_holders_pid(pairs_dir, tmp_path):
    run_dir = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)],
                              stdout=subprocess.PIPE, text=True, env=command_env())
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError) as info:
            loop.train(_config(pairs_dir, run_dir, 10))
        assert f"--run-dir {run_dir} is in use by process {holder.pid} on this host" in str(
            info.value)
    finally:
        holder.kill()
        holder.wait()
    # The holder died without releasing: its lock file stays, naming it, and does not block.
    with open(run_dir / run_folder.LOCK_FILE) as fh:
        assert fh.read().split()[0] == str(holder.pid)
    with run_folder.RunLock(run_dir):
        with open(run_dir / run_folder.LOCK_FILE) as fh:
            assert fh.read().split()[0] == str(os.getpid())
    assert os.listdir(run_dir) == []


def test_a_lock_leaves_no_folder_behind_when_the_run_stops_early(tmp_path):
    run_dir = tmp_path / "runs" / "new"
    with run_folder.RunLock(run_dir):
        assert os.path.isdir(run_dir)
    assert not os.path.exists(tmp_path / "runs")
    with run_folder.RunLock(run_dir, enabled=False):  # a worker that is not the chief
        assert not os.path.exists(run_dir)


UNWRITABLE = r"""
import os, sys
from tfpix2pix.errors import UserError
from tfpix2pix.run_folder import RunLock
if os.geteuid() == 0:
    os.setgid(65534)
    os.setuid(65534)  # nobody: root writes everywhere
try:
    RunLock(sys.argv[1]).__enter__()
except UserError as exc:
    print(exc)
"""


def test_an_unwritable_run_folder_is_one_line():
    # Outside pytest's own folder (private to its user), so that "nobody" can reach it.
    parent = tempfile.mkdtemp(prefix="tfpix2pix-read-only-")
    os.chmod(parent, 0o555)
    try:
        done = subprocess.run([sys.executable, "-c", UNWRITABLE, os.path.join(parent, "run")],
                              capture_output=True, text=True, env=command_env(), cwd=ROOT,
                              timeout=LIMIT)
        assert os.listdir(parent) == []
    finally:
        os.chmod(parent, 0o755)
        shutil.rmtree(parent)
    assert done.stdout.strip() == (f"--run-dir {os.path.join(parent, 'run')}: cannot write "
                                   "there (Permission denied); fix its permissions or free "
                                   "some space, or choose another --run-dir"), done.stderr[-2000:]


def test_a_config_from_a_newer_version_asks_for_an_upgrade(pairs_dir, tmp_path):
    cfg = _config(pairs_dir, tmp_path / "run", 10)
    run_folder.prepare(cfg)
    path = run_folder.config_path(cfg.run_dir)
    with open(path) as fh:
        text = fh.read()
    assert text.startswith(f"{run_folder.VERSION_KEY}: ")
    with open(path, "w") as fh:
        fh.write(f"{run_folder.VERSION_KEY}: 99.0.0\n" + text.split("\n", 1)[1])
    for read in (run_folder.read_config, lambda d: run_folder.check_compatible(cfg, d)):
        with pytest.raises(UserError, match=r"written by tfpix2pix 99\.0\.0, newer than this "
                                            r".*; upgrade \(pip install -U tfpix2pix\)"):
            read(cfg.run_dir)
