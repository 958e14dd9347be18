"""The demo's HTTP server: the page, the model's description, examples, and translation.

Endpoints (all on one ``ThreadingHTTPServer``, bound to 127.0.0.1 unless asked otherwise):

- ``GET /`` the page, ``GET /static/<file>`` its script and style (package data);
- ``GET /api/info`` JSON: the model (name, direction, crop size, channels, step), the
  drawing palette (``palette``), the number of examples and the upload limits;
- ``GET /api/examples/<i>.png`` the i-th example input (a validation input of the run);
- ``POST /api/translate`` with a PNG or JPEG body: the translation as PNG, at the input's
  own size, with ``X-Translation-Ms`` (the model's time) and ``X-Output-Size`` (WxH).
  Refusals are JSON ``{"error": "..."}``: 400 a body that is not a readable image, 411
  no length, 413 too many bytes or pixels, 415 another type.

Translation is ``Translator.__call__`` (``load()``'s): the same padding and ``tile``
rule as predict. One request at a time runs the model (a lock); others wait their turn,
and one whose client has gone meanwhile (the page aborts a request a newer one replaces)
is dropped without running.
"""

import json
import os
import select
import socket
import struct
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import numpy as np
import tensorflow as tf

from ..errors import UserError
from ..inference import images

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
PAGES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
         "/static/backend-server.js": ("backend-server.js", "text/javascript; charset=utf-8"),
         "/static/style.css": ("style.css", "text/css; charset=utf-8")}
TYPES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
UNTYPED = ("", "application/octet-stream")  # then the bytes decide
MAX_BYTES = 16 * 2**20
MAX_PIXELS = 4096 * 4096


class Gone(Exception):
    """The client closed its connection while its request waited: a newer one replaced it."""


class Refused(Exception):
    """A request the demo answers with ``status`` and a one-line message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def image_size(data):
    """(width, height) from a PNG's or JPEG's header, without decoding its pixels, or None
    for a header that cannot be read or gives no pixels."""
    if data.startswith(TYPES["image/png"]):
        size = struct.unpack(">II", data[16:24]) if data[12:16] == b"IHDR" else (0, 0)
    else:
        try:
            height, width, _ = tf.image.extract_jpeg_shape(data).numpy()
        except tf.errors.OpError:
            return None
        size = int(width), int(height)
    return size if 0 not in size else None


def page_info(model, palette, examples, runs_on, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS):
    """What the page is told (``GET /api/info``, or ``info.json`` of a static page)."""
    keep = ("name", "direction", "crop_size", "in_channels", "out_channels", "stride",
            "training_step", "netG", "test_mode", "input_size_rule")
    return {"model": {k: model.get(k) for k in keep}, "palette": palette,
            "examples": examples, "runs_on": runs_on, "max_bytes": max_bytes,
            "max_pixels": max_pixels}


class Demo:
    """What the server answers with: a translator, its drawing palette and examples.

    ``examples`` is a list of uint8 HxWx3 arrays; ``tile`` is predict's ``--tile``.
    """

    def __init__(self, translator, palette, examples=(), tile=None, max_bytes=MAX_BYTES,
                 max_pixels=MAX_PIXELS):
        self.translator, self.palette, self.tile = translator, palette, tile or None
        self.examples = [tf.io.encode_png(np.asarray(e, np.uint8)).numpy() for e in examples]
        self.max_bytes, self.max_pixels = max_bytes, max_pixels
        self.lock = threading.Lock()  # one translation at a time on this model

    def info(self):
        return page_info(self.translator.info, self.palette, len(self.examples),
                         "translated by the demo server", self.max_bytes, self.max_pixels)

    def check(self, data, content_type, name):
        """The request's bytes if the demo translates them, else ``Refused``."""
        kind = (content_type or "").split(";")[0].strip().lower()
        if kind not in TYPES and kind not in UNTYPED:
            raise Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                          f"{name}: a {kind} file; the demo translates PNG and JPEG images")
        if not data:
            raise Refused(HTTPStatus.BAD_REQUEST, f"{name}: empty; choose a PNG or JPEG image")
        found = [k for k, signature in TYPES.items() if data.startswith(signature)]
        if not found:
            raise Refused(HTTPStatus.BAD_REQUEST,
                          f"{name}: not a PNG or JPEG image (its bytes do not start like one); "
                          "choose another file")
        size = image_size(data)
        if size is None:
            raise Refused(HTTPStatus.BAD_REQUEST,
                          f"{name}: a damaged {found[0][6:].upper()} (its header cannot be "
                          "read); choose another file")
        if size[0] * size[1] > self.max_pixels:
            raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                          f"{name}: {size[0]}x{size[1]} pixels; the demo translates images of "
                          f"up to {self.max_pixels:,} pixels (use python -m tfpix2pix.predict "
                          "--tile for larger ones)")
        return data

    def translate(self, data, content_type="", name="image", gone=None):
        """PNG or JPEG bytes -> (PNG bytes, model milliseconds, (width, height)).

        ``gone()``, if given, is asked once the model is free: a request whose client has
        left (the page aborted it for a newer one) raises ``Gone`` instead of running.
        """
        data = self.check(data, content_type, name)
        try:
            image = images.decode(data, name)
        except UserError as exc:
            raise Refused(HTTPStatus.BAD_REQUEST, f"{exc}") from None
        image = images.to_channels(image, self.translator.info["in_channels"])
        with self.lock:
            if gone is not None and gone():
                raise Gone()
            start = time.perf_counter()
            output = self.translator(image, tile=self.tile)
            ms = (time.perf_counter() - start) * 1000
        return tf.io.encode_png(output).numpy(), ms, (output.shape[1], output.shape[0])


