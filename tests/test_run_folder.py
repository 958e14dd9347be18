"""The run folder's layout, config.yaml, checkpoints (and the fallback past a damaged one) and
the TensorBoard command; its place in tfpix2pix (no upward import, no cycle, no
TensorFlow on import)."""

import ast
import os
import subprocess
import sys

import pytest
import tensorflow as tf
from conftest import ROOT, tiny_config

from tfpix2pix import run_folder
from tfpix2pix.errors import Pix2PixWarning, UserError
from tfpix2pix.models import build_generator, generator_kwargs

PACKAGE = ROOT / "tfpix2pix"


def _saved_run(tmp_path, step=7, **sections):
    """A run folder as training leaves it: config.yaml and checkpoints/ckpt-<step>."""
    cfg = tiny_config(tmp_path / "data", tmp_path / "run", **sections)
    run_folder.prepare(cfg)
    generator = build_generator(**generator_kwargs(cfg.model, cfg.data))
    counter = tf.Variable(step, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(generator=generator, step=counter)
    run_folder.checkpoint_manager(checkpoint, cfg.run_dir, 3, counter).save(
        checkpoint_number=counter)
    return cfg, generator


def test_prepare_writes_the_layout_and_the_config_reads_back(tmp_path):
    cfg = tiny_config(tmp_path / "data", tmp_path / "run")
    assert not run_folder.is_run_folder(cfg.run_dir)
    run_folder.prepare(cfg)
    assert run_folder.is_run_folder(cfg.run_dir)
    assert sorted(os.listdir(cfg.run_dir)) == ["config.yaml", "images"]
    assert run_folder.read_config(cfg.run_dir) == cfg
    assert run_folder.grid_path(cfg.run_dir, 80) == os.path.join(
        cfg.run_dir, "images", "step_0000080.png")
    assert run_folder.latest_checkpoint(cfg.run_dir) is None


def test_the_generator_is_rebuilt_from_the_latest_checkpoint(tmp_path):
    cfg, trained = _saved_run(tmp_path, step=7)
    latest = run_folder.latest_checkpoint(cfg.run_dir)
    assert latest == os.path.join(run_folder.checkpoints_dir(cfg.run_dir), "ckpt-7")
    assert run_folder.checkpoint_step(latest) == 7
    saved_cfg, generator, step = run_folder.restore_generator(cfg.run_dir)
    assert (saved_cfg, step) == (cfg, 7)
    for restored, original in zip(generator.weights, trained.weights):
        assert (restored.numpy() == original.numpy()).all()


def test_a_run_folder_of_another_model_is_refused_in_one_line(tmp_path):
    cfg = tiny_config(tmp_path / "data", tmp_path / "run")
    run_folder.prepare(cfg)
    other = tiny_config(tmp_path / "data", tmp_path / "run", model={"ngf": 16})
    with pytest.raises(UserError) as info:
        run_folder.check_compatible(other, cfg.run_dir)
    message = str(info.value)
    assert "\n" not in message and "--ngf 8" in message and "--ngf 16" in message
    # Run length and logging may change: that is how a run is extended.
    longer = tiny_config(tmp_path / "data", tmp_path / "run", train={"n_epochs": 9},
                         log={"log_every": 3})
    run_folder.check_compatible(longer, cfg.run_dir)


@pytest.mark.parametrize("content, fragment", [
    (None, "no config.yaml"), ("model: [unclosed", "not valid YAML"),
    ("model: {ngf: eight}", "model.ngf")])
def test_a_missing_or_broken_config_is_one_line_naming_the_folder(tmp_path, content, fragment):
    run = tmp_path / "run"
    run.mkdir()
    if content is not None:
        (run / "config.yaml").write_text(content)
    with pytest.raises(UserError) as info:
        run_folder.read_config(run)
    message = str(info.value)
    assert "\n" not in message and str(run) in message and fragment in message, message


def test_restoring_a_run_without_checkpoint_says_to_train_it(tmp_path):
    cfg = tiny_config(tmp_path / "data", tmp_path / "run")
    run_folder.prepare(cfg)
    with pytest.raises(UserError, match=r"no checkpoint in .*checkpoints; train the run"):
        run_folder.restore_generator(cfg.run_dir)


def _two_checkpoints(tmp_path):
    """A run with ckpt-7 and ckpt-9 holding different generator weights: (cfg, weights at 7)."""
    cfg, generator = _saved_run(tmp_path, step=7)
    at_7 = [w.numpy().copy() for w in generator.weights]
    for w in generator.weights:
        w.assign(w + 1.0)
    counter = tf.Variable(9, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(generator=generator, step=counter)
    run_folder.checkpoint_manager(checkpoint, cfg.run_dir, 3, counter).save(
        checkpoint_number=counter)
    return cfg, at_7


def _files(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("damage", ["data cut short", "index cut short", "index missing"])
def test_a_damaged_latest_checkpoint_gives_the_one_before_with_one_warning(tmp_path, damage):
    cfg, at_7 = _two_checkpoints(tmp_path)
    prefix = os.path.join(run_folder.checkpoints_dir(cfg.run_dir), "ckpt-9")
    if damage == "index missing":  # the manager's record still names ckpt-9
        os.remove(prefix + ".index")
    else:
        path = prefix + (".index" if damage == "index cut short" else ".data-00000-of-00001")
        with open(path, "r+b") as fh:
            fh.truncate(os.path.getsize(path) // 2)
    with pytest.warns(Pix2PixWarning) as caught:
        _cfg, generator, step = run_folder.restore_generator(cfg.run_dir)
    assert step == 7
    for restored, saved in zip(generator.weights, at_7):
        assert (restored.numpy() == saved).all()
    (message,) = [str(w.message) for w in caught]
    assert message.startswith(f"{cfg.run_dir}: checkpoint ckpt-9 is damaged (")
    assert message.endswith("); using ckpt-7 instead") and "\n" not in message, message


def test_a_relative_run_folder_finds_its_checkpoints(tmp_path, monkeypatch):
    # The default --run-dir is runs/<name>: relative paths must not be joined twice.
    _two_checkpoints(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run_folder.resumable_checkpoint("run") == os.path.join("run", "checkpoints", "ckpt-9")
    assert run_folder.restore_generator("run")[2] == 9


def test_when_no_checkpoint_restores_it_is_one_line_and_nothing_is_deleted(tmp_path):
    cfg, _ = _two_checkpoints(tmp_path)
    folder = run_folder.checkpoints_dir(cfg.run_dir)
    with open(os.path.join(folder, "ckpt-9.data-00000-of-00001"), "r+b") as fh:
        fh.truncate(100)
    os.remove(os.path.join(folder, "ckpt-7.data-00000-of-00001"))
    before = _files(tmp_path / "run")
    with pytest.raises(UserError) as info:
        run_folder.restore_generator(cfg.run_dir)
    message = str(info.value)
    assert message.startswith(f"{cfg.run_dir}: no checkpoint in {folder} could be read (")
    assert "ckpt-9: its data file is cut short; ckpt-7: a data file is missing" in message
    assert "nothing was deleted" in message and "\n" not in message, message
    assert _files(tmp_path / "run") == before


def test_the_tensorboard_command_names_the_run_folder_and_a_tensorboard_that_runs(
        tmp_path, monkeypatch):
    run = str(tmp_path / "my runs" / "demo")
    monkeypatch.setattr(run_folder.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert run_folder.tensorboard_command(run) == f"tensorboard --logdir '{run}'"
    # Not on PATH (a venv that is not activated): the one beside this Python.
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    beside = bin_dir / "tensorboard"
    beside.write_text("#!/bin/sh\n")
    beside.chmod(0o755)
    monkeypatch.setattr(run_folder.shutil, "which", lambda name: None)
    monkeypatch.setattr(run_folder.sys, "executable", str(bin_dir / "python"))
    assert run_folder.tensorboard_command(run) == f"{beside} --logdir '{run}'"


# --- its place in the package ----------------------------------------------------------------

def _imports(module):
    """The tfpix2pix modules ``module`` (dotted, e.g. "tfpix2pix.run_folder") imports."""
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = PACKAGE.parent / module.replace(".", "/") / "__init__.py"
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            if not node.level:
                name = node.module
            else:  # "from . import x" names modules x of the package, not the package
                name = f"{base}.{node.module}" if node.module else base
            names = ([name] if node.module else []) + [f"{name}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("tfpix2pix") and _exists(name):
                found.add(name)
    return found


def _exists(module):
    base = PACKAGE.parent / module.replace(".", "/")
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def test_run_folder_imports_nothing_above_it_and_is_in_no_cycle():
    reached, todo = set(), ["tfpix2pix.run_folder"]
    while todo:
        for name in _imports(todo.pop()) - reached:
            reached.add(name)
            todo.append(name)
    above = {m for m in reached if m.split(".")[1] in ("training", "inference", "export",
                                                        "predict", "train")}
    assert not above, above
    assert "tfpix2pix.run_folder" not in reached  # nothing it imports imports it back


def test_importing_it_does_not_import_tensorflow():
    code = ("import sys, tfpix2pix.run_folder as r; r.config_path('x'); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
