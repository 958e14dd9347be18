"""Every generator, discriminator, GAN objective and ablation switch trains through the step."""

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from tfpix2pix.models import DISCRIMINATORS, GENERATORS
from tfpix2pix.training.step import Pix2Pix

SIZE = 32  # a multiple of every stride at the depths below


def _model(**sections):
    sections.setdefault("data", {})
    sections["data"] = {"load_size": 36, "crop_size": SIZE, **sections["data"]}
    return Pix2Pix(tiny_config("unused", "unused", **sections), tf.distribute.get_strategy(),
                   steps_per_epoch=10)


def _batch(seed=0, size=SIZE, a_channels=3, b_channels=3, batch=2):
    rng = np.random.default_rng(seed)
    return (tf.constant(rng.uniform(-1, 1, (batch, size, size, a_channels)), tf.float32),
            tf.constant(rng.uniform(-1, 1, (batch, size, size, b_channels)), tf.float32))


def _weights(nets):
    return [v.numpy() for net in nets for v in net.trainable_variables]


def _two_steps(model, **batch):
    nets = [n for n in (model.generator, model.discriminator) if n is not None]
    before = _weights(nets)
    metrics = [{k: float(v) for k, v in model.train_step(_batch(seed, **batch)).items()}
               for seed in range(2)]
    after = _weights(nets)
    assert all(np.isfinite(v) for m in metrics for v in m.values()), metrics
    assert all(np.isfinite(w).all() for w in after)
    moved = sum(not np.array_equal(a, b) for a, b in zip(after, before))
    assert moved > len(before) // 2, f"only {moved} of {len(before)} weights changed"
    assert int(model.step.numpy()) == 2
    return metrics[-1]


GENERATOR_SETTINGS = {  # a tiny version of each (depth 5 for the U-Nets: 32 px)
    "unet_64": {"num_downs": 5}, "unet_128": {"num_downs": 5}, "unet_256": {"num_downs": 5},
    "unet_512": {"num_downs": 5}, "encoder_decoder_256": {"num_downs": 5},
    "resnet_6blocks": {}, "resnet_9blocks": {},
}


@pytest.mark.parametrize("netG", sorted(GENERATORS))
def test_every_generator_trains_two_steps(netG):
    model = _model(model={"netG": netG, **GENERATOR_SETTINGS[netG]})
    _two_steps(model)


@pytest.mark.parametrize("netD, extra", [("basic", {}), ("n_layers", {"n_layers_D": 1}),
                                         ("n_layers", {"n_layers_D": 2}), ("pixel", {}),
                                         ("multiscale", {"num_D": 2, "n_layers_D": 2})])
def test_every_discriminator_trains_two_steps(netD, extra):
    assert netD in DISCRIMINATORS
    model = _model(model={"netG": "unet_64", "num_downs": 5, "netD": netD, **extra})
    metrics = _two_steps(model)
    assert set(metrics) == {"G_GAN", "G_L1", "D_real", "D_fake", "D_x", "D_G_z"}


@pytest.mark.parametrize("gan_mode, norm", [("vanilla", "batch"), ("lsgan", "batch"),
                                            ("hinge", "instance"), ("wgangp", "instance"),
                                            ("wgangp", "none")])
def test_every_gan_objective_trains(gan_mode, norm):
    model = _model(model={"num_downs": 5, "norm": norm}, train={"gan_mode": gan_mode})
    metrics = _two_steps(model)
    assert ("D_gp" in metrics) == (gan_mode == "wgangp")
    if gan_mode == "wgangp":
        assert metrics["D_gp"] > 0
    # D_x is D's mean output on the real pairs, by the D the step starts from: its mean
    # probability in vanilla, and its raw output (a critic's value, not a probability) in
    # the other modes. D in training mode on the same batch gives the same logits.
    batch = _batch(seed=7)
    logits = np.asarray(model.discriminator(model._d_input(*batch), training=True))
    mean_output = 1 / (1 + np.exp(-logits)) if gan_mode == "vanilla" else logits
    d_x = float(model.train_step(batch)["D_x"])
    np.testing.assert_allclose(d_x, mean_output.mean(), rtol=1e-4, atol=1e-6)
    if gan_mode != "vanilla":
        assert abs(d_x - (1 / (1 + np.exp(-logits))).mean()) > 1e-3  # not a probability


def test_multiscale_with_feature_matching_adds_the_term_and_trains():
    model = _model(model={"num_downs": 5, "netD": "multiscale", "num_D": 2, "n_layers_D": 2},
                   train={"lambda_feat": 10.0, "gan_mode": "lsgan"})
    metrics = _two_steps(model)
    assert metrics["G_feat"] > 0


def test_no_gan_builds_no_discriminator_and_trains_l1_only():
    model = _model(model={"num_downs": 5}, train={"no_gan": True})
    assert model.discriminator is None and model.metric_names == ("G_L1",)
    metrics = _two_steps(model)
    assert set(metrics) == {"G_L1"}
    checkpoint = model.checkpoint()
    assert hasattr(checkpoint, "generator")
    assert not hasattr(checkpoint, "discriminator") and not hasattr(checkpoint, "d_optimizer")