class Handler(BaseHTTPRequestHandler):
    server_version = "tfpix2pix-demo"
    demo = None  # set on the subclass ``make_server`` builds

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass  # the terminal shows the URL, not one line per request

    def _send(self, status, body, content_type, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the page gave up on it (a newer request)

    def _json(self, status, value):
        self._send(status, json.dumps(value).encode(), "application/json")

    def _client_gone(self):
        """True if the client closed the connection (it has sent all it will send)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def do_GET(self):  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        if path in PAGES:
            name, kind = PAGES[path]
            with open(os.path.join(STATIC, name), "rb") as fh:
                return self._send(HTTPStatus.OK, fh.read(), kind)
        if path == "/api/info":
            return self._json(HTTPStatus.OK, self.demo.info())
        prefix = "/api/examples/"
        if path.startswith(prefix) and path.endswith(".png"):
            number = path[len(prefix):-4]
            if number.isdigit() and int(number) < len(self.demo.examples):
                return self._send(HTTPStatus.OK, self.demo.examples[int(number)], "image/png")
        self._json(HTTPStatus.NOT_FOUND, {"error": f"{path}: no such page"})

    def do_POST(self):  # noqa: N802
        if self.path.split("?", 1)[0] != "/api/translate":
            return self._json(HTTPStatus.NOT_FOUND, {"error": f"{self.path}: no such endpoint"})
        name = unquote(self.headers.get("X-File-Name") or "") or "the image"
        try:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise Refused(HTTPStatus.LENGTH_REQUIRED, "the request has no Content-Length")
            if int(length) > self.demo.max_bytes:
                self.close_connection = True  # its body is left unread
                raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                              f"{name}: {int(length) / 2**20:.1f} MB; the demo takes files up "
                              f"to {self.demo.max_bytes / 2**20:.0f} MB")
            data = self.rfile.read(int(length))
            png, ms, (width, height) = self.demo.translate(
                data, self.headers.get("Content-Type", ""), name, gone=self._client_gone)
        except Gone:
            self.close_connection = True
            return None
        except Refused as exc:
            return self._json(exc.status, {"error": str(exc)})
        self._send(HTTPStatus.OK, png, "image/png",
                   [("X-Translation-Ms", f"{ms:.1f}"), ("X-Output-Size", f"{width}x{height}")])


def make_server(demo, host="127.0.0.1", port=8000):
    """A ``ThreadingHTTPServer`` answering with ``demo``; port 0 takes a free one."""
    handler = type("DemoHandler", (Handler,), {"demo": demo})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise UserError(f"--host {host} --port {port}: cannot listen there ({exc.strerror}); "
                        "pick another --port") from None
    server.daemon_threads = True
    return server


def url(server):
    host, port = server.server_address[:2]
    return f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/"
