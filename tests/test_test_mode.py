"""The generator's test modes: what each computes, and that none has side effects."""

import keras
import numpy as np
import pytest

import tfpix2pix
from tfpix2pix.models.test_mode import inference_model

# Numerics and tolerances: run again with oneDNN the other way (tox.ini).
pytestmark = pytest.mark.onednn

# Tolerances. The same ops on the same values agree bit for bit on a CPU; "1e-6" admits
# GPU kernels that sum in another order. A batch and its single images go through kernels
# blocked differently for N=8 and N=1, so float32 sums may round differently: measured
# <= 2e-7 on outputs in [-1, 1]; 1e-5 keeps a margin and is far below the ~1e-1 that
# mixing statistics across images (BatchNorm over the batch) causes here.
SAME_OPS, BATCH_VS_SINGLE = 1e-6, 1e-5


def random_images(n, seed=0, size=64):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)).astype("float32")


@pytest.fixture(scope="module")
def trained_like():
    """A tiny generator whose BatchNorm moving statistics are not the initial 0 / 1."""
    keras.utils.set_random_seed(0)
    g = tfpix2pix.build_generator("unet_64", ngf=8)
    for seed in range(3):
        g(random_images(4, seed) * 0.5 + 0.2, training=True)
    return g


def snapshot(model):
    return [v.numpy().copy() for v in model.variables]


@pytest.mark.parametrize("mode", ["eval", "per_image", "paper"])
def test_no_mode_changes_a_variable(trained_like, mode):
    before = snapshot(trained_like)
    model = inference_model(trained_like, mode)
    for _ in range(2):
        model(random_images(2), training=False)
        model(random_images(2), training=True)  # even if a caller asks for training mode
    after = snapshot(trained_like)
    assert len(before) > 40  # weights, BN statistics and dropout RNG states
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", ["eval", "per_image"])
def test_a_batch_gives_each_image_what_single_calls_give(trained_like, mode):
    model = inference_model(trained_like, mode)
    x = random_images(8, seed=5)
    batch = np.asarray(model(x, training=False))
    singles = np.concatenate([np.asarray(model(x[i:i + 1], training=False)) for i in range(8)])
    np.testing.assert_allclose(batch, singles, atol=BATCH_VS_SINGLE)


def test_eval_is_the_generator_in_inference_mode(trained_like):
    x = random_images(3, seed=6)
    np.testing.assert_allclose(np.asarray(inference_model(trained_like, "eval")(x)),
                               np.asarray(trained_like(x, training=False)), atol=SAME_OPS)


def test_per_image_is_the_papers_batchnorm_at_batch_1(trained_like):
    # The paper tests with BatchNorm in training mode at batch 1: each image's own statistics.
    # Compared on a copy without dropout, whose training-mode call only differs in that.
    no_dropout = tfpix2pix.build_generator("unet_64", ngf=8, use_dropout=False)
    no_dropout.set_weights([w for w in trained_like.get_weights()
                            if w.dtype != np.uint32])  # the dropout layers' RNG states
    per_image = inference_model(trained_like, "per_image")
    eval_mode = inference_model(trained_like, "eval")
    for seed in range(3):
        x = random_images(1, seed=10 + seed)
        paper_bn = np.asarray(no_dropout(x, training=True))
        np.testing.assert_allclose(np.asarray(per_image(x)), paper_bn, atol=SAME_OPS)
        # and it is not what the moving statistics give
        assert np.abs(np.asarray(eval_mode(x)) - paper_bn).max() > 1e-2


def test_paper_mode_drops_out_at_random(trained_like):
    paper = inference_model(trained_like, "paper")
    per_image = inference_model(trained_like, "per_image")
    x = random_images(1, seed=20)
    first, second = np.asarray(paper(x)), np.asarray(paper(x))
    assert np.abs(first - second).max() > 1e-2  # new masks every call
    assert np.abs(first - np.asarray(per_image(x))).max() > 1e-2  # dropout is on


def test_instance_norm_generators_are_the_same_in_eval_and_per_image():
    g = tfpix2pix.build_generator("unet_64", ngf=8, norm="instance", use_dropout=False)
    x = random_images(2, seed=30)
    np.testing.assert_allclose(np.asarray(inference_model(g, "per_image")(x)),
                               np.asarray(inference_model(g, "eval")(x)), atol=SAME_OPS)


def test_unknown_mode_is_refused_in_the_house_style(trained_like):
    with pytest.raises(ValueError, match=r"`test_mode` must be one of eval, per_image, paper. "
                                         r"Received: test_mode='train'"):
        inference_model(trained_like, "train")
