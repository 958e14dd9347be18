"""--precision, --jit and --steps-per-call: the same training, computed differently."""

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import feeds_instance_norm, tiny_config

from tfpix2pix import run_folder
from tfpix2pix.training import precision
from tfpix2pix.training.step import Pix2Pix
from tfpix2pix.training.strategy import make_strategy

# A shallower U-Net than the other tests' (depth 4 at 32 px): XLA compile time grows with the
# number of layers, and these tests compile several variants of the step.
SMALL = {"data": {"load_size": 36, "crop_size": 32}, "model": {"num_downs": 4}}


def _config(**sections):
    merged = {k: {**SMALL.get(k, {}), **sections.get(k, {})} for k in {*SMALL, *sections}}
    merged["train"] = {"batch_size": 2, **merged.get("train", {})}
    return tiny_config("unused", "unused", **merged)


def _batches(count, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return [tuple(tf.constant(rng.uniform(-1, 1, (2, size, size, 3)).astype("float32"))
                  for _ in range(2)) for _ in range(count)]


def _model(cfg, like=None, strategy=None):
    model = Pix2Pix(cfg, strategy or tf.distribute.get_strategy(), steps_per_epoch=10)
    if like is not None:
        model.generator.set_weights(like.generator.get_weights())
        model.discriminator.set_weights(like.discriminator.get_weights())
    return model


def _weights(model):
    return [v.numpy() for net in (model.generator, model.discriminator)
            for v in net.trainable_variables]


def _relative(two, one):
    return float(np.linalg.norm(two - one) / max(np.linalg.norm(one), 1e-12))


def _metrics(out):
    return {k: float(v) for k, v in out.items()}


# --- precision --------------------------------------------------------------------------

# Flag lines of real CPUs (shortened): a Zen 3 (AVX2 only), a Zen 4 (AVX-512 with BF16),
# a Sapphire Rapids (AMX), and an AVX-512 CPU without BF16 (Skylake-SP).
CPUINFO_FLAGS = {
    "zen3": ("fpu sse2 avx avx2 fma f16c", "fp32"),
    "zen4": ("fpu sse2 avx avx2 fma avx512f avx512_vnni avx512_bf16", "mixed_bf16"),
    "sapphire_rapids": ("fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8", "mixed_bf16"),
    "skylake_sp": ("fpu avx2 fma avx512f avx512dq avx512bw avx512vl", "fp32"),
}


@pytest.mark.parametrize("cpu", sorted(CPUINFO_FLAGS))
def test_auto_precision_picks_bf16_only_where_the_cpu_has_it(cpu, tmp_path, monkeypatch):
    # A faked /proc/cpuinfo, so the test means the same on every machine (no GPU here).
    flags, expected = CPUINFO_FLAGS[cpu]
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: {cpu}\nflags\t\t: {flags}\n\n")
    assert precision.cpu_flags(str(cpuinfo)) == set(flags.split())
    real = precision.cpu_flags
    monkeypatch.setattr(precision, "cpu_flags", lambda path=None: real(str(cpuinfo)))
    assert precision.resolve("auto") == expected
    for name in ("fp32", "mixed_bf16", "mixed_fp16"):  # explicit choices are kept
        assert precision.resolve(name) == name
    assert real(str(tmp_path / "missing")) == set()


@pytest.mark.onednn
def test_mixed_bf16_computes_in_bfloat16_keeps_outputs_float32_and_matches_fp32():
    cfg32 = _config(model={"no_dropout": True})
    fp32 = _model(cfg32)
    bf16 = _model(_config(model={"no_dropout": True}, train={"precision": "mixed_bf16"}), fp32)
    layer = bf16.generator.get_layer("enc2_conv")
    assert (layer.compute_dtype, layer.variable_dtype) == ("bfloat16", "float32")
    assert bf16.discriminator.get_layer("logits_conv").compute_dtype == "float32"
    assert all(v.dtype == "float32" for v in bf16.generator.weights + bf16.discriminator.weights)
    (a, b), = _batches(1)
    assert bf16.generator(a).dtype == "float32"
    assert bf16.discriminator(tf.concat([a, b], -1)).dtype == "float32"

    one, two = _metrics(fp32.train_step((a, b))), _metrics(bf16.train_step((a, b)))
    # bfloat16 keeps 8 significant bits (relative rounding 2**-9 = 0.2%) in every layer;
    # one step's losses agree to well under 1%. A loss computed in bfloat16, or a wrong
    # cast, moves them by more.
    for key in one:
        assert two[key] == pytest.approx(one[key], rel=1e-2), key
    assert all(np.isfinite(w).all() for w in _weights(bf16))


@pytest.mark.onednn
def test_mixed_fp16_loss_scale_adapts_and_never_lets_inf_into_the_weights():
    model = _model(_config(train={"precision": "mixed_fp16"}))
    assert model.generator.get_layer("enc2_conv").compute_dtype == "float16"
    start = _weights(model)
    batches = _batches(3)
    # A scale far beyond float16's range (max 65504) overflows the gradients: the loss
    # scaler must skip the update, halve its scale, and our step counter still counts it.
    for opt in (model.g_optimizer, model.d_optimizer):
        opt.dynamic_scale.assign(2.0 ** 60)
    model.train_step(batches[0])
    for opt in (model.g_optimizer, model.d_optimizer):
        assert float(opt.dynamic_scale.numpy()) == 2.0 ** 59
        assert int(opt.inner_optimizer.iterations.numpy()) == 0
    assert all(np.array_equal(w, w0) for w, w0 in zip(_weights(model), start))
    assert int(model.step.numpy()) == 1

    for opt in (model.g_optimizer, model.d_optimizer):
        opt.dynamic_scale.assign(2.0 ** 10)
    for batch in batches[1:]:
        metrics = _metrics(model.train_step(batch))
        assert all(np.isfinite(v) for v in metrics.values())
    weights = _weights(model)
    assert all(np.isfinite(w).all() for w in weights)
    assert sum(not np.array_equal(w, w0) for w, w0 in zip(weights, start)) > len(start) // 2
    assert int(model.step.numpy()) == 3 and int(model.g_adam.iterations.numpy()) == 2
    # The learning rate follows our step counter, not the optimizer's (which lags by 1).
    assert float(model.g_adam.learning_rate) == pytest.approx(float(model.lr_schedule(3)))


@pytest.mark.onednn
def test_a_checkpoint_restores_at_any_precision(tmp_path):
    fp16 = _model(_config(train={"precision": "mixed_fp16"}))
    fp16.train_step(_batches(1)[0])
    path = fp16.checkpoint().save(str(tmp_path / "fp16"))
    fp32 = _model(_config())
    fp32.restore(path)  # float32 weights: no conversion, the extra loss scales are ignored
    assert all(np.array_equal(w, w16) for w, w16 in zip(_weights(fp32), _weights(fp16)))
    assert int(fp32.step.numpy()) == 1

    path = fp32.checkpoint().save(str(tmp_path / "fp32"))
    bf16 = _model(_config(train={"precision": "mixed_bf16"}))
    bf16.restore(path)
    assert all(np.array_equal(w, w32) for w, w32 in zip(_weights(bf16), _weights(fp32)))
    fp16_again = _model(_config(train={"precision": "mixed_fp16"}))
    fp16_again.restore(path)  # no loss scales saved: they start fresh
    assert float(fp16_again.g_optimizer.dynamic_scale.numpy()) == 2.0 ** 15


# --- XLA and several steps per call ---------------------------------------------------

# XLA fuses and reorders float32 arithmetic: after two Adam steps single weights differ by
# rounding that Adam's m / sqrt(v) can amplify (see test_distribute.py), so each tensor's
# 2-step update is compared norm-wise, with test_distribute's bound; metrics to 1e-4.
NORM_RTOL = 1e-2


def _assert_same_training(one, two, start, metrics_one, metrics_two):
    """The same metrics, and the same update of every weight whose gradient is not noise."""
    for key in metrics_one:
        assert metrics_two[key] == pytest.approx(metrics_one[key], rel=1e-4, abs=1e-6), key
    compared = 0
    for net_one, net_two in ((one.generator, two.generator),
                             (one.discriminator, two.discriminator)):
        for w1, w2 in zip(net_one.trainable_variables, net_two.trainable_variables):
            if feeds_instance_norm(net_one, w1):
                continue
            w0 = start[w1.path]
            assert _relative(w2.numpy() - w0, w1.numpy() - w0) < NORM_RTOL, w1.path
            compared += 1
    assert compared >= 10


def _start(model):
    return {v.path: v.numpy() for net in (model.generator, model.discriminator)
            for v in net.trainable_variables}


@pytest.mark.onednn
def test_jit_compiles_the_whole_step_on_one_device_with_the_same_result():
    cfg = _config(model={"no_dropout": True})
    plain = _model(cfg)
    jit = _model(_config(model={"no_dropout": True}, train={"jit": "on"}), plain)
    assert jit.jit and jit._one_step._jit_compile
    start = _start(plain)
    for batch in _batches(2):
        m1, m2 = _metrics(plain.train_step(batch)), _metrics(jit.train_step(batch))
    _assert_same_training(plain, jit, start, m1, m2)
    assert int(jit.step.numpy()) == 2


def _distributed(strategy, batch):
    return next(iter(strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors(batch))))


