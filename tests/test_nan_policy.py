"""``--nan-policy stop|skip``: a non-finite loss or gradient never reaches the weights.

NaN comes in through the step's test hook (``step.POISON_ENV``): at the chosen steps the
target batch B of the *last* replica is NaN, which makes G_L1 and D_real non-finite and
leaves G_GAN and D_fake finite (D sees (A, B) and (A, G(A)) in separate calls), so the
message must name exactly those two. With 2 replicas only one replica sees NaN, so the
replicas must agree to drop the update.
"""

import io
import math
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import checkpoint_value, command_env, tiny_config
from tensorboard.backend.event_processing import event_accumulator

from tfpix2pix import run_folder
from tfpix2pix.errors import UserError
from tfpix2pix.training import loop
from tfpix2pix.training.step import POISON_ENV, Pix2Pix
from tfpix2pix.training.strategy import make_strategy


def _config(pairs_dir, run_dir, **train):
    # 8 pairs at batch 2: 4 steps per epoch, 8 in all; a checkpoint every 2 steps.
    return tiny_config(pairs_dir, run_dir, train={"n_epochs": 2, "n_epochs_decay": 0, **train},
                       log={"log_every": 2, "image_every": 100, "checkpoint_every": 2})


def _saved_checkpoints(run_dir):
    return tf.train.get_checkpoint_state(run_folder.checkpoints_dir(run_dir)
                                         ).all_model_checkpoint_paths


def _assert_finite(prefix):
    reader = tf.train.load_checkpoint(prefix)
    for key in reader.get_variable_to_shape_map():
        value = reader.get_tensor(key)
        if np.issubdtype(np.asarray(value).dtype, np.floating):
            assert np.isfinite(value).all(), (prefix, key)


