"""Training end to end: learning on real data, the run folder, resume, refusals."""

import dataclasses
import io
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import (assert_same_state, checkpoint_state, checkpoint_value, facades_subset,
                      tiny_config)
from tensorboard.backend.event_processing import event_accumulator

from tfpix2pix import run_folder
from tfpix2pix.errors import Pix2PixWarning, UserError
from tfpix2pix.training import loop
from tfpix2pix.training.schedule import LinearDecay
from tfpix2pix.training.step import Pix2Pix


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


@pytest.mark.onednn
def test_l1_falls_on_real_facades(facades_run):
    _cfg, run_dir, summary = facades_run
    assert summary["step"] == 160
    l1 = scalar_series(events(run_dir), "loss/G_L1")  # means over 20-step intervals
    assert sorted(l1) == list(range(20, 161, 20))
    first, last = l1[20], np.mean([l1[140], l1[160]])
    assert last < 0.88 * first, l1  # the L1 on these labels->photo pairs falls clearly
    assert max(l1[120], l1[140], l1[160]) < min(l1[20], l1[40]), l1  # and stays down


@pytest.mark.onednn
def test_run_folder_holds_checkpoint_config_grids_and_events(facades_run):
    cfg, run_dir, _summary = facades_run
    assert run_folder.latest_checkpoint(run_dir).endswith("ckpt-160")
    assert run_folder.read_config(run_dir) == cfg

    grids = sorted(os.listdir(run_folder.images_dir(run_dir)))
    assert grids == ["step_0000000.png", "step_0000080.png", "step_0000160.png"]
    assert run_folder.grid_path(run_dir, 160).endswith(grids[-1])
    grid = tf.io.decode_png(tf.io.read_file(run_folder.grid_path(run_dir, 160)))
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


@pytest.mark.onednn
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
    capsys.readouterr()
    again = loop.train(cfg)
    assert (again["start_step"], again["step"]) == (4, 4)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "nothing to do" in out, out
    after = checkpoint_state(tmp_path / "run")
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_nothing_to_do_names_what_trains_further(pairs_dir, tmp_path, capsys):
    # At the schedule's end a higher --max-steps does nothing (the run warns and still ends
    # at step 4), so the message names the epochs; stopped by --max-steps, it names that.
    run_dir = tmp_path / "run"
    loop.train(_resume_config(pairs_dir, run_dir, n_epochs=1, n_epochs_decay=0))
    capsys.readouterr()
    with pytest.warns(Pix2PixWarning, match="--max-steps 100 is past the schedule's end at "
                                            "step 4"):
        again = loop.train(_resume_config(pairs_dir, run_dir, n_epochs=1, n_epochs_decay=0,
                                          max_steps=100))
    assert again["step"] == 4
    out = capsys.readouterr().out
    assert "nothing to do" in out and "raise --epochs or --n-epochs-decay" in out, out
    assert "Raise --max-steps" not in out

    loop.train(_resume_config(pairs_dir, tmp_path / "capped", max_steps=2))
    capsys.readouterr()
    loop.train(_resume_config(pairs_dir, tmp_path / "capped", max_steps=2))
    out = capsys.readouterr().out
    assert "nothing to do. Raise --max-steps" in out and "step 16" in out, out


def test_the_start_up_line_comes_first_and_names_what_the_run_will_do(
        pairs_dir, tmp_path, monkeypatch):
    # 8 pairs at batch 2: 4 steps per epoch, 16 in all; this command stops at 3.
    out, err = io.StringIO(), io.StringIO()
    printed_before_build = []
    build = Pix2Pix.__init__

    def recording_build(self, *args, **kwargs):
        printed_before_build.append(out.getvalue())
        build(self, *args, **kwargs)
    monkeypatch.setattr(Pix2Pix, "__init__", recording_build)
    run_dir = tmp_path / "run"
    summary = loop.train(_resume_config(pairs_dir, run_dir, max_steps=3), out=out, err=err)
    first = out.getvalue().splitlines()[0]
    assert printed_before_build == [first + "\n"]  # at once: before the model is built
    for fragment in (f"Training {run_dir}", f"data {pairs_dir} AtoB (8 train + 2 val pairs)",
                     "netG unet_64, netD basic", "3 steps to do (to step 3 of 16)",
                     f"--logdir {run_dir}"):
        assert fragment in first, first

    # The bar ends at --max-steps, and the first line shows no rate: none is measured yet.
    lines = err.getvalue().splitlines()
    assert [line.split(" [")[0] for line in lines] == [
        "epoch 1/1 step 1/3", "epoch 1/1 step 2/3", "epoch 1/1 step 3/3"], lines
    assert "img/s" not in lines[0] and "img/s" in lines[1], lines
    assert "[####################] ETA 00:00" in lines[-1], lines

    # The report's TensorBoard command names the run folder itself, not its parent.
    report = out.getvalue()
    assert f"TensorBoard: {run_folder.tensorboard_command(run_dir)}\n" in report, report
    assert summary["step"] == 3

    resumed = io.StringIO()
    loop.train(_resume_config(pairs_dir, run_dir, max_steps=5), out=resumed, err=io.StringIO())
    first = resumed.getvalue().splitlines()[0]
    assert first.startswith(f"Resuming {run_dir} at step 3 (epoch 1): "), first
    assert "2 steps to do (to step 5 of 16)" in first, first


