"""Crash safety of a run folder: SIGKILL inside a checkpoint save, damaged checkpoints, a full
disk, an unwritable folder, two processes on one folder, a config.yaml from a newer version.

Kills are pinned by hooks, not by timing: a subprocess wraps one function of TensorFlow's save
path so that the process SIGKILLs itself right after it, on a chosen call. A full disk is a
file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored, so a write fails with EFBIG as it would
with ENOSPC).
"""

import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest
import tensorflow as tf
from conftest import ROOT, command_env, tiny_config

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
        pairs_dir, tmp_path):
    run_dir = tmp_path / "run"
    loop.train(_config(pairs_dir, run_dir, 20))  # ckpt-10 and ckpt-20
    for kind, damage in DAMAGE.items():  # each kind, on a copy of the run
        copy = tmp_path / kind.replace(" ", "_")
        shutil.copytree(run_dir, copy)
        damage(os.path.join(run_folder.checkpoints_dir(copy), "ckpt-20"))
        with pytest.warns(Pix2PixWarning, match=r"checkpoint ckpt-20 is damaged \(.+\); "
                                                r"resuming from ckpt-10"):
            assert run_folder.resumable_checkpoint(copy).endswith("ckpt-10"), kind

    damage_all = tmp_path / "all_damaged"
    shutil.copytree(run_dir, damage_all)
    for step in (10, 20):
        _truncate(os.path.join(run_folder.checkpoints_dir(damage_all), f"ckpt-{step}.index"))
    before = _listing(damage_all)
    with pytest.raises(UserError, match="no intact checkpoint .*nothing was deleted") as info:
        loop.train(_config(pairs_dir, damage_all, 30))
    assert "\n" not in str(info.value) and "ckpt-20: " in str(info.value)
    assert _listing(damage_all) == before

    DAMAGE["data cut short"](os.path.join(run_folder.checkpoints_dir(run_dir), "ckpt-20"))
    with pytest.warns(Pix2PixWarning, match="ckpt-20 is damaged"):
        summary = loop.train(_config(pairs_dir, run_dir, 30))
    assert (summary["start_step"], summary["step"]) == (10, 30)
    _restorable(run_dir, 30)


# --- a full disk ----------------------------------------------------------------------------

FILE_LIMITED = r"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY))
from tfpix2pix.train import main
sys.exit(main(sys.argv[2:]))
"""


def test_a_full_disk_during_a_save_keeps_the_previous_checkpoint(pairs_dir, tmp_path):
    run_dir = tmp_path / "run"
    loop.train(_config(pairs_dir, run_dir, 10))
    folder = run_folder.checkpoints_dir(run_dir)
    size = os.path.getsize(os.path.join(folder, "ckpt-10.data-00000-of-00001"))
    assert size > 200_000  # the limit below is far above config.yaml, a grid and the events
    done = subprocess.run([sys.executable, "-c", FILE_LIMITED, str(size // 2),
                           *_cli_argv(pairs_dir, run_dir, 20)],
                          capture_output=True, text=True, env=command_env(), timeout=LIMIT)
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert "saving checkpoint ckpt-20 failed (File too large)" in last, done.stderr[-2000:]
    assert "latest checkpoint is still ckpt-10" in last and "Traceback" not in done.stderr
    assert sorted(os.listdir(folder)) == ["checkpoint", "ckpt-10.data-00000-of-00001",
                                          "ckpt-10.index"]
    assert not os.path.exists(os.path.join(run_dir, run_folder.LOCK_FILE))
    _restorable(run_dir, 10)

    # An export that does not fit: one line, and no partial version folder.
    from tfpix2pix import config as C
    from tfpix2pix.export.command import export
    opts = C.ExportConfig(run_dir=str(run_dir), output=str(tmp_path / "exported"))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16_000, hard))
    try:
        with pytest.raises(UserError, match=r"could not be written \(File too large\)"):
            export(opts)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
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
