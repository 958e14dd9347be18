"""The demo page as a static site that runs the ONNX model in the browser (``export --web``).

``exported/<name>/web/`` holds::

    index.html, static/          the demo's page (app.js, style.css) with backend-onnx.js
    static/ort.wasm.min.js,      onnxruntime-web's WebAssembly build, from the npm package
    static/ort-wasm-simd-threaded.{mjs,wasm}
    LICENSE-onnxruntime-web.txt  its licence (MIT) and where it came from
    model.onnx                   the export's ONNX model (padding to the stride is inside it)
    info.json                    what ``GET /api/info`` tells the served page
    examples/<i>.png             the run's first validation inputs, when its data is there

The runtime is not kept in this repository or its package (its WebAssembly file alone is
about 14 MB). ``runtime`` downloads the pinned npm tarball once, with the package
registry's ordinary HTTP interface, checks its SHA-256 (the same tarball that npm's
``dist.integrity`` names), and keeps it in the cache folder (``files.cache_root``);
TFPIX2PIX_NPM_REGISTRY points it at a mirror.
"""

import json
import os
import shutil
import sys
import tarfile

from ..errors import UserError
from ..files import cache_root, sha256, write_atomic

PACKAGE = "onnxruntime-web"
VERSION = "1.30.0"
SHA256 = "d2228df7e4616bc3348bf504ee888f3bec43789a273f0a63f3e68d203ce3bf71"
REGISTRY = "https://registry.npmjs.org"
REGISTRY_VARIABLE = "TFPIX2PIX_NPM_REGISTRY"
RUNTIME_FILES = ("dist/ort.wasm.min.js", "dist/ort-wasm-simd-threaded.mjs",
                 "dist/ort-wasm-simd-threaded.wasm")
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
PAGE_FILES = ("app.js", "style.css", "backend-onnx.js")
MIT = """MIT License

{copyright}

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def tarball_url(registry=None, package=PACKAGE, version=VERSION):
    registry = (registry or os.environ.get(REGISTRY_VARIABLE) or REGISTRY).rstrip("/")
    return f"{registry}/{package}/-/{package}-{version}.tgz"


def runtime(stream=None, registry=None, package=PACKAGE, version=VERSION, digest=SHA256):
    """The path of the pinned runtime tarball in the cache, downloaded and checked if needed.

    A tarball whose SHA-256 is not ``digest`` is removed and refused with a UserError, so
    a bad download is never used or kept.
    """
    from ..data import resumable

    stream = stream or sys.stderr
    final = os.path.join(cache_root(), "npm", f"{package}-{version}.tgz")
    if os.path.isfile(final) and sha256(final) == digest:
        return final
    os.makedirs(os.path.dirname(final), exist_ok=True)
    part = f"{final}.{os.getpid()}.part"  # parallel exports (test processes) each their own
    url = tarball_url(registry, package, version)
    try:
        resumable.fetch(url, part, stream, advice=f", or set {REGISTRY_VARIABLE} to a mirror")
        got = sha256(part)
    except BaseException:
        if os.path.exists(part):
            os.remove(part)
        raise
    if got != digest:
        os.remove(part)
        raise UserError(f"{url}: SHA-256 {got[:16]}... is not the pinned {digest[:16]}... of "
                        f"{package} {version}; the file was removed. Check {REGISTRY_VARIABLE} "
                        "or the network, and export again")
    os.replace(part, final)
    return final


def _members(tarball, names):
    """{name: bytes} of ``package/<name>`` in the tarball; only regular files, read in memory."""
    found = {}
    with tarfile.open(tarball, "r:gz") as archive:
        for name in names:
            try:
                member = archive.getmember(f"package/{name}")
            except KeyError:
                member = None
            if member is None or not member.isfile():
                raise UserError(f"{tarball}: no {name} in it; remove the file and export again")
            found[name] = archive.extractfile(member).read()
    return found


def _licence(package_json, banner):
    """The runtime's licence text: its package.json names it, its bundle's banner has the
    copyright line."""
    meta = json.loads(package_json)
    if meta.get("license") != "MIT":
        raise UserError(f"{PACKAGE} {meta.get('version')}: licence {meta.get('license')!r}, "
                        "not the MIT licence this page was written for")
    copyright_line = next((line.strip(" */") for line in banner.splitlines()
                           if "Copyright" in line), "Copyright (c) Microsoft Corporation.")
    return (f"{PACKAGE} {meta['version']} (static/ort.*), from the npm package "
            f"{PACKAGE}@{meta['version']}, sha256 {SHA256}\n\n" + MIT.format(
                copyright=copyright_line))


def write(folder, onnx_path, info, examples=(), tarball=None, stream=None):
    """Write the static page to ``folder`` (replacing one that is there), whole or not at all.

    ``info`` is ``server.page_info``'s dict; ``examples`` uint8 HxWx3 arrays. Returns
    ``folder``.
    """
    import numpy as np
    import tensorflow as tf

    if info["model"]["in_channels"] != 3 or info["model"]["out_channels"] != 3:
        raise UserError("--web: the static page runs RGB models (input_nc and output_nc 3); "
                        "serve this one with python -m tfpix2pix.demo")
    tarball = tarball or runtime(stream)
    files = _members(tarball, RUNTIME_FILES + ("package.json",))
    tmp = f"{folder}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for name in RUNTIME_FILES:
            write_atomic(os.path.join(tmp, "static", os.path.basename(name)), files[name])
        banner = files["dist/ort.wasm.min.js"][:400].decode("utf-8", "replace")
        write_atomic(os.path.join(tmp, "LICENSE-onnxruntime-web.txt"),
                     _licence(files["package.json"], banner))
        for name in PAGE_FILES:
            shutil.copyfile(os.path.join(STATIC, name), os.path.join(tmp, "static", name))
        with open(os.path.join(STATIC, "index.html"), encoding="utf-8") as fh:
            page = fh.read()
        served = '<script src="static/backend-server.js"></script>'
        if served not in page:
            raise AssertionError("index.html no longer loads backend-server.js")
        page = page.replace(served, '<script src="static/ort.wasm.min.js"></script>\n'
                                    '<script src="static/backend-onnx.js"></script>')
        write_atomic(os.path.join(tmp, "index.html"), page)
        shutil.copyfile(onnx_path, os.path.join(tmp, "model.onnx"))
        write_atomic(os.path.join(tmp, "info.json"),
                     json.dumps({**info, "examples": len(examples)}, indent=2))
        for i, example in enumerate(examples):
            write_atomic(os.path.join(tmp, "examples", f"{i}.png"),
                         tf.io.encode_png(np.asarray(example, np.uint8)).numpy())
        old = f"{folder}.old-{os.getpid()}"
        if os.path.exists(folder):
            os.rename(folder, old)
        os.rename(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def runs_on():
    return f"runs in this page ({PACKAGE} {VERSION}, WebAssembly)"

