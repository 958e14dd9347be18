"""python -m tfpix2pix.demo: the drawing palette, the server's endpoints, and export's palette.

One tiny run on real facades pairs (labels -> photo, BtoA; conftest's ``tiny_run``, trained
once per session and shared with tests/test_demo_browser.py: 40 steps at lr 2e-3, so the
output is far from constant) is served on a free port of 127.0.0.1. Every translation the server answers must equal ``load()``'s
on the same pixels: the demo has no inference path of its own.
"""

import http.client
import io
import json
import os
import socket
import struct
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from conftest import serve_demo as serve

from tfpix2pix import run_folder
from tfpix2pix.demo import palette as P
from tfpix2pix.demo.__main__ import main as demo_main
from tfpix2pix.demo.server import Demo, make_server
from tfpix2pix.evaluation import palettes
from tfpix2pix.export.__main__ import main as export_main
from tfpix2pix.inference import images as I

# Not marked onednn: the server's pixels are compared with load()'s in the same process, under
# the same kernels, so they are equal either way (the run with oneDNN off was checked by hand).


@pytest.fixture
def run(tiny_run):
    return tiny_run


@pytest.fixture
def translator(tiny_translator):
    return tiny_translator


@pytest.fixture(scope="module")
def server(tiny_run):
    server, printed = serve(["--model", str(tiny_run), "--port", "0"])
    assert f"http://127.0.0.1:{server.server_address[1]}/" in printed
    yield server
    server.shutdown()