def test_unconditional_discriminator_sees_only_b():
    model = _model(model={"num_downs": 5, "unconditional": True})
    assert model.discriminator.input_shape[-1] == 3  # B's channels, not A's and B's
    _two_steps(model)


def test_channels_from_1_to_4_set_g_and_d_shapes():
    model = _model(model={"num_downs": 5}, data={"input_nc": 1, "output_nc": 4})
    assert model.generator.input_shape[-1] == 1 and model.generator.output_shape[-1] == 4
    assert model.discriminator.input_shape[-1] == 5
    _two_steps(model, a_channels=1, b_channels=4)


def test_sizes_that_are_not_multiples_of_the_stride_are_padded_for_g_and_cropped_back():
    # --preprocess none/scale_width hand the step such sizes: G sees them reflect-padded
    # to its stride (32 at depth 5), and its output is cropped back for the losses.
    model = _model(model={"num_downs": 5}, data={"preprocess": "none"})
    a, b = _batch(size=64)
    odd = (a[:, :27, :45], b[:, :27, :45])
    fake = model._g_forward(odd[0])
    assert fake.shape == (2, 27, 45, 3)
    metrics = model.train_step(odd)
    assert all(np.isfinite(float(v)) for v in metrics.values())


def test_the_lr_policy_drives_the_optimizers():
    model = _model(model={"num_downs": 5}, train={"lr_policy": "step", "lr_decay_iters": 1,
                                                  "n_epochs": 3, "n_epochs_decay": 0})
    model.step.assign(25)  # epoch 2 of 10 steps each: lr * 0.1 ** 2
    assert float(model.g_adam.learning_rate) == pytest.approx(2e-4 * 0.01)
    assert float(model.d_adam.learning_rate) == pytest.approx(2e-4 * 0.01)


# --- through the loop: datasets written by the test, HParams, val L1 ----------------------

def _write(path, pixels):
    """A PNG of uint8 or uint16 (a 16-bit PNG) pixels with 1 to 4 channels, or a JPEG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    encode = tf.io.encode_jpeg if path.suffix == ".jpg" else tf.io.encode_png
    tf.io.write_file(str(path), encode(pixels))


def _dataset(root, kind, rng, count=4, size=32):
    """An aligned ([A | B]) or two-folder dataset of ``kind`` images, train/ and val/."""
    channels = {"gray": 1, "rgba": 4, "16bit": 1, "two_folders": 3}[kind]
    dtype, top = (np.uint16, 65535) if kind == "16bit" else (np.uint8, 255)
    for split, n in (("train", count), ("val", 2)):
        for i in range(n):
            pair = rng.integers(0, top + 1, (size, 2 * size, channels)).astype(dtype)
            if kind == "two_folders":
                _write(root / "A" / split / f"{i}.png", pair[:, :size])
                _write(root / "B" / split / f"{i}.jpg", pair[:, size:])
            else:
                _write(root / split / f"{i:03d}.png", pair)
    return root


@pytest.mark.parametrize("kind, channels", [("gray", (1, 1)), ("rgba", (4, 4)),
                                            ("16bit", (1, 1)), ("two_folders", (3, 3))])
def test_datasets_written_by_the_test_train_a_step(tmp_path, kind, channels):
    from tfpix2pix.training.loop import train
    root = _dataset(tmp_path / kind, kind, np.random.default_rng(5))
    cfg = tiny_config(root, tmp_path / "run", data={
        "load_size": 36, "crop_size": SIZE, "input_nc": channels[0], "output_nc": channels[1]},
        model={"num_downs": 5}, train={"max_steps": 1})
    summary = train(cfg, out=open(os.devnull, "w"), err=open(os.devnull, "w"))
    assert summary["step"] == 1 and np.isfinite(summary["val_l1"])
    assert all(np.isfinite(v) for v in summary["metrics"].values())


def test_every_run_logs_its_config_to_hparams_with_val_l1(tmp_path, pairs_dir):
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    from tfpix2pix.training.loop import train
    cfg = tiny_config(pairs_dir, tmp_path / "run", data={"load_size": 36, "crop_size": SIZE},
                      model={"num_downs": 5}, train={"max_steps": 4, "gan_mode": "lsgan"},
                      log={"image_every": 2})
    summary = train(cfg, out=open(os.devnull, "w"), err=open(os.devnull, "w"))
    acc = event_accumulator.EventAccumulator(
        str(tmp_path / "run"), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert start.group_name == "test"
    assert start.hparams["train.gan_mode"].string_value == "lsgan"
    assert start.hparams["model.ngf"].number_value == 8
    assert start.hparams["train.no_gan"].bool_value is False
    val = {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors("val/L1")}
    assert sorted(val) == [0, 2, 4]  # with every grid: untrained, then every 2 steps
    assert val[4] == pytest.approx(summary["val_l1"])
    assert 0 < val[4] < 2
