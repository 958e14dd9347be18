"""python -m tfpix2pix.evaluate: scores against an independent computation, the protocol,
label maps, FID/KID through a tiny stand-in for the Inception graph (from a file and from a
local download), and one-line errors for bad input.

The runs are not trained: a tiny generator is built and saved as a run folder's checkpoint
(``run_folder.prepare`` + ``checkpoint_manager``), which is all evaluate reads. Its outputs
are far from the targets, which is what scores are for; nothing here depends on quality.
"""

import argparse
import hashlib
import http.server
import io
import json
import os
import tarfile
import threading

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config, write_pairs
from PIL import Image

from tfpix2pix import run_folder
from tfpix2pix.errors import UserError
from tfpix2pix.evaluate import main
from tfpix2pix.evaluation import distances, inception, palettes, runner
from tfpix2pix.inference.translator import load
from tfpix2pix.models import build_generator, generator_kwargs

STEP = 7
NAMES = ("1.jpg", "2.jpg", "3.jpg", "4.jpg")


def untrained_run(data, run_dir, direction):
    """A run folder whose checkpoint holds a freshly built tiny generator, at step STEP."""
    cfg = tiny_config(data, run_dir, data={"direction": direction})
    run_folder.prepare(cfg)
    generator = build_generator(**generator_kwargs(cfg.model, cfg.data))
    step = tf.Variable(STEP, dtype=tf.int64)
    run_folder.checkpoint_manager(tf.train.Checkpoint(generator=generator, step=step),
                                  cfg.run_dir, 1, step).save()
    return str(run_dir)


@pytest.fixture(scope="module")
def data(facades, tmp_path_factory):
    """A dataset folder whose test/ split links four real facades pairs ([photo | labels])."""
    root = tmp_path_factory.mktemp("facades4")
    (root / "test").mkdir()
    for name in NAMES:
        os.symlink(facades / "test" / name, root / "test" / name)
    return root


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    """labels -> photo (BtoA), the facades direction of the paper."""
    return untrained_run(data, tmp_path_factory.mktemp("runs") / "tiny", "BtoA")


def evaluate(*args):
    """Run the command; (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def scored(run, data, out, *args):
    code, stdout, stderr = evaluate("--model", run, "--data", data, "--out", out, *args)
    assert code == 0, stderr
    with open(out / "metrics.json") as fh:
        result = json.load(fh)
    with open(out / "per_image.csv") as fh:
        lines = fh.read().splitlines()
    rows = [dict(zip(lines[0].split(","), line.split(","))) for line in lines[1:]]
    return result, rows, stdout


def resized(half, size=64):
    """The protocol's resize, written out: bicubic with antialiasing, rounded to uint8."""
    x = tf.image.resize(half, (size, size), method="bicubic", antialias=True)
    return np.asarray(tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8))


def test_scores_match_a_computation_from_the_files(run, data, tmp_path):
    result, rows, stdout = scored(run, data, tmp_path / "out", "--samples", 2)
    translator = load(run)
    assert [row["name"] for row in rows] == list(NAMES)
    for row in rows:
        with Image.open(data / "test" / row["name"]) as im:  # [photo | labels]
            pair = np.asarray(im.convert("RGB"))
        output = translator(resized(pair[:, 256:])) / 255.0  # uint8 in: uint8 out
        target = resized(pair[:, :256]) / 255.0
        diff = output - target
        assert float(row["l1"]) == pytest.approx(np.abs(diff).mean(), rel=1e-5)
        assert float(row["psnr"]) == pytest.approx(10 * np.log10(1 / np.mean(diff ** 2)),
                                                   rel=1e-5)
        assert float(row["ssim"]) == pytest.approx(float(tf.image.ssim(output, target, 1.0)),
                                                   abs=1e-5)
    for key in ("l1", "psnr", "ssim"):
        values = [float(row[key]) for row in rows]
        assert result[key]["mean"] == pytest.approx(np.mean(values), rel=1e-5)
        lo, hi = result[key]["ci95"]
        assert min(values) <= lo <= result[key]["mean"] <= hi <= max(values)
    assert result["psnr_capped"] == 0
    protocol = result["protocol"]
    assert {k: protocol[k] for k in ("model", "training_step", "direction", "test_mode",
                                     "split", "images", "size", "crop_size")} == {
        "model": run, "training_step": STEP, "direction": "BtoA", "test_mode": "eval",
        "split": "test", "images": 4, "size": "crop", "crop_size": 64}
    assert set(protocol["code"]) <= {"commit", "version"} and len(protocol["code"]) == 1
    assert "1000 resamples" in protocol["scores"]["ci95"]
    page = (tmp_path / "out" / "samples" / "index.html").read_text()
    assert page.count("<tr><td>") == 2 and "outputs/1.png" in page
    assert stdout.splitlines()[0] == (f"test split of {data}: 4 images; model test (step "
                                      f"{STEP}, eval mode)")
    assert stdout.splitlines()[-1] == f"written to {tmp_path / 'out'}"