def request(server, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def png_bytes(image):
    return tf.io.encode_png(image).numpy()


def decoded(data):
    return tf.io.decode_png(data).numpy()


@pytest.fixture(scope="module")
def labels(facades):
    source, _target = I.split_pair(I.read_image(facades / "val" / "1.jpg"), "BtoA")
    return source[:64, :64]


def test_the_page_and_its_files_are_served(server):
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    for name in (b"static/app.js", b"static/backend-server.js", b"static/style.css"):
        assert b'"' + name + b'"' in body
        assert request(server, "GET", "/" + name.decode())[0] == 200
    status, _, body = request(server, "GET", "/static/../server.py")
    assert status == 404 and "no such page" in json.loads(body)["error"]


def test_info_has_the_model_the_facades_palette_and_the_examples(server):
    status, _, body = request(server, "GET", "/api/info")
    info = json.loads(body)
    assert status == 200 and info["model"]["crop_size"] == 64
    assert info["model"]["direction"] == "BtoA" and info["model"]["training_step"] == 40
    palette = info["palette"]
    assert palette["kind"] == "labels" and palette["source"] == "training inputs"
    # The label colours of the 16 training label maps, named after the facades classes.
    assert {"facade", "window", "background"} <= set(palette["names"])
    known = palettes.FACADES.colors.astype(int)
    near = [np.abs(known - c).sum(1).min() for c in palette["colors"]]
    assert sorted(near)[len(near) // 2] <= 10  # most are the facades colours themselves
    assert info["examples"] == 2  # the subset's two val pairs
    status, headers, body = request(server, "GET", "/api/examples/1.png")
    assert status == 200 and decoded(body).shape == (64, 64, 3)
    assert request(server, "GET", "/api/examples/2.png")[0] == 404


def test_a_png_is_translated_as_load_translates_it(server, translator, labels):
    status, headers, body = request(server, "POST", "/api/translate", png_bytes(labels),
                                    {"Content-Type": "image/png"})
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert headers["X-Output-Size"] == "64x64" and float(headers["X-Translation-Ms"]) > 0
    expected = translator(labels)
    assert expected.std() > 5  # a real translation, not a constant
    np.testing.assert_array_equal(decoded(body), expected)


def test_a_jpeg_of_another_size_is_translated_at_its_own_size(server, translator, facades):
    data = (facades / "val" / "2.jpg").read_bytes()  # 512x256, the whole pair
    status, headers, body = request(server, "POST", "/api/translate", data,
                                    {"Content-Type": "image/jpeg"})
    assert status == 200 and headers["X-Output-Size"] == "512x256"
    np.testing.assert_array_equal(decoded(body), translator(I.decode(data)))


@pytest.mark.parametrize("body, kind, status, words", [
    (b"GIF89a" + bytes(40), "image/gif", 415, "a image/gif file; the demo translates PNG and JPEG"),
    (b"not an image at all", "image/png", 400, "not a PNG or JPEG image"),
    (b"", "image/png", 400, "empty"),
    (b"\x89PNG\r\n\x1a\n" + bytes(30), "image/png", 400, "a damaged PNG"),
    (b"\xff\xd8\xff" + bytes(30), "", 400, "a damaged JPEG"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 8, 8) + bytes(20), "image/png",
     400, "not a readable image"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 5000, 5000) + bytes(20),
     "image/png", 413, "5000x5000 pixels"),
])
def test_bad_requests_are_refused_with_a_clear_message(server, body, kind, status, words):
    got, headers, answer = request(server, "POST", "/api/translate", body,
                                   {"Content-Type": kind, "X-File-Name": "my%20file.png"})
    message = json.loads(answer)["error"]
    assert got == status and words in message, message
    assert "\n" not in message and (status == 415 or message.startswith("my file.png: "))


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(translator, labels):
    server = make_server(Demo(translator, P.free(), max_bytes=1000), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        status, _, answer = request(server, "POST", "/api/translate", bytes(5000),
                                    {"Content-Type": "image/png"})
        assert status == 413 and "the demo takes files up to" in json.loads(answer)["error"]
        status, _, body = request(server, "POST", "/api/translate", png_bytes(labels[:8, :8]),
                                  {"Content-Type": "image/png"})
        assert status == 200  # small enough
    finally:
        server.shutdown()
        server.server_close()


def test_concurrent_requests_each_get_their_own_translation(server, translator, labels):
    inputs = [np.roll(labels, 7 * k, axis=k % 2)[: 64 - 8 * (k % 3)] for k in range(6)]
    answers = [None] * len(inputs)

    def post(k):
        answers[k] = request(server, "POST", "/api/translate", png_bytes(inputs[k]),
                             {"Content-Type": "image/png"})

    threads = [threading.Thread(target=post, args=(k,)) for k in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for image, (status, _headers, body) in zip(inputs, answers):
        assert status == 200
        np.testing.assert_array_equal(decoded(body), translator(image))


def test_an_export_without_web_records_its_data_and_its_demo_derives_the_palette(
        run, server, tmp_path):
    # Export derives no palette without --web (reading the training images takes seconds): it
    # records where the run's data is, and the demo of the export derives the run's palette.
    assert export_main([str(run), "--output", str(tmp_path)], out=io.StringIO()) == 0
    path = tmp_path / "test" / "1" / "tfpix2pix.json"
    recorded = json.loads(path.read_text())
    data = run_folder.read_config(run).data
    assert "palette" not in recorded
    assert recorded["training_data"] == {"path": data.path, "dataset_mode": data.dataset_mode}
    of_the_run = json.loads(request(server, "GET", "/api/info")[2])["palette"]
    assert of_the_run["kind"] == "labels"
    exported, _ = serve(["--model", tmp_path / "test", "--port", "0"])
    try:
        info = json.loads(request(exported, "GET", "/api/info")[2])
        assert info["palette"] == of_the_run and info["examples"] == 0
    finally:
        exported.shutdown()


def test_palette_flag_overrides_and_bad_ones_are_one_line(run, tmp_path, capsys):
    spec = tmp_path / "mine.txt"
    spec.write_text("sky 70 130 180\nroad 128 64 128\n")
    server, _ = serve(["--model", str(run), "--port", "0", "--palette", str(spec)])
    try:
        palette = json.loads(request(server, "GET", "/api/info")[2])["palette"]
        assert palette["colors"] == [[70, 130, 180], [128, 64, 128]]
        assert palette["names"] == ["sky", "road"] and palette["background"] == [70, 130, 180]
    finally:
        server.shutdown()
    err = io.StringIO()
    assert demo_main(["--model", str(run), "--palette", str(tmp_path / "nope")], err=err) == 2
    assert err.getvalue().count("\n") == 1 and "--palette" in err.getvalue()
    err = io.StringIO()
    assert demo_main(["--model", str(tmp_path / "missing")], err=err) == 2
    assert err.getvalue().count("\n") == 1 and "not found" in err.getvalue()


def test_derived_palettes_tell_labels_edges_and_photos_apart():
    rng = np.random.default_rng(0)
    labels = np.zeros((4, 32, 32, 3), np.uint8)
    colours = [(0, 0, 222), (0, 128, 255), (255, 80, 0)]
    for k, c in enumerate(colours):
        labels[:, :, 10 * k:10 * k + 12] = c
    found = P.derive(labels)
    assert found["kind"] == "labels" and sorted(map(tuple, found["colors"])) == sorted(colours)
    edges = np.full((4, 32, 32, 3), 255, np.uint8)
    edges[:, 5, :] = 0
    edges[:, :, 9] = 30
    found = P.derive(edges)
    assert found["kind"] == "edges" and found["colors"] == [[0, 0, 0]]
    assert found["background"] == [255, 255, 255]
    photos = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    assert P.derive(photos)["kind"] == "free"


def test_the_palette_is_the_flags_then_the_stored_one_then_the_datas_then_free(run, tmp_path):
    from tfpix2pix import config as C
    from tfpix2pix.demo.__main__ import drawing_colours, recorded_data

    cfg = run_folder.read_config(run)
    moved = C.apply_overrides(cfg, {"data": {"path": str(tmp_path / "gone")}}, "test")
    assert P.from_run_data(moved) is None and os.path.isdir(run)
    info = {"direction": "BtoA", "crop_size": 64, "in_channels": 3, "out_channels": 3}
    assert recorded_data(info) is None  # an export made before exports recorded their data
    gone = recorded_data({**info, "training_data": {"path": str(tmp_path / "gone"),
                                                    "dataset_mode": "auto"}})
    assert (gone.path, gone.direction, gone.crop_size) == (str(tmp_path / "gone"), "BtoA", 64)
    stored = {**P.from_spec("cityscapes"), "source": "training inputs"}  # export --web's
    err = io.StringIO()
    assert drawing_colours("facades", {**info, "palette": stored}, gone, err)["names"] == list(
        palettes.FACADES.classes)
    assert drawing_colours("", {**info, "palette": stored}, gone, err) == stored
    assert err.getvalue() == ""
    assert drawing_colours("", info, None, err) == P.free() and err.getvalue() == ""
    assert drawing_colours("", info, gone, err) == P.free()  # the data is known but gone
    assert err.getvalue().startswith(f"note: the run's data ({tmp_path / 'gone'}) is not here")


# --- the static page's runtime: fetched, checked and kept as export --web needs it -----------

def fake_runtime(tmp_path):
    """A tarball shaped like onnxruntime-web's npm package (tiny files), and its SHA-256."""
    import hashlib
    import tarfile

    from tfpix2pix.demo import web

    contents = {f"package/{name}": f"// {name}\n".encode() for name in web.RUNTIME_FILES}
    contents["package/dist/ort.wasm.min.js"] = (b"/*!\n * ONNX Runtime Web v9.9.9\n * Copyright "
                                                b"(c) Test Corporation. All rights reserved.\n */")
    contents["package/package.json"] = json.dumps({"license": "MIT", "version": "9.9.9"}).encode()
    path = tmp_path / "runtime.tgz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in contents.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def registry(tmp_path):
    """A package registry on 127.0.0.1 serving one tarball; yields (url, tarball, digest, hits)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tfpix2pix.demo import web

    tarball, digest = fake_runtime(tmp_path)
    hits = []

    class Registry(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            if self.path != f"/{web.PACKAGE}/-/{web.PACKAGE}-{web.VERSION}.tgz":
                self.send_error(404)
                return
            data = tarball.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tarball, digest, hits
    server.shutdown()
    server.server_close()


def test_the_runtime_is_downloaded_once_checked_and_kept(registry, tmp_path, monkeypatch):
    from tfpix2pix.demo import web

    url, tarball, digest, hits = registry
    monkeypatch.setenv("TFPIX2PIX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(web.REGISTRY_VARIABLE, url)
    path = web.runtime(io.StringIO(), digest=digest)
    assert open(path, "rb").read() == tarball.read_bytes() and len(hits) == 1
    assert web.runtime(io.StringIO(), digest=digest) == path and len(hits) == 1  # the cached one
    os.remove(path)
    with pytest.raises(Exception) as caught:
        web.runtime(io.StringIO(), digest="0" * 64)
    assert "SHA-256" in str(caught.value) and "removed" in str(caught.value)
    assert os.listdir(os.path.dirname(path)) == []  # neither the bad file nor a .part is kept
    with pytest.raises(Exception) as caught:
        web.runtime(io.StringIO(), version="0.0.0", digest=digest)
    assert "404" in str(caught.value) and web.REGISTRY_VARIABLE in str(caught.value)
    assert os.listdir(os.path.dirname(path)) == []


def test_the_static_page_is_written_whole_with_the_runtime_and_its_licence(registry, tmp_path):
    from tfpix2pix.demo import server, web

    _url, tarball, _digest, _hits = registry
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"onnx bytes")
    info = server.page_info({"in_channels": 3, "out_channels": 3, "crop_size": 64}, P.free(), 0,
                            web.runs_on())
    folder = tmp_path / "web"
    (folder / "stale").mkdir(parents=True)  # an earlier page is replaced, not mixed in
    example = np.full((64, 64, 3), 9, np.uint8)
    web.write(str(folder), onnx, info, [example], tarball=str(tarball))
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert names == ["LICENSE-onnxruntime-web.txt", "examples/0.png", "index.html", "info.json",
                     "model.onnx", "static/app.js", "static/backend-onnx.js",
                     "static/ort-wasm-simd-threaded.mjs", "static/ort-wasm-simd-threaded.wasm",
                     "static/ort.wasm.min.js", "static/style.css"]
    page = (folder / "index.html").read_text()
    assert "backend-onnx.js" in page and "backend-server.js" not in page
    licence = (folder / "LICENSE-onnxruntime-web.txt").read_text()
    assert "MIT License" in licence and "Copyright (c) Test Corporation." in licence
    assert json.loads((folder / "info.json").read_text())["examples"] == 1
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name or ".old-" in p.name]


def test_a_request_whose_client_left_while_it_waited_is_not_run(translator, labels):
    class Counting:
        info, calls = translator.info, []

        def __call__(self, image, tile=None):
            self.calls.append(image.shape)
            return translator(image, tile=tile)

    demo = Demo(Counting(), P.free())
    server = make_server(demo, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    body = png_bytes(labels)
    try:
        with demo.lock:  # the model is busy: the request waits
            client = socket.create_connection(("127.0.0.1", server.server_address[1]))
            client.sendall(b"POST /api/translate HTTP/1.1\r\nHost: x\r\nContent-Type: "
                           b"image/png\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            client.close()  # what the page's AbortController does
            time.sleep(0.5)  # the handler reads it meanwhile; gone either way when it runs
        status, _, answer = request(server, "POST", "/api/translate", body,
                                    {"Content-Type": "image/png"})
        assert status == 200 and Counting.calls == [(64, 64, 3)]  # only the second one ran
    finally:
        server.shutdown()
        server.server_close()