def test_the_command_exits_with_its_status_after_the_atexit_handlers(tmp_path):
    # main_entry skips the interpreter's teardown (os._exit): what is printed, the atexit
    # handlers and the exit status must survive that.
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('handler ran'))\n"
            "sys.argv = ['train', '--data', sys.argv[1]]\n"
            "from tfpix2pix.train import main_entry\n"
            "main_entry()\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "missing")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and done.stdout == "handler ran\n", done


def test_run_folder_with_other_model_settings_is_refused(pairs_dir, tmp_path):
    run_dir = tmp_path / "run"
    loop.train(_resume_config(pairs_dir, run_dir, max_steps=1))
    other = tiny_config(pairs_dir, run_dir, model={"norm": "instance"},
                        train={"n_epochs": 2, "n_epochs_decay": 2})
    with pytest.raises(UserError, match=r"--run-dir .* --norm batch.* --norm instance"):
        loop.train(other)
    assert run_folder.read_config(run_dir).model.norm == "batch"  # the saved config was kept


def _generator_weights(run_dir):
    """G's trainable weights (BatchNorm's moving statistics move even at lr 0)."""
    _cfg, generator, _step = run_folder.restore_generator(str(run_dir))
    return [v.numpy() for v in generator.trainable_weights]


@pytest.mark.onednn
def test_init_from_starts_g_from_another_run_and_d_afresh(pairs_dir, tmp_path):
    source = tmp_path / "source"
    loop.train(tiny_config(pairs_dir, source, train={"max_steps": 4, "seed": 1}),
               out=io.StringIO(), err=io.StringIO())
    # lr 0: the fine-tuning run's steps leave its weights where they started.
    tuned = tmp_path / "tuned"
    loop.train(tiny_config(pairs_dir, tuned, train={"max_steps": 2, "lr": 0.0, "seed": 2,
                                                   "init_from": str(source)}),
               out=io.StringIO(), err=io.StringIO())
    for theirs, ours in zip(_generator_weights(source), _generator_weights(tuned)):
        np.testing.assert_array_equal(theirs, ours)
    fresh = tmp_path / "fresh"  # the same seed without --init-from: D's weights equal, G's not
    loop.train(tiny_config(pairs_dir, fresh, train={"max_steps": 2, "lr": 0.0, "seed": 2}),
               out=io.StringIO(), err=io.StringIO())
    assert not np.array_equal(_generator_weights(fresh)[0], _generator_weights(tuned)[0])
    d_tuned, d_fresh = (checkpoint_state(str(r)) for r in (tuned, fresh))
    d_keys = [k for k in d_tuned if k.startswith("d_optimizer/_trainable_variables/")]
    assert d_keys and all(np.array_equal(d_tuned[k], d_fresh[k]) for k in d_keys)


def test_init_from_refuses_what_it_cannot_use(pairs_dir, tmp_path):
    source = tmp_path / "source"
    loop.train(tiny_config(pairs_dir, source, train={"max_steps": 2}),
               out=io.StringIO(), err=io.StringIO())
    cases = [(str(tmp_path), "not a run folder"),
             (str(source), "ngf=8, but this run builds ngf=16")]
    for init_from, fragment in cases:
        cfg = tiny_config(pairs_dir, tmp_path / "new", model={"ngf": 16},
                          train={"init_from": init_from})
        with pytest.raises(UserError, match="--init-from") as info:
            loop.train(cfg, out=io.StringIO(), err=io.StringIO())
        assert fragment in str(info.value) and "\n" not in str(info.value)
    # A generator-only checkpoint (as convert writes) is not resumed: it names --init-from.
    only_g = tmp_path / "only_g"
    cfg, generator, _step = run_folder.restore_generator(str(source))
    os.makedirs(run_folder.checkpoints_dir(str(only_g)))
    run_folder.prepare(dataclasses.replace(
        cfg, log=dataclasses.replace(cfg.log, run_dir=str(only_g))))
    tf.train.Checkpoint(generator=generator, step=tf.Variable(0, dtype=tf.int64)).save(
        os.path.join(run_folder.checkpoints_dir(str(only_g)), "ckpt"))
    with pytest.raises(UserError, match=r"without training state .* --init-from"):
        loop.train(run_folder.read_config(str(only_g)), out=io.StringIO(), err=io.StringIO())