def test_full_size_test_mode_and_the_default_folder(run, data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, stderr = evaluate("--model", run, "--data", data, "--full-size", "--test-mode",
                               "per_image")
    assert code == 0, stderr
    result = json.loads((tmp_path / "evaluation" / "test-test" / "metrics.json").read_text())
    protocol = result["protocol"]
    assert (protocol["size"], protocol["test_mode"]) == ("full", "per_image")
    assert "crop_size" not in protocol


def test_label_maps_are_scored_with_a_palette(data, tmp_path):
    run = untrained_run(data, tmp_path / "photo2labels", "AtoB")
    result, rows, stdout = scored(run, data, tmp_path / "out", "--palette", "facades")
    lines = (tmp_path / "out" / "confusion.csv").read_text().splitlines()
    assert lines[0].split(",") == ["target \\ output", *palettes.FACADES.classes]
    matrix = np.array([[int(v) for v in line.split(",")[1:]] for line in lines[1:]])
    assert matrix.sum() == 4 * 64 * 64  # every pixel of the 4 targets, at the crop size
    assert result["labels"] == palettes.scores(matrix, palettes.FACADES)
    assert result["labels"]["pixel_accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    per_image = [float(row["pixel_accuracy"]) for row in rows]
    assert np.mean(per_image) == pytest.approx(result["labels"]["pixel_accuracy"], rel=1e-5)
    with Image.open(tmp_path / "out" / "confusion.png") as png:
        assert png.format == "PNG" and min(png.size) > 300
    assert result["protocol"]["palette"]["name"] == "facades"
    assert stdout.splitlines()[-2].startswith("labels: pixel accuracy ")


# ---------------------------------------------------------------- FID and KID

def tiny_inception_graph():
    """GraphDef bytes with the real graph's tensor names and wiring at the input (JPEG
    bytes -> DecodeJpeg -> Cast -> ExpandDims -> ResizeBilinear to 299), a small random
    network down to a 2048-wide pool_3 (1 x 1 x 2048 per image), and, like the 2015 graph,
    a BatchNormWithGlobalNormalization op under a GraphDef version before its removal (9)."""
    graph = tf.Graph()
    rng = np.random.default_rng(0)
    with graph.as_default():
        contents = tf.compat.v1.placeholder(tf.string, [], name="DecodeJpeg/contents")
        decoded = tf.io.decode_jpeg(contents, channels=3, name="DecodeJpeg")
        expanded = tf.expand_dims(tf.cast(decoded, tf.float32, name="Cast"), 0, name="ExpandDims")
        x = tf.raw_ops.ResizeBilinear(images=expanded, size=[299, 299], name="ResizeBilinear")
        x = (x - 128.0) / 128.0
        kernel = tf.constant(rng.normal(0, 0.3, (4, 4, 3, 8)).astype(np.float32))
        x = tf.nn.conv2d(x, kernel, 4, "VALID", name="conv")
        for name, value in (("mean", 0.1), ("variance", 2.0), ("beta", 0.2), ("gamma", 1.5)):
            tf.constant(np.full(8, value, np.float32), name=f"conv/{name}")
        x = tf.identity(x, name="conv/batchnorm")  # becomes the old op below
        x = tf.reduce_mean(tf.tanh(x), [1, 2])
        weights = tf.constant(rng.normal(0, 1, (8, 2048)).astype(np.float32))
        tf.reshape(tf.tanh(tf.matmul(x, weights)), [-1, 1, 1, 2048], name="pool_3")
    graph_def = graph.as_graph_def()
    node = next(n for n in graph_def.node if n.name == "conv/batchnorm")
    node.op = "BatchNormWithGlobalNormalization"
    node.input[:] = ["conv"] + [f"conv/{n}" for n in ("mean", "variance", "beta", "gamma")]
    node.attr.clear()
    node.attr["T"].type = tf.float32.as_datatype_enum
    node.attr["variance_epsilon"].f = 0.001
    node.attr["scale_after_normalization"].b = True
    graph_def.versions.producer = 8
    return graph_def.SerializeToString()


@pytest.fixture(scope="module")
def tiny_graph(tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / inception.MEMBER
    path.write_bytes(tiny_inception_graph())
    return path


def test_fid_and_kid_with_the_graph_from_a_file(run, data, tiny_graph, tmp_path):
    out = tmp_path / "out"
    result, _rows, stdout = scored(run, data, out, "--fid", "--kid", "--inception", tiny_graph,
                                   "--samples", 4)
    # the same distances from the written outputs and targets, through the graph
    network = inception.Inception(str(tiny_graph))
    sets = {}
    for column in ("outputs", "targets"):
        pngs = [np.asarray(Image.open(out / "samples" / column / f"{i}.png")) for i in range(1, 5)]
        sets[column] = network.features(np.stack([inception.resize(p) for p in pngs]))
    assert result["fid"]["value"] == pytest.approx(distances.fid(sets["outputs"],
                                                                 sets["targets"]), rel=1e-6)
    assert result["kid"] == {"mean": pytest.approx(distances.kid(sets["outputs"],
                                                                 sets["targets"])["mean"]),
                             "std": 0.0, "subsets": 1, "subset_size": 4}
    assert result["fid"]["value"] > 0
    recorded = result["protocol"]["inception"]
    assert recorded["sha256"] == hashlib.sha256(tiny_graph.read_bytes()).hexdigest()
    assert (recorded["source"], recorded["input"], recorded["features"]) == (
        "--inception", "FID_Inception_Net/ExpandDims:0", "FID_Inception_Net/pool_3:0")
    assert "FID  " in stdout and "KID  " in stdout


def test_features_come_in_batches_in_order(tiny_graph):
    network = inception.Inception(str(tiny_graph))
    images = np.random.default_rng(0).integers(0, 256, (inception.BATCH + 4, 40, 48, 3),
                                               dtype=np.uint8)
    features = inception.FeatureSet(network)
    for image in images:
        features.add(image)
    alone = np.concatenate([network.features(inception.resize(i)[None]) for i in images])
    np.testing.assert_allclose(features.array(), alone, rtol=1e-5, atol=1e-6)
    assert distances.fid(alone, alone) == pytest.approx(0.0, abs=1e-6)


def test_a_file_that_is_not_the_graph_is_refused(tmp_path):
    wrong = tmp_path / "wrong.pb"
    graph = tf.Graph()
    with graph.as_default():
        tf.constant(1.0, name="ExpandDims")
    wrong.write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(UserError, match=f"^{wrong}: cannot feed ExpandDims:0 and read pool_3:0"):
        inception.Inception(str(wrong))
    with pytest.raises(UserError, match=r"^--inception nowhere\.pb: no such file"):
        inception.graph_file("nowhere.pb")


class Server:
    """A local HTTP server of ``files`` (URL path -> bytes) that counts its requests."""

    def __init__(self, files):
        self.files, self.requests = files, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802  (http.server's name)
                server.requests.append(self.path)
                body = server.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"


def tgz(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def server(tiny_graph):
    graph = tiny_graph.read_bytes()
    served = Server({"/inception-2015-12-05.tgz": tgz({inception.MEMBER: graph,
                                                       "LICENSE": b"Apache 2.0\n"}),
                     "/other.tgz": tgz({"README": b"no graph here\n"}),
                     "/plain.txt": b"not an archive"})
    yield served
    served.httpd.shutdown()
    served.httpd.server_close()


def test_the_graph_is_downloaded_once_then_checked(server, tiny_graph, tmp_path, monkeypatch):
    monkeypatch.setenv("TFPIX2PIX_CACHE", str(tmp_path / "cache"))
    url = server.url("/inception-2015-12-05.tgz")
    monkeypatch.setenv(inception.URL_VARIABLE, url)
    err = io.StringIO()
    path, digest, source = inception.graph_file(err=err)
    assert path == str(tmp_path / "cache" / "inception-2015-12-05" / inception.MEMBER)
    assert digest == hashlib.sha256(tiny_graph.read_bytes()).hexdigest() and source == url
    assert err.getvalue().startswith(f"downloading the Inception graph for FID/KID from {url}")
    assert inception.graph_file() == (path, digest, url)
    assert len(server.requests) == 1  # the second use read the cache
    with open(path, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(UserError, match=f"^{path}: its SHA-256 is [0-9a-f]{{64}}, not the "
                                        f"{digest} recorded when it was downloaded; delete "):
        inception.graph_file()


@pytest.mark.parametrize("path, message", [
    ("/missing.tgz", r"HTTP 404 Not Found; check the address"),
    ("/other.tgz", r"the archive holds no classify_image_graph_def\.pb"),
    ("/plain.txt", r"not a readable tarball"),
])
def test_a_failed_download_says_what_to_do(server, tmp_path, monkeypatch, path, message):
    monkeypatch.setenv("TFPIX2PIX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(inception.URL_VARIABLE, server.url(path))
    with pytest.raises(UserError, match=f"^{server.url(path)}: {message}") as raised:
        inception.graph_file()
    assert "--inception FILE" in str(raised.value)
    assert os.listdir(tmp_path / "cache") == []  # neither the graph nor a partial tarball


def test_kid_through_the_command_with_the_downloaded_graph(run, data, server, tmp_path,
                                                           monkeypatch):
    monkeypatch.setenv("TFPIX2PIX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(inception.URL_VARIABLE, server.url("/inception-2015-12-05.tgz"))
    result, _rows, _stdout = scored(run, data, tmp_path / "out", "--kid")
    assert "fid" not in result and result["kid"]["subset_size"] == 4
    assert result["protocol"]["inception"]["source"] == server.url("/inception-2015-12-05.tgz")


# ---------------------------------------------------------------- bad input

def one_line_error(*args):
    code, stdout, stderr = evaluate(*args)
    assert code == 2 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def test_a_missing_or_empty_split(run, data, tmp_path):
    line = one_line_error("--model", run, "--data", data, "--split", "val")
    assert line == (f"error: --data {data}: no val split ({data / 'val'}/ not found; splits "
                    "found: test); pass --split with one of them")
    (tmp_path / "test").mkdir()
    line = one_line_error("--model", run, "--data", tmp_path)
    assert line == (f"error: --data {tmp_path}: {tmp_path / 'test'}/ holds no .jpg or .png "
                    "images; put the test pairs there as [A | B] images or pass another --split")


def test_an_unreadable_image_is_named(run, data, tmp_path):
    (tmp_path / "test").mkdir()
    os.symlink(data / "test" / "1.jpg", tmp_path / "test" / "1.jpg")
    (tmp_path / "test" / "2.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    line = one_line_error("--model", run, "--data", tmp_path)
    assert line.startswith(f"error: {tmp_path / 'test' / '2.jpg'}: not a readable")


def test_a_pair_of_two_sizes_is_refused(run, tmp_path):
    """Two-folder pairs keep their sizes under --full-size: A 32 x 32 against B 40 x 40."""
    for side, size in (("A", 32), ("B", 40)):
        write_pairs(tmp_path / side / "test", 1, size=size, width=size)
    line = one_line_error("--model", run, "--data", tmp_path, "--full-size")
    assert line.startswith(f"error: {tmp_path / 'A' / 'test' / '0000.png'} is 32x32, but its "
                           f"partner {tmp_path / 'B' / 'test' / '0000.png'} is 40x40")


@pytest.mark.parametrize("args, message", [
    (["--samples", "-1"], "error: --samples -1: give 0 or more rows"),
    (["--crop-size", "-1"], "error: --crop-size -1: give a positive size"),
    (["--crop-size", "64", "--full-size"], "error: --crop-size and --full-size contradict"),
    (["--inception", "g.pb"], "error: --inception is used by --fid and --kid; add one of them"),
    (["--palette", "pascal"], "error: --palette pascal: neither facades nor cityscapes"),
    (["--split", "train", "--model", "nowhere"], "error: --data "),
])
def test_bad_flags_get_one_line(run, data, args, message):
    assert one_line_error("--model", run, "--data", data, *args).startswith(message)


@pytest.mark.parametrize("argv, missing", [(["--data", "x"], "--model"),
                                           (["--model", "x"], "--data")])
def test_missing_flags_get_one_line(argv, missing, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {missing} is required") and err.count("\n") == 1


def test_an_export_needs_its_crop_size():
    opts = argparse.Namespace(full_size=False, crop_size=None, model="exported/demo/1")
    with pytest.raises(UserError, match=r"^--model exported/demo/1: an export does not record "
                                        r"the crop size"):
        runner.sizes_for(opts, None, {"name": "demo"})
    assert runner.sizes_for(opts, None, {"crop_size": 128}).crop_size == 128
    opts.crop_size = 96
    assert runner.sizes_for(opts, None, {}).crop_size == 96
    opts.full_size, opts.crop_size = True, None
    assert runner.sizes_for(opts, None, {}).crop_size is None
