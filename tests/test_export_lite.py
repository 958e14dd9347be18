"""TFLite (every kind) and ONNX conversion of the float signature, checked against Keras."""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfpix2pix.data.synthetic import make_pair
from tfpix2pix.errors import UserError
from tfpix2pix.export import compare, tflite
from tfpix2pix.export import onnx as onnx_export
from tfpix2pix.models import build_generator

# Numerics and tolerances: run again with oneDNN the other way (tox.ini).
pytestmark = pytest.mark.onednn

SIZE = 64  # unet_64 halves H and W six times: inputs must be multiples of 64
TRAIN_STEPS = 30
TEST_FILES = ("1.jpg", "2.jpg", "3.jpg")  # both halves of each: 6 test images
REPRESENTATIVE_FILES = tuple(f"{i}.jpg" for i in range(11, 17))  # 12 calibration images
MIN_PSNR = 30.0  # dB, for the quantised kinds on real photos and label maps
# fp32 TFLite / ONNX vs Keras: the same float32 function, computed by other kernels
# (XNNPACK or onnxruntime's MLAS vs TF's oneDNN), with BatchNorm folded into the convs and
# another summation order. Float32 rounding (~6e-8 relative per op) adds up over the 12
# conv layers to a few 1e-7 here (measured <= 3e-7); 1e-4 leaves room for larger models
# and other CPUs, but not for a real error: stale BatchNorm statistics (one extra
# training-mode call after export) moved the outputs by ~4e-2.
FLOAT_TOL = 1e-4


def _smooth_noise(rng, n, height, width):
    """Random images with image-like spatial correlation, in [-1, 1]."""
    coarse = rng.uniform(-1, 1, (n, height // 8, width // 8, 3)).astype(np.float32)
    return tf.image.resize(coarse, (height, width), method="bicubic").numpy().clip(-1, 1)


def _facade_halves(folder, names):
    """Both halves ([photo | labels]) of each file, resized to SIZE x SIZE, in [-1, 1]."""
    images = []
    for name in names:
        pair = tf.io.decode_jpeg(tf.io.read_file(str(folder / "train" / name)), channels=3)
        half = pair.shape[1] // 2
        for part in (pair[:, :half], pair[:, half:]):
            small = tf.image.resize(tf.cast(part, tf.float32), (SIZE, SIZE), antialias=True)
            images.append(small.numpy() / 127.5 - 1.0)
    return np.clip(np.stack(images), -1, 1).astype(np.float32)


@pytest.fixture(scope="module")
def generator():
    """unet_64 (ngf 8) after a few L1 steps on the built-in pairs.

    Trained, not freshly initialised: an untrained G's output is tiny (std ~0.006), which
    any kind matches, and its BatchNorm statistics are the trivial (0, 1). After training,
    the moving statistics that the converters fold into the convs are real ones.
    """
    keras.utils.set_random_seed(7)
    g = build_generator("unet_64", ngf=8)
    rng = np.random.default_rng(0)
    pairs = [make_pair(rng, SIZE) for _ in range(16)]
    labels, photos = (np.stack(side).astype(np.float32) / 127.5 - 1.0 for side in zip(*pairs))
    optimizer = keras.optimizers.Adam(2e-3, beta_1=0.5)

    @tf.function
    def step(a, b):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(g(a, training=True) - b))
        optimizer.apply_gradients(zip(tape.gradient(loss, g.trainable_variables),
                                      g.trainable_variables))

    for i in range(TRAIN_STEPS):
        batch = slice(4 * i % 16, 4 * i % 16 + 4)
        step(labels[batch], photos[batch])
    norms = [layer for layer in g.layers if isinstance(layer, keras.layers.BatchNormalization)]
    variances = np.concatenate([layer.moving_variance.numpy() for layer in norms])
    assert np.abs(variances - 1.0).max() > 0.5  # far from the initial (0, 1) statistics
    assert g(labels, training=False).numpy().std() > 0.2  # outputs span a good part of [-1, 1]
    return g


@pytest.fixture(scope="module")
def saved_model(generator, tmp_path_factory):
    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_endpoint(
        "serving_default",
        tf.function(lambda image: {"output": generator(image, training=False)}),
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="image")])
    path = tmp_path_factory.mktemp("export") / "saved_model"
    archive.write_out(str(path), verbose=False)
    return str(path)


@pytest.fixture(scope="module")
def facade_images(facades):
    return {"test": _facade_halves(facades, TEST_FILES),
            "representative": _facade_halves(facades, REPRESENTATIVE_FILES)}


@pytest.fixture(scope="module")
def tflite_files(saved_model, tmp_path_factory):
    """``get(kind, representative)`` -> .tflite path; each kind is converted once."""
    folder = tmp_path_factory.mktemp("tflite")
    cache = {}

    def get(kind, representative=None):
        if kind not in cache:
            path = folder / f"{kind}.tflite"
            assert tflite.convert(saved_model, path, kind, representative=representative) == path
            cache[kind] = path
        return cache[kind]

    return get


def _tflite(kind, tflite_files, request):
    representative = None
    if kind == "int8_full":  # a generator: any iterable of batch-1 arrays must do
        images = request.getfixturevalue("facade_images")["representative"]
        representative = (image[None] for image in images)
    return tflite_files(kind, representative)


