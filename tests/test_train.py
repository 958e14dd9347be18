"""Training end to end: learning on real data, the run folder, resume, refusals."""

import os

import numpy as np
import pytest
import tensorflow as tf
import yaml
from conftest import (assert_same_state, checkpoint_state, checkpoint_value, facades_subset,
                      tiny_config)
from tensorboard.backend.event_processing import event_accumulator

from tfpix2pix import config as C
from tfpix2pix.errors import UserError
from tfpix2pix.training import loop
from tfpix2pix.training.schedule import LinearDecay


def events(run_dir):
    acc = event_accumulator.EventAccumulator(
        str(run_dir), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    return acc


def scalar_series(acc, tag):
    return {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)}


@pytest.fixture(scope="module")
def facades_run(facades, tmp_path_factory):
    # 16 real pairs (linked, not copied), labels -> photo, 64 px, 160 steps of batch 4.
    subset = facades_subset(facades, tmp_path_factory.mktemp("facades16"))
    run_dir = tmp_path_factory.mktemp("facades_run")
    cfg = tiny_config(subset, run_dir, data={"direction": "BtoA"},
                      train={"n_epochs": 40, "n_epochs_decay": 0, "batch_size": 4},
                      log={"log_every": 20, "image_every": 80, "checkpoint_every": 80})
    summary = loop.train(cfg)
    return cfg, run_dir, summary


def test_l1_falls_on_real_facades(facades_run):
    _cfg, run_dir, summary = facades_run
    assert summary["step"] == 160
    l1 = scalar_series(events(run_dir), "loss/G_L1")  # means over 20-step intervals
    assert sorted(l1) == list(range(20, 161, 20))
    first, last = l1[20], np.mean([l1[140], l1[160]])
    assert last < 0.88 * first, l1  # the L1 on these labels->photo pairs falls clearly
    assert max(l1[120], l1[140], l1[160]) < min(l1[20], l1[40]), l1  # and stays down


def test_run_folder_holds_checkpoint_config_grids_and_events(facades_run):
    cfg, run_dir, _summary = facades_run
    assert tf.train.latest_checkpoint(str(run_dir / "checkpoints")).endswith("ckpt-160")
    with open(run_dir / "config.yaml") as fh:
        assert C.apply_overrides(C.Config(), yaml.safe_load(fh), "saved") == cfg

    grids = sorted(os.listdir(run_dir / "images"))
    assert grids == ["step_0000000.png", "step_0000080.png", "step_0000160.png"]
    grid = tf.io.decode_png(tf.io.read_file(str(run_dir / "images" / grids[-1])))
    assert grid.shape == (2 * 64, 3 * 64, 3)  # rows of input | output | target

    acc = events(run_dir)
    tags = acc.Tags()["tensors"]
    for tag in ["loss/G_GAN", "loss/G_L1", "loss/D_real", "loss/D_fake", "D/real_mean",
                "D/fake_mean", "lr", "perf/images_per_sec"]:
        assert tag in tags
    image_tag = "val/input_output_target"
    assert acc.SummaryMetadata(image_tag).plugin_data.plugin_name == "images"
    image_events = acc.Tensors(image_tag)
    assert [e.step for e in image_events] == [0, 80, 160]
    width, height, png = tf.make_ndarray(image_events[-1].tensor_proto)
    assert (int(width), int(height)) == (3 * 64, 2 * 64)
    assert np.array_equal(tf.io.decode_png(png).numpy(), grid.numpy())


def _resume_config(pairs_dir, run_dir, **train):
    return tiny_config(pairs_dir, run_dir, train={"n_epochs": 2, "n_epochs_decay": 2, **train},
                       log={"log_every": 1, "checkpoint_every": 100})


def test_resume_continues_exactly(pairs_dir, tmp_path):
    # 8 pairs at batch 2: 4 steps per epoch, 16 steps in all.
    interrupted, straight = tmp_path / "interrupted", tmp_path / "straight"
    first = loop.train(_resume_config(pairs_dir, interrupted, max_steps=6))
    assert (first["start_step"], first["step"]) == (0, 6)
    assert checkpoint_value(interrupted, "g_optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE") == 6

    second = loop.train(_resume_config(pairs_dir, interrupted))  # the same command again
    assert (second["start_step"], second["step"]) == (6, 16)
    for name in ("g_optimizer", "d_optimizer"):
        iterations = checkpoint_value(interrupted, f"{name}/_iterations/.ATTRIBUTES/VARIABLE_VALUE")
        assert iterations == 16
    assert checkpoint_value(interrupted, "step/.ATTRIBUTES/VARIABLE_VALUE") == 16

    # Steps continue from 6 (no step is logged twice) and the lr follows the schedule.
    lr = scalar_series(events(interrupted), "lr")
    assert sorted(lr) == list(range(1, 17))
    schedule = LinearDecay(2e-4, steps_per_epoch=4, n_epochs=2, n_epochs_decay=2)
    # The logged lr is a float32 of the same schedule: equal to ~6e-8 relative, while a step
    # off by one in the decay moves it by 1/3 here.
    for step, value in lr.items():
        assert value == pytest.approx(float(schedule(step - 1)), rel=1e-6)
    assert lr[8] == pytest.approx(2e-4) and lr[9] == pytest.approx(2e-4 * 2 / 3)
    assert lr[16] == pytest.approx(2e-4 / 3)

    # Interrupting and resuming ends in the same state as training straight through.
    loop.train(_resume_config(pairs_dir, straight))
    resumed, reference = checkpoint_state(interrupted), checkpoint_state(straight)
    assert resumed.keys() == reference.keys() and len(resumed) > 100
    assert any("rng_state" in k for k in resumed)  # dropout's RNG is part of the state
    assert_same_state(resumed, reference)


def test_rerunning_a_finished_run_changes_nothing(pairs_dir, tmp_path, capsys):
    cfg = _resume_config(pairs_dir, tmp_path / "run", n_epochs=1, n_epochs_decay=0)
    loop.train(cfg)
    before = checkpoint_state(tmp_path / "run")
    again = loop.train(cfg)
    assert (again["start_step"], again["step"]) == (4, 4)
    assert "nothing to do" in capsys.readouterr().out
    after = checkpoint_state(tmp_path / "run")
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_run_folder_with_other_model_settings_is_refused(pairs_dir, tmp_path):
    run_dir = tmp_path / "run"
    loop.train(_resume_config(pairs_dir, run_dir, max_steps=1))
    other = tiny_config(pairs_dir, run_dir, model={"norm": "instance"},
                        train={"n_epochs": 2, "n_epochs_decay": 2})
    with pytest.raises(UserError, match=r"--run-dir .* --norm batch.* --norm instance"):
        loop.train(other)
    with open(run_dir / "config.yaml") as fh:  # the saved config was left alone
        assert yaml.safe_load(fh)["model"]["norm"] == "batch"
