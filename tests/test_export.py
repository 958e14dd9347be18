"""python -m tfpix2pix.export: TF Serving's layout, both signatures, TFLite and ONNX, refusals.

One tiny run is trained on real facades pairs and exported twice: version 1 in eval mode
with TFLite and ONNX, version 2 in per_image mode. Served outputs are compared with the
Keras generator of the run folder in the same test mode.
"""

import base64
import io
import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT, facades_subset, tiny_config

from tfpix2pix import config as C
from tfpix2pix import run_folder
from tfpix2pix.data import folder, pipeline
from tfpix2pix.export.__main__ import main as export_main
from tfpix2pix.inference import serving
from tfpix2pix.errors import UserError
from tfpix2pix.export import tflite
from tfpix2pix.inference.translator import from_export, from_run
from tfpix2pix.models import build_generator, generator_kwargs
from tfpix2pix.models.test_mode import PhaseDeconv, inference_model
from tfpix2pix.training import loop

# Served float outputs against the Keras generator: the same float32 graph, reloaded.
# Bit-equal in-process on a CPU (measured 0); 1e-5 on outputs in [-1, 1] admits another
# kernel choice in a fresh process, and a wrong test mode or stale weights move them by
# > 1e-2 (see test_test_mode.py).
SERVED_ATOL = 1e-5


@pytest.fixture(scope="module")
def run(facades, tmp_path_factory):
    data = facades_subset(facades, tmp_path_factory.mktemp("facades16"))
    run_dir = tmp_path_factory.mktemp("run") / "tiny"
    cfg = tiny_config(data, run_dir, data={"direction": "BtoA"},
                      train={"n_epochs": 3, "n_epochs_decay": 0, "batch_size": 4},
                      log={"log_every": 4, "image_every": 100, "checkpoint_every": 100})
    loop.train(cfg)
    images, _ = pipeline.eval_pairs(folder.list_images(data, "val") +
                                    folder.list_images(data, "train")[:2], 64, "BtoA")
    return cfg, str(run_dir), np.asarray(images)


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    _cfg, run_dir, _images = run
    root = tmp_path_factory.mktemp("exported")
    out = io.StringIO()
    assert export_main([run_dir, "--output", str(root), "--tflite", "fp32,fp16,int8",
                        "--onnx"], out=out) == 0
    assert export_main([run_dir, "--output", str(root), "--test-mode", "per_image"]) == 0
    return root / "test", out.getvalue()


def test_layout_is_tf_servings_with_the_model_info_beside_it(exported):
    base, report = exported
    assert sorted(n for n in os.listdir(base) if n.isdigit()) == ["1", "2"]
    for version, mode in (("1", "eval"), ("2", "per_image")):
        names = os.listdir(base / version)
        assert {"saved_model.pb", "variables", "tfpix2pix.json"} <= set(names)
        info = json.loads((base / version / "tfpix2pix.json").read_text())
        assert (info["test_mode"], info["direction"], info["netG"]) == (mode, "BtoA", "unet_64")
        assert info["stride"] == 64 and info["training_step"] == 12
    assert not [n for n in os.listdir(base) if n.startswith(".partial")]
    assert "tflite_int8" in report and "PSNR" in report


def test_each_tflite_and_onnx_file_was_checked_against_keras(exported):
    base, _report = exported
    checks = json.loads((base / "checks-1.json").read_text())["artifacts"]
    assert set(checks) == {"saved_model", "tflite_fp32", "tflite_fp16", "tflite_int8", "onnx"}
    for label, check in checks.items():
        assert os.path.exists(check["path"]), label
    # fp32 conversions run the same float32 math with other kernels (measured ~3e-8).
    assert checks["saved_model"]["max_abs_diff"] == 0.0
    assert checks["tflite_fp32"]["max_abs_diff"] <= 1e-4
    assert checks["onnx"]["max_abs_diff"] <= 1e-4
    # Quantised weights: the bar on real images (measured ~109 and ~85 dB here).
    assert checks["tflite_fp16"]["psnr_db"] >= 30 and checks["tflite_int8"]["psnr_db"] >= 30