@pytest.fixture(scope="module")
def onnx_file(saved_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "generator.onnx"
    assert onnx_export.convert(saved_model, path) == path
    return path


def test_tflite_fp32_matches_keras(generator, tflite_files, request):
    x = _smooth_noise(np.random.default_rng(1), 2, SIZE, SIZE)
    path = _tflite("fp32", tflite_files, request)
    got = tflite.run(path, x)
    assert got.dtype == np.float32 and got.shape == x.shape
    assert compare.max_abs_diff(got, generator(x, training=False)) <= FLOAT_TOL
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".tmp")] == []


@pytest.mark.parametrize("kind", ["fp16", "int8", "int8_full"])
def test_tflite_quantised_psnr_on_facades(kind, generator, tflite_files, facade_images, request):
    x = facade_images["test"]
    got = tflite.run(_tflite(kind, tflite_files, request), x)
    assert compare.psnr(got, generator(x, training=False).numpy()) >= MIN_PSNR


@pytest.mark.parametrize("kind", tflite.KINDS)
def test_tflite_dynamic_size(kind, generator, tflite_files, request):
    x = _smooth_noise(np.random.default_rng(2), 2, SIZE, 2 * SIZE)  # 64 x 128, batch 2
    got = tflite.run(_tflite(kind, tflite_files, request), x)
    assert got.shape == (2, SIZE, 2 * SIZE, 3)
    # Not just the right shape: the output must still be G's.
    assert compare.psnr(got, generator(x, training=False).numpy()) >= MIN_PSNR


@pytest.mark.parametrize("shape", [(2, SIZE, SIZE, 3), (1, 2 * SIZE, 3 * SIZE, 3)])
def test_onnx_matches_keras(shape, generator, onnx_file):
    # 96 x 128 is not a valid unet_64 input (H and W must be multiples of 64), so the second
    # size is 128 x 192: batch, height and width all differ from the first.
    x = np.random.default_rng(3).uniform(-1, 1, shape).astype(np.float32)
    got = onnx_export.run(onnx_file, x)
    assert got.dtype == np.float32 and got.shape == shape
    assert compare.max_abs_diff(got, generator(x, training=False)) <= FLOAT_TOL


def test_int8_full_needs_representative(saved_model, tmp_path):
    with pytest.raises(UserError, match="representative=") as info:
        tflite.convert(saved_model, tmp_path / "m.tflite", "int8_full")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "m.tflite").exists()


def _one_line(info, install):
    message = str(info.value)
    assert "\n" not in message and f"pip install '{install}'" in message


def test_tflite_run_without_litert(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(UserError) as info:
        tflite.run(tmp_path / "m.tflite", np.zeros((1, SIZE, SIZE, 3), np.float32))
    _one_line(info, "tfpix2pix[tflite]")


@pytest.mark.parametrize("module", ["tf2onnx", "onnx"])
def test_onnx_convert_without_converter(module, monkeypatch, saved_model, tmp_path):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(UserError, match=module) as info:
        onnx_export.convert(saved_model, tmp_path / "m.onnx")
    _one_line(info, "tfpix2pix[onnx]")
    assert not (tmp_path / "m.onnx").exists()


def test_onnx_run_without_onnxruntime(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(UserError, match="onnxruntime") as info:
        onnx_export.run(tmp_path / "m.onnx", np.zeros((1, SIZE, SIZE, 3), np.float32))
    _one_line(info, "tfpix2pix[onnx]")


def test_compare_helpers():
    a = np.zeros((1, 2, 2, 3), np.float32)
    b = a.copy()
    assert compare.psnr(a, b) == float("inf") and compare.max_abs_diff(a, b) == 0.0
    b[0, 0, 0, 0] = 0.5
    assert compare.max_abs_diff(a, b) == 0.5
    # MSE = 0.25 / 12, range 2: 10 log10(4 * 12 / 0.25) = 22.83 dB
    assert compare.psnr(a, b) == pytest.approx(10 * np.log10(48 / 0.25))


BAD_BATCHES = {  # name: (batch, fragment of the refusal)
    "one image, not a batch": (np.zeros((SIZE, SIZE, 3), np.float32), "got rank 3"),
    "rank 5": (np.zeros((1, 1, SIZE, SIZE, 3), np.float32), "got rank 5"),
    "4 channels": (np.zeros((1, SIZE, SIZE, 4), np.float32), "got 4 channels"),
    "empty image": (np.zeros((1, 0, SIZE, 3), np.float32), "got an empty image"),
    "8-bit pixels": (np.zeros((1, SIZE, SIZE, 3), np.uint8), "got dtype uint8"),
    "out of range": (np.full((1, SIZE, SIZE, 3), 2.0, np.float32), "got values in [2, 2]"),
    "NaN": (np.full((1, SIZE, SIZE, 3), np.nan, np.float32), "NaN"),
}


@pytest.mark.parametrize("runner", ["tflite", "onnx"])
def test_converted_models_refuse_a_bad_batch_and_answer_an_empty_one(runner, tflite_files,
                                                                     onnx_file):
    # The LiteRT and onnxruntime runners check a request by the rule load() and the
    # exported signature follow (inference.request), before the runtime sees it.
    run = (lambda b: tflite.run(tflite_files("fp32"), b)) if runner == "tflite" else (
        lambda b: onnx_export.run(onnx_file, b))
    for name, (batch, fragment) in BAD_BATCHES.items():
        with pytest.raises(UserError, match=r"^image must be a batch \[N, H, W, 3\]") as info:
            run(batch)
        assert fragment in str(info.value) and "\n" not in str(info.value), name
    assert run(np.zeros((0, SIZE, SIZE, 3), np.float32)).shape == (0, SIZE, SIZE, 3)