@pytest.mark.onednn
def test_jit_under_two_replicas_compiles_forward_and_gradients_only():
    # Applying gradients inside XLA fails under MirroredStrategy (FIELD_NOTES 2.6): only
    # the forward passes and gradients are compiled, and the step matches one device's.
    cfg = _config(model={"norm": "instance", "no_dropout": True}, train={"jit": "on"})
    single = _model(_config(model={"norm": "instance", "no_dropout": True}))
    strategy = make_strategy("mirrored")
    mirrored = _model(cfg, single, strategy)
    assert mirrored._d_gradients._jit_compile and not mirrored._one_step._jit_compile
    start = _start(single)
    for batch in _batches(2):
        m1 = _metrics(single.train_step(batch))
        m2 = _metrics(mirrored.train_step(_distributed(strategy, batch)))
    _assert_same_training(single, mirrored, start, m1, m2)


@pytest.mark.onednn
@pytest.mark.parametrize("jit", ["off", "on"])
def test_four_steps_in_one_call_equal_four_calls(jit):
    # Batch norm and dropout: the moving statistics and the dropout RNG must advance
    # exactly as they do over separate calls.
    cfg = _config(train={"jit": jit})
    calls = _model(cfg)
    looped = _model(cfg, calls)
    for a, b in zip(calls.generator.non_trainable_variables,
                    looped.generator.non_trainable_variables):
        b.assign(a)  # the dropout RNG state too
    batches = _batches(4)
    per_call = [_metrics(calls.train_step(batch)) for batch in batches]
    iterator = iter(tf.data.Dataset.from_tensor_slices(
        tuple(tf.stack(x) for x in zip(*batches))))
    mean = _metrics(looped.train_steps(iterator, tf.constant(4)))
    assert int(looped.step.numpy()) == 4
    for key in mean:
        assert mean[key] == pytest.approx(np.mean([m[key] for m in per_call]), rel=1e-6), key
    for w1, w2 in zip(_weights(calls), _weights(looped)):
        np.testing.assert_array_equal(w2, w1)
    for v1, v2 in zip(calls.generator.non_trainable_variables,
                      looped.generator.non_trainable_variables):
        np.testing.assert_array_equal(v2.numpy(), v1.numpy())


