"""``--deterministic``: repeated and resumed runs end bit for bit alike; config.yaml records
the library versions, and a resume under other ones is warned about.

The state compared is every checkpointed value: weights, BatchNorm statistics, both Adams'
moments and iteration counts, the dropout RNG and the step (``conftest.checkpoint_state``).
Marked onednn: the suite runs these again with oneDNN the other way, whose kernels could
differ in how they sum.
"""

import io
import warnings

import pytest
import yaml
from conftest import assert_same_state, checkpoint_state, tiny_config
from tensorflow.python.framework import config as tf_config

from tfpix2pix import run_folder
from tfpix2pix.errors import Pix2PixWarning
from tfpix2pix.training import loop
from tfpix2pix.training.step import Pix2Pix

pytestmark = pytest.mark.onednn


def _train(pairs_dir, run_dir, **train):
    # 8 pairs at batch 2: 4 steps per epoch, 8 in all; no periodic grid or checkpoint.
    cfg = tiny_config(pairs_dir, run_dir, train={"n_epochs": 2, "n_epochs_decay": 0,
                                                 "deterministic": True, **train},
                      log={"log_every": 4, "image_every": 100, "checkpoint_every": 100})
    return loop.train(cfg, out=io.StringIO(), err=io.StringIO())


def test_two_runs_are_bitwise_equal_and_determinism_is_on_only_during_the_run(
        pairs_dir, tmp_path, monkeypatch):
    seen = []
    step = Pix2Pix.train_steps

    def spy(self, *args):
        seen.append(tf_config.is_op_determinism_enabled())
        return step(self, *args)
    monkeypatch.setattr(Pix2Pix, "train_steps", spy)
    for name in ("a", "b"):
        _train(pairs_dir, tmp_path / name, steps_per_call=2)
    assert seen and all(seen)
    assert not tf_config.is_op_determinism_enabled()  # the switch is process-wide: restored
    assert_same_state(checkpoint_state(tmp_path / "b"), checkpoint_state(tmp_path / "a"))


@pytest.mark.filterwarnings("ignore:--norm batch on 2 replicas")
def test_stopped_and_resumed_on_two_replicas_equals_uninterrupted(pairs_dir, tmp_path):
    whole = _train(pairs_dir, tmp_path / "whole", strategy="mirrored", steps_per_call=2)
    assert whole["replicas"] == 2 and whole["step"] == 8
    # Stopped at an odd step, in the middle of an epoch and of a 2-step call.
    assert _train(pairs_dir, tmp_path / "resumed", strategy="mirrored", steps_per_call=2,
                  max_steps=3)["step"] == 3
    resumed = _train(pairs_dir, tmp_path / "resumed", strategy="mirrored", steps_per_call=2)
    assert resumed["start_step"] == 3 and resumed["step"] == 8
    assert_same_state(checkpoint_state(tmp_path / "resumed"),
                      checkpoint_state(tmp_path / "whole"))


def test_config_records_versions_and_resuming_under_others_warns_once(pairs_dir, tmp_path):
    import keras
    import numpy
    import tensorflow as tf

    cfg = tiny_config(pairs_dir, tmp_path / "run", train={"deterministic": True, "seed": 7})
    run_folder.prepare(cfg)
    path = run_folder.config_path(cfg.run_dir)
    with open(path) as fh:
        saved = yaml.safe_load(fh)
    assert saved[run_folder.ENVIRONMENT_KEY] == {
        "tensorflow": tf.__version__, "keras": keras.__version__, "numpy": numpy.__version__}
    assert saved["train"]["seed"] == 7 and saved["train"]["deterministic"] is True
    assert run_folder.read_config(cfg.run_dir) == cfg  # the block is not part of the tree

    # A run with a checkpoint, last trained under another TensorFlow.
    saved[run_folder.ENVIRONMENT_KEY]["tensorflow"] = "2.0.0"
    with open(path, "w") as fh:
        yaml.safe_dump(saved, fh)
    (tmp_path / "run" / "checkpoints").mkdir()
    (tmp_path / "run" / "checkpoints" / "checkpoint").write_text("")
    run_folder.check_compatible(cfg, cfg.run_dir)  # the versions are not identity settings
    with pytest.warns(Pix2PixWarning, match=r"tensorflow 2\.0\.0 -> .*not repeat bit for bit"):
        run_folder.prepare(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_folder.prepare(cfg)  # config.yaml now records this session's versions