def test_tflite_files_take_the_runs_crop_size_and_refuse_another(exported, run):
    base, report = exported
    _cfg, _run_dir, images = run
    checks = json.loads((base / "checks-1.json").read_text())
    assert checks["tflite_input"] == [1, 64, 64, 3]  # --tflite-size crop, the default
    assert "input 1x64x64x3" in report
    from ai_edge_litert.interpreter import Interpreter

    for kind in ("fp32", "fp16", "int8"):
        path = checks["artifacts"][f"tflite_{kind}"]["path"]
        detail, = Interpreter(model_path=path).get_input_details()
        assert detail["shape_signature"].tolist() == [1, 64, 64, 3], kind
    with pytest.raises(UserError, match=r"takes 64x64x3 .* got 64x96x3: .*--tflite-size"):
        tflite.run(checks["artifacts"]["tflite_fp32"]["path"],
                   np.concatenate([images[:1], images[1:2, :, :32]], axis=2))


def test_tflite_size_any_keeps_height_and_width_dynamic(run, tmp_path):
    _cfg, run_dir, images = run
    assert export_main([run_dir, "--output", str(tmp_path), "--tflite", "fp32",
                        "--tflite-size", "any"], out=io.StringIO()) == 0
    checks = json.loads((tmp_path / "test" / "checks-1.json").read_text())
    assert checks["tflite_input"] == [None, None, None, 3]
    wide = np.concatenate([images[:2], images[2:4, :, :32]], axis=2)  # 64 x 96: padded inside
    got = tflite.run(checks["artifacts"]["tflite_fp32"]["path"], wide)
    expected = from_run(run_dir, test_mode="eval").translate_batch(wide)
    # The same float32 graph with LiteRT's kernels (measured ~3e-8, as test_export_lite.py).
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.onednn  # numerics: run again with oneDNN the other way (tox.ini)
@pytest.mark.parametrize("mode", ["eval", "per_image"])
def test_the_fast_path_computes_the_same_function(run, exported, mode):
    base, _report = exported
    _cfg, run_dir, images = run
    version = base / ("1" if mode == "eval" else "2")
    reference = from_run(run_dir, test_mode=mode, fast=False).translate_batch(images)
    # The fast path freezes the weights (Grappler then folds BatchNorm into the
    # convolutions) and computes the large transposed convolutions as four forward ones:
    # the same sums in another order, ~1e-6 on [-1, 1] outputs. A wrong phase, tap or
    # weight moves outputs by > 1e-2.
    fast_export = from_export(str(version))
    assert isinstance(fast_export._keep, keras.Model)  # rebuilt from the export's weights
    for translator in (from_run(run_dir, test_mode=mode), fast_export,
                       from_export(str(version), fast=False)):
        np.testing.assert_allclose(translator.translate_batch(images), reference, atol=1e-5)


def test_phase_deconv_equals_the_transposed_convolution():
    # Weight-heavy layers only get the phases (in x out >= 1024 x 512): one such layer,
    # at an odd input size, against Keras's own Conv2DTranspose.
    deconv = keras.layers.Conv2DTranspose(512, 4, strides=2, padding="same", use_bias=True)
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 1024)).astype(np.float32)
    deconv.build(x.shape)
    deconv.bias.assign(np.linspace(-1, 1, 512).astype(np.float32))
    expected = deconv(x).numpy()
    got = PhaseDeconv(deconv)(x).numpy()
    assert got.shape == (2, 6, 10, 512)
    # Sums of 16 x 1024 products of N(0, 1) inputs and N(0, 0.02) weights per output
    # (std ~2.6), summed in another order: float32 rounding ~1e-5 relative.
    np.testing.assert_allclose(got, expected, atol=1e-4 * np.abs(expected).max())


def test_paper_mode_stays_random_on_the_fast_path(run):
    _cfg, run_dir, images = run
    translator = from_run(run_dir, test_mode="paper")
    first, second = (translator.translate_batch(images[:2]) for _ in range(2))
    assert np.abs(first - second).max() > 1e-2  # fresh dropout masks on every call