# --- through the loop ---------------------------------------------------------------------

def _loop_config(pairs_dir, run_dir, **train):
    return tiny_config(pairs_dir, run_dir, data={"load_size": 36, "crop_size": 32},
                       model={"num_downs": 4}, train={"n_epochs": 5, **train},
                       log={"log_every": 6, "image_every": 100, "checkpoint_every": 10})


def test_intervals_that_are_not_multiples_of_the_call_take_effect_at_the_call_that_crosses_them(
        pairs_dir, tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    from tfpix2pix.training.loop import train
    run_dir = tmp_path / "run"
    summary = train(_loop_config(pairs_dir, run_dir, steps_per_call=4, max_steps=18),
                    out=open(os.devnull, "w"), err=open(os.devnull, "w"))
    assert summary["step"] == 18  # the last call is shortened to end at --max-steps
    acc = event_accumulator.EventAccumulator(str(run_dir),
                                             size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    # Calls end at 4, 8, 12, 16, 18: --log-every 6 is crossed by the calls ending at 8 and
    # 12 (and the run's end); --checkpoint-every 10 by the call ending at 12, then the end.
    assert [e.step for e in acc.Tensors("loss/G_L1")] == [8, 12, 18]
    saved = tf.train.get_checkpoint_state(run_folder.checkpoints_dir(run_dir))
    assert [int(p.rsplit("-", 1)[1]) for p in saved.all_model_checkpoint_paths] == [12, 18]


@pytest.mark.onednn
def test_a_bf16_trained_run_resumes_in_fp32_and_exports_float32(pairs_dir, tmp_path):
    from tfpix2pix.inference.translator import from_run
    from tfpix2pix.training.loop import train
    run_dir = tmp_path / "run"
    quiet = dict(out=open(os.devnull, "w"), err=open(os.devnull, "w"))
    first = train(_loop_config(pairs_dir, run_dir, precision="mixed_bf16", max_steps=2), **quiet)
    assert first["precision"] == "mixed_bf16" and first["step"] == 2
    again = train(_loop_config(pairs_dir, run_dir, precision="fp32", max_steps=3), **quiet)
    assert again["start_step"] == 2 and again["step"] == 3 and again["precision"] == "fp32"
    translator = from_run(str(run_dir))
    out = translator(np.zeros((32, 48, 3), np.float32))
    assert out.dtype == np.float32 and out.shape == (32, 48, 3) and np.isfinite(out).all()