def test_stop_ends_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(
        pairs_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(POISON_ENV, "3")
    run_dir = tmp_path / "run"
    with pytest.raises(UserError, match=r"^step 3: non-finite G_L1, D_real \(--nan-policy "
                       r"stop\); its update was not applied and the last checkpoint, ckpt-2, "
                       "is kept"):
        loop.train(_config(pairs_dir, run_dir), out=io.StringIO(), err=io.StringIO())
    saved = _saved_checkpoints(run_dir)
    assert [run_folder.checkpoint_step(p) for p in saved] == [2]
    _assert_finite(saved[0])


@pytest.mark.onednn
@pytest.mark.filterwarnings("ignore:--norm batch on 2 replicas")
def test_skip_on_two_replicas_drops_the_updates_counts_them_and_goes_on(
        pairs_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(POISON_ENV, "3,4")  # inside one call of 2 steps
    run_dir, err = tmp_path / "run", io.StringIO()
    summary = loop.train(_config(pairs_dir, run_dir, nan_policy="skip", strategy="mirrored",
                                 steps_per_call=2), out=io.StringIO(), err=err)
    assert summary["replicas"] == 2 and summary["step"] == 8
    assert all(math.isfinite(v) for v in summary["metrics"].values())
    saved = _saved_checkpoints(run_dir)
    assert [run_folder.checkpoint_step(p) for p in saved] == [4, 6, 8]
    for prefix in saved:
        _assert_finite(prefix)
    # The global step counts the dropped steps; Adam's iterations do not.
    assert checkpoint_value(run_dir, "step/.ATTRIBUTES/VARIABLE_VALUE") == 8
    for net in ("g", "d"):
        assert checkpoint_value(run_dir, f"{net}_optimizer/_iterations/.ATTRIBUTES/"
                                "VARIABLE_VALUE") == 6
    assert "skipped 2" in err.getvalue().splitlines()[-1]
    acc = event_accumulator.EventAccumulator(str(run_dir),
                                             size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    counts = {e.step: float(tf.make_ndarray(e.tensor_proto))
              for e in acc.Tensors("nan/skipped_steps")}
    assert counts == {2: 0, 4: 2, 6: 2, 8: 2}


def test_off_checks_nothing_and_lets_the_update_through(pairs_dir, tmp_path, monkeypatch):
    # The reference's behaviour, for speed: the poisoned step's NaN reaches the weights.
    monkeypatch.setenv(POISON_ENV, "3")
    run_dir = tmp_path / "run"
    summary = loop.train(_config(pairs_dir, run_dir, nan_policy="off", max_steps=4),
                         out=io.StringIO(), err=io.StringIO())
    assert summary["step"] == 4
    reader = tf.train.load_checkpoint(run_folder.latest_checkpoint(run_dir))
    values = [np.asarray(reader.get_tensor(k)) for k in reader.get_variable_to_shape_map()
              if k.startswith("generator/")]
    floats = [v for v in values if np.issubdtype(v.dtype, np.floating)]
    assert len(floats) > 10 and not all(np.isfinite(v).all() for v in floats)
    assert checkpoint_value(run_dir, "g_optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE") == 4


def test_the_counts_survive_a_resume(pairs_dir, tmp_path, monkeypatch):
    # Steps 3 and 4 are dropped and the run stops at 4; the resumed run drops step 5: the
    # third in a row, so it must end there, with 3 skipped in all.
    run_dir = tmp_path / "run"
    monkeypatch.setenv(POISON_ENV, "3,4")
    loop.train(_config(pairs_dir, run_dir, nan_policy="skip", max_skipped_steps=3,
                       max_steps=4), out=io.StringIO(), err=io.StringIO())
    # In the checkpoint: [dropped steps, float16 scale skips, dropped in a row].
    assert [checkpoint_value(run_dir, f"nan_guard/{i}/.ATTRIBUTES/VARIABLE_VALUE")
            for i in range(3)] == [2, 0, 2]
    monkeypatch.setenv(POISON_ENV, "5")
    with pytest.raises(UserError, match=r"^step 5: 3 steps in a row skipped"):
        loop.train(_config(pairs_dir, run_dir, nan_policy="skip", max_skipped_steps=3),
                   out=io.StringIO(), err=io.StringIO())


def test_skip_stops_after_too_many_in_a_row_through_the_command(pairs_dir, tmp_path):
    # The real command: one line, a non-zero exit, no traceback; the checkpoint of step 2 only.
    run_dir = tmp_path / "run"
    argv = [sys.executable, "-m", "tfpix2pix.train", "--data", str(pairs_dir),
            "--run-dir", str(run_dir), "--load-size", "72", "--crop-size", "64",
            "--netG", "unet_64", "--ngf", "8", "--ndf", "8", "--batch-size", "2",
            "--epochs", "2", "--n-epochs-decay", "0", "--checkpoint-every", "2",
            "--nan-policy", "skip", "--max-skipped-steps", "2"]
    # A generous limit: under a busy machine's load the command took over 300 s.
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900,
                          env=command_env(**{POISON_ENV: "3,4,5"}))
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: step 4: 2 steps in a row skipped, the last with non-finite G_L1, D_real "
        "(--nan-policy skip, --max-skipped-steps 2); the last checkpoint, ckpt-2, is kept; "
        "lower --lr, or check the data")
    saved = _saved_checkpoints(run_dir)
    assert [run_folder.checkpoint_step(p) for p in saved] == [2]
    _assert_finite(saved[0])


@pytest.mark.onednn
def test_float16_loss_scale_skips_are_counted_apart(monkeypatch):
    # Overflowing scaled gradients are the loss scaler's normal skip: not a NaN-policy stop.
    cfg = tiny_config("unused", "unused", train={"precision": "mixed_fp16"})
    monkeypatch.setenv(POISON_ENV, "4")
    model = Pix2Pix(cfg, make_strategy("default"), steps_per_epoch=10)
    model.g_optimizer.dynamic_scale.assign(2.0 ** 100)  # float16 gradients overflow
    rng = np.random.default_rng(0)
    batch = tuple(tf.constant(rng.uniform(-1, 1, (2, 64, 64, 3)).astype("float32"))
                  for _ in range(2))
    states = [model.guard_state() for _ in range(3) if model.train_step(batch) is not None]
    skipped, scale_skips, halt, _ = states[-1]
    assert (skipped, halt) == (0, None) and scale_skips >= 1
    assert int(model.g_adam.iterations.numpy()) == 3 - scale_skips
    assert float(model.g_optimizer.dynamic_scale.numpy()) == 2.0 ** (100 - scale_skips)
    model.train_step(batch)  # step 4: poisoned
    skipped, scale_skips_after, halt, what = model.guard_state()
    assert (skipped, scale_skips_after, halt, what) == (1, scale_skips, 4, ["G_L1", "D_real"])
    weights = [v.numpy() for v in model.generator.variables + model.discriminator.variables
               + model.g_adam.variables + model.d_adam.variables]
    assert all(np.isfinite(w).all() for w in weights if w.dtype.kind == "f")