def test_saved_model_cli_lists_both_signatures_with_their_keys(exported):
    base, _report = exported
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--dir", str(base / "1"), "--all"], capture_output=True,
                           text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert shown.returncode == 0, shown.stderr[-2000:]
    text = shown.stdout
    default = text[text.index("signature_def['serving_default']"):]
    default = default[:default.index("Method name")]
    assert "inputs['image'] tensor_info:" in default and "dtype: DT_FLOAT" in default
    assert "shape: (-1, -1, -1, 3)" in default and "outputs['output']" in default
    as_bytes = text[text.index("signature_def['translate_bytes']"):]
    as_bytes = as_bytes[:as_bytes.index("Method name")]
    assert "inputs['image_bytes']" in as_bytes and "outputs['output_bytes']" in as_bytes
    assert as_bytes.count("DT_STRING") == 2 and as_bytes.count("shape: (-1)") == 2


# --- served in a separate process, through TF Serving's REST request forms --------------

def _b64(data):
    return {"b64": base64.b64encode(data).decode("ascii")}


def _serve(model_dir, requests, tmp_path, **env):
    """Answer REST request bodies with the export loaded in a fresh process."""
    req, resp = tmp_path / "requests.json", tmp_path / "responses.json"
    req.write_text(json.dumps(requests))
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "rest_emulator.py"),
                           str(model_dir), str(req), str(resp)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env})
    assert done.returncode == 0, f"exit {done.returncode}\n" + done.stderr[-3000:]
    return json.loads(resp.read_text())


@pytest.mark.onednn  # numerics: run again with oneDNN the other way (tox.ini)
@pytest.mark.parametrize("version, mode", [("1", "eval"), ("2", "per_image")])
def test_float_requests_in_a_fresh_process_equal_the_keras_generator(
        exported, run, version, mode, tmp_path):
    base, _report = exported
    _cfg, run_dir, images = run
    keras_out = from_run(run_dir, test_mode=mode).translate_batch(images[:4])
    batch = images[:4].tolist()
    requests = [{"inputs": batch},                                     # columnar, bare
                {"signature_name": "serving_default", "inputs": {"image": batch}},
                {"instances": batch}]                                  # row format
    requests += [{"instances": [image]} for image in batch]            # four single calls
    columnar, named, rows, *singles = _serve(base / version, requests, tmp_path)
    for answer in (columnar["outputs"], named["outputs"], rows["predictions"]):
        assert np.asarray(answer).shape == (4, 64, 64, 3)
        np.testing.assert_allclose(np.asarray(answer, np.float32), keras_out, atol=SERVED_ATOL)
    # A batch of 4 gives each image what 4 single calls give (no cross-image statistics).
    one_by_one = np.concatenate([np.asarray(s["predictions"], np.float32) for s in singles])
    np.testing.assert_allclose(np.asarray(columnar["outputs"], np.float32), one_by_one,
                               atol=SERVED_ATOL)


def _encoded(images):
    """A PNG of 64x96 and a JPEG of 80x64 (H x W), both from real pixels."""
    u8 = np.clip(np.round((images + 1) * 127.5), 0, 255).astype(np.uint8)
    png = tf.io.encode_png(np.concatenate([u8[0], u8[1][:, :32]], axis=1)).numpy()
    jpeg = tf.io.encode_jpeg(np.concatenate([u8[2], u8[3][:16]], axis=0), quality=95).numpy()
    return png, jpeg


def test_bytes_requests_round_trip_a_png_and_a_jpeg_of_different_sizes(exported, run, tmp_path):
    base, _report = exported
    _cfg, run_dir, images = run
    png, jpeg = _encoded(images)
    requests = [{"signature_name": "translate_bytes", "instances": [_b64(png), _b64(jpeg)]},
                {"signature_name": "translate_bytes",
                 "inputs": {"image_bytes": [_b64(png), _b64(jpeg)]}},
                {"signature_name": "translate_bytes", "instances": [_b64(b"not an image")]}]
    rows, columnar, bad = _serve(base / "1", requests, tmp_path)
    assert rows["predictions"] == columnar["outputs"]  # the same answer in either form
    translator = from_run(run_dir, test_mode="eval")
    for answer, source in zip(rows["predictions"], (png, jpeg)):
        out = tf.io.decode_png(base64.b64decode(answer["b64"])).numpy()
        decoded = serving.decode(source, 3).numpy()
        assert out.shape == decoded.shape  # each image keeps its own size
        # The float path on the same decoded pixels, rounded to 8 bits: equal up to a level
        # where float32 rounding lands a value on the other side of .5.
        expected = np.round((translator.translate_batch(decoded[None])[0] + 1) * 127.5)
        assert np.abs(out.astype(float) - expected).max() <= 1
    assert "image_bytes[i] is not a PNG, JPEG, GIF or BMP image; i =" in bad["error"]


@pytest.mark.parametrize("onednn", ["0", "1"])
def test_wrong_inputs_get_a_clear_error_and_the_server_keeps_serving(exported, run, tmp_path,
                                                                      onednn):
    base, _report = exported
    _cfg, _run_dir, images = run
    good = {"instances": images[:1].tolist()}
    requests = [{"instances": np.ones((1, 64, 64, 4)).tolist()},     # 4 channels
                {"inputs": np.ones((64, 64, 3)).tolist()},           # one image, not a batch
                {"inputs": np.ones((1, 1, 64, 64, 3)).tolist()},     # rank 5
                {"instances": [[["a", "b", "c"]]]},                  # strings for floats
                good]
    *errors, answer = _serve(base / "1", requests, tmp_path, TF_ENABLE_ONEDNN_OPTS=onednn)
    for error in errors:
        assert set(error) == {"error"} and error["error"]
    for error in errors[:3]:  # the message names the expected shape
        assert "expected shape [?,?,?,3]" in error["error"], error
    assert np.asarray(answer["predictions"]).shape == (1, 64, 64, 3)


# Requests of every kind to load(), the float signature and the bytes signature, each set
# answered in a fresh process with oneDNN on and with it off. An answer is a shape; a
# refusal is matched by a fragment of its message.
ON_FLOAT = "expected shape [?,?,?,3]"  # the signature's run-time shape check
EMPTY_IMAGE = "with H, W >= 1"
NOT_FLOAT = "expected to be a float tensor"  # the signature's own dtype check
FLOAT_REQUESTS = {  # name: (request, load()'s answer, the float signature's answer)
    "batch of 2": ({"shape": [2, 64, 64, 3]}, [2, 64, 64, 3], [2, 64, 64, 3]),
    "odd size": ({"shape": [1, 30, 70, 3]}, [1, 30, 70, 3], [1, 30, 70, 3]),
    "empty batch": ({"shape": [0, 64, 64, 3]}, [0, 64, 64, 3], [0, 64, 64, 3]),
    "rank 3": ({"shape": [64, 64, 3]}, "got rank 3", ON_FLOAT),
    "rank 5": ({"shape": [1, 1, 64, 64, 3]}, "got rank 5", ON_FLOAT),
    "rank 2": ({"shape": [64, 3]}, "got rank 2", ON_FLOAT),
    "scalar": ({"shape": []}, "got rank 0", ON_FLOAT),
    "4 channels": ({"shape": [1, 64, 64, 4]}, "got 4 channels", ON_FLOAT),
    "1 channel": ({"shape": [1, 64, 64, 1]}, "got 1 channels", ON_FLOAT),
    "height 0": ({"shape": [1, 0, 64, 3]}, "got an empty image", EMPTY_IMAGE),
    "width 0": ({"shape": [2, 64, 0, 3]}, "got an empty image", EMPTY_IMAGE),
    "empty batch of empty images": ({"shape": [0, 0, 0, 3]}, "got an empty image",
                                    EMPTY_IMAGE),
    "float64": ({"shape": [1, 64, 64, 3], "dtype": "float64"}, [1, 64, 64, 3], NOT_FLOAT),
    "int32": ({"shape": [1, 64, 64, 3], "dtype": "int32"}, "got dtype int32", NOT_FLOAT),
    "strings": ({"value": [[[["a", "b", "c"]]]]}, "got dtype <U1", NOT_FLOAT),
}


def _bytes_requests(images):
    png, jpeg = _encoded(images)
    u8 = np.clip(np.round((images[0] + 1) * 127.5), 0, 255).astype(np.uint8)
    gray = tf.io.encode_png(u8[:40, :50, :1]).numpy()
    rgba = tf.io.encode_png(np.concatenate([u8, u8[..., :1]], axis=-1)).numpy()
    pixel = tf.io.encode_png(u8[:1, :1]).numpy()
    return {  # name: (encoded images, answer)
        "empty list": ([], [0]),
        "png and jpeg": ([png, jpeg], [2]),
        "gray and rgba": ([gray, rgba], [2]),
        "one pixel": ([pixel], [1]),
        "no bytes": ([b""], "image_bytes[i] is not a PNG, JPEG, GIF or BMP image"),
        "text": ([png, b"hello"], "image_bytes[i] is not a PNG, JPEG, GIF or BMP image"),
        "truncated png": ([png[:60]], "InvalidArgumentError"),
    }


def test_every_kind_of_request_is_answered_or_refused_alike_with_onednn_on_and_off(
        exported, run, tmp_path):
    base, _report = exported
    _cfg, _run_dir, images = run
    requested = _bytes_requests(images)
    requests = {"float": {name: r for name, (r, _l, _f) in FLOAT_REQUESTS.items()},
                "bytes": {name: [base64.b64encode(d).decode("ascii") for d in data]
                          for name, (data, _answer) in requested.items()}}
    (tmp_path / "requests.json").write_text(json.dumps(requests))
    expected = {f"load {name}": want for name, (_r, want, _f) in FLOAT_REQUESTS.items()}
    expected.update({f"float {name}": want for name, (_r, _l, want) in FLOAT_REQUESTS.items()})
    expected.update({f"bytes {name}": want for name, (_d, want) in requested.items()})
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    seen = {}
    for onednn in ("0", "1"):
        answers = tmp_path / f"answers-{onednn}.json"
        done = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "request_probe.py"), str(base / "1"),
             str(tmp_path / "requests.json"), str(answers)], capture_output=True, text=True,
            timeout=600, env={**env, "TF_ENABLE_ONEDNN_OPTS": onednn})
        assert done.returncode == 0, f"oneDNN {onednn}: exit {done.returncode}\n" + \
            done.stderr[-3000:]
        # load() imports TensorFlow under the package's logging policy: nothing on stderr.
        assert done.stderr == "", done.stderr[-3000:]
        seen[onednn] = json.loads(answers.read_text())
    for key, want in expected.items():
        for onednn, answers in seen.items():
            got = answers[key]
            if isinstance(want, list):
                assert got == {"shape": want}, (key, onednn, got)
            else:
                assert "refused" in got and want in got["refused"], (key, onednn, got)
        assert seen["0"][key] == seen["1"][key], key  # the same words on every CPU


# --- refusals -----------------------------------------------------------------------------

def test_refusals_are_one_line_and_write_nothing(run, tmp_path, capsys):
    cfg, run_dir, _images = run
    empty = tmp_path / "empty_run"
    empty.mkdir()
    shutil.copy(run_folder.config_path(run_dir), run_folder.config_path(empty))
    cases = [([str(empty)], ["no checkpoint", str(empty)]),
             ([run_dir, "--tflite", "fp64"], ["--tflite fp64", "fp32, fp16, int8, int8_full"]),
             ([run_dir, "--test-mode", "paper", "--tflite", "fp32"], ["paper", "SavedModel"]),
             ([run_dir, "--tflite", "fp32", "--tflite-size", "48"], ["--tflite-size 48", "64"]),
             ([run_dir, "--test-mode", "train"], ["--test-mode", "eval, per_image, paper"])]
    for argv, fragments in cases:
        assert export_main(argv + ["--output", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        for fragment in fragments:
            assert fragment in err, err
    assert not (tmp_path / "out" / "test").exists() or not os.listdir(tmp_path / "out" / "test")
    assert export_main([run_dir, "--output", str(tmp_path / "out"), "--version", "3"]) == 0
    capsys.readouterr()
    assert export_main([run_dir, "--output", str(tmp_path / "out"), "--version", "3"]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize("channels", [1, 2, 4])
def test_a_run_whose_data_is_gone_is_checked_on_random_images_of_its_channels(
        channels, tmp_path):
    run_dir = tmp_path / "run"
    cfg = tiny_config(tmp_path / "gone", run_dir, model={"ngf": 4},
                      data={"input_nc": channels, "output_nc": channels})
    run_dir.mkdir()
    C.save_yaml(cfg, run_folder.config_path(run_dir))
    generator = build_generator(**generator_kwargs(cfg.model, cfg.data))
    tf.train.Checkpoint(generator=generator, step=tf.Variable(3, dtype=tf.int64)).save(
        os.path.join(run_folder.checkpoints_dir(run_dir), run_folder.CHECKPOINT_PREFIX))
    out = io.StringIO()
    assert export_main([str(run_dir), "--output", str(tmp_path / "out"), "--tflite", "fp32"],
                       out=out) == 0
    assert "the checks use random images" in out.getvalue()
    checks = json.loads((tmp_path / "out" / "test" / "checks-1.json").read_text())
    assert checks["images"] == "random" and checks["tflite_input"] == [1, 64, 64, channels]
    assert set(checks["artifacts"]) == {"saved_model", "tflite_fp32"}


def test_an_interrupted_export_leaves_no_version_folder(run, tmp_path, monkeypatch):
    # Interrupted after the SavedModel is fully written, while its info file is: a folder
    # TF Serving would load as version 1 must not appear, nor the partial one remain.
    _cfg, run_dir, _images = run
    from tfpix2pix.export import saved_model

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(saved_model.json, "dump", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_main([run_dir, "--output", str(tmp_path / "out")])
    assert os.listdir(tmp_path / "out" / "test") == []  # no "1", no partial folder


# --- the README's gRPC example, against a local server with TF Serving's real protos -------

def _readme_block(marker, page="docs/serving.md"):
    """The ```python block of ``page`` (the serving docs) that contains ``marker``."""
    text = (ROOT / page).read_text()
    blocks = text.split("```python\n")[1:]
    found = [b.split("```")[0] for b in blocks if marker in b]
    assert len(found) == 1, f"{len(found)} python blocks of {page} contain {marker!r}"
    return found[0]


def _grpc_server(model_dir):
    """A PredictionService on 127.0.0.1 that answers from the export (in this process)."""
    import concurrent.futures

    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    model = tf.saved_model.load(str(model_dir))

    class Service(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            signature = model.signatures[request.model_spec.signature_name or "serving_default"]
            outputs = signature(**{k: tf.constant(tf.make_ndarray(v))
                                   for k, v in request.inputs.items()})
            reply = predict_pb2.PredictResponse()
            reply.model_spec.CopyFrom(request.model_spec)
            for key, value in outputs.items():
                reply.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
            return reply

    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def test_the_readmes_grpc_example_runs_against_the_export(exported, run, tmp_path, monkeypatch):
    if not os.environ.get("CI"):
        pytest.importorskip("tensorflow_serving", reason="pip install --no-deps "
                            "tensorflow-serving-api (tox installs it)")
    base, _report = exported
    _cfg, _run_dir, images = run
    labels, _ = _encoded(images)  # a 64x96 PNG of real label maps
    monkeypatch.chdir(tmp_path)
    (tmp_path / "labels.png").write_bytes(labels)
    snippet = _readme_block("prediction_service_pb2_grpc")
    assert snippet.count('"localhost:8500"') == 1
    server, port = _grpc_server(base / "1")
    try:
        exec(snippet.replace('"localhost:8500"', f'"127.0.0.1:{port}"'), {})
    finally:
        server.stop(None)
    photo = tf.io.decode_png((tmp_path / "photo.png").read_bytes()).numpy()
    expected = tf.saved_model.load(str(base / "1")).signatures["translate_bytes"](
        image_bytes=tf.constant([labels]))["output_bytes"][0]
    np.testing.assert_array_equal(photo, tf.io.decode_png(expected).numpy())
    assert photo.shape == (64, 96, 3)


def test_the_inference_model_swaps_in_phases_only_where_they_pay():
    # unet_64 at ngf 64 has one decoder deconvolution of 1024 -> 512 channels (the kind that
    # gets phases; unet_256 has three) and five smaller ones, kept as Conv2DTranspose.
    keras.utils.set_random_seed(3)
    g = build_generator("unet_64", ngf=64)
    plain = inference_model(g, "eval")
    phased = inference_model(g, "eval", phase_deconv=True)
    swapped = [layer for layer in phased.layers if isinstance(layer, PhaseDeconv)]
    kept = [layer for layer in phased.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [layer.name for layer in swapped] == ["dec5_deconv_phases"] and len(kept) == 5
    x = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    expected = plain(x).numpy()
    # An untrained G's outputs are small (std ~1e-2): compare relative to their scale.
    np.testing.assert_allclose(phased(x).numpy(), expected, atol=1e-4 * expected.std())
