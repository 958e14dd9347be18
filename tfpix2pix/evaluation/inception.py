"""The Inception network of published FIDs: its file, its download and cache, its features.

Published FIDs (TTUR, the reference implementation of Heusel et al.) use the frozen graph
``classify_image_graph_def.pb`` of ``inception-2015-12-05.tgz``: images, float RGB in
0..255, are fed at ``ExpandDims:0`` and the 2048 features read at ``pool_3:0``. TTUR
imports the graph under the name ``FID_Inception_Net``, as done here. TensorFlow loads
the graph from the file (a ``tf.compat.v1.GraphDef``, run in a ``tf.compat.v1.Session``;
``Inception`` says why not as a TF2 function), so no other framework is involved. Keras's stock
InceptionV3 weights are a different network: FIDs from them are not comparable with
published ones, so they are not offered.

Resizing: each image is resized to 299 x 299 here, before the graph (whose own bilinear
resize is then the identity), by ``tf.image.resize(method="bicubic", antialias=True)`` on
its uint8 values as float32, clipped to [0, 255] and not rounded. That is PIL's bicubic
resize in float mode (``Image.resize(..., BICUBIC)`` on each channel as mode "F", clipped):
on real facades photos the two differ by at most 0.002 of 255, up- and downscaling
(tests/test_metrics.py). This is clean-fid's "clean" resizing; TTUR itself fed images at
their own size to the graph's bilinear resize, which gives somewhat different FIDs.

The file: ``--inception FILE``, or the cached copy of the tarball's
``classify_image_graph_def.pb``, downloaded once from ``URL`` (``URL_VARIABLE``
overrides it) into ``<cache>/inception-2015-12-05/``, where ``<cache>`` is
TFPIX2PIX_CACHE, else ``$XDG_CACHE_HOME/tfpix2pix``, else ``~/.cache/tfpix2pix``. No
published SHA-256 of the file could be found, so the SHA-256 of the .pb is recorded at
the download (``source.json`` beside it) and checked at every later use: a cached file
that changed is refused.
"""

import hashlib
import json
import os
import sys
import tarfile

import numpy as np

from ..data import resumable
from ..errors import UserError
from ..files import cache_root, sha256, write_atomic

URL = "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"
URL_VARIABLE = "TFPIX2PIX_INCEPTION_URL"
MEMBER = "classify_image_graph_def.pb"
CACHE_FOLDER = "inception-2015-12-05"
RECORD = "source.json"
SCOPE = "FID_Inception_Net"
INPUT, OUTPUT = "ExpandDims:0", "pool_3:0"
SIZE, FEATURES = 299, 2048
BATCH = 16

RESIZE_RULE = ("each image resized to 299x299 by tf.image.resize(method='bicubic', "
               "antialias=True) on its uint8 values as float32, clipped to [0, 255], not "
               "rounded (PIL's float-mode bicubic within 0.002)")


def graph_file(path=None, err=None):
    """(path, SHA-256, where it came from) of the Inception graph to use.

    ``path`` (``--inception``) is used as given. Otherwise the cached download, checked
    against the SHA-256 recorded when it was downloaded; or, the first time, the download.
    """
    if path:
        if not os.path.isfile(path):
            raise UserError(f"--inception {path}: no such file; pass {MEMBER} (from "
                            f"{os.path.basename(URL)})")
        return path, sha256(path), "--inception"
    folder = os.path.join(cache_root(), CACHE_FOLDER)
    cached, record = os.path.join(folder, MEMBER), os.path.join(folder, RECORD)
    if not os.path.isfile(cached):
        _download(os.environ.get(URL_VARIABLE) or URL, folder, err)
    try:
        with open(record) as fh:
            recorded = json.load(fh)
        expected, source = recorded["sha256"], recorded["url"]
    except (OSError, ValueError, KeyError):
        raise UserError(f"{record}: missing or unreadable, so {cached} cannot be checked; "
                        f"delete {folder} to download it again, or pass --inception FILE") \
            from None
    found = sha256(cached)
    if found != expected:
        raise UserError(f"{cached}: its SHA-256 is {found}, not the {expected} recorded when "
                        f"it was downloaded; delete {folder} to download it again")
    return cached, found, source


def _download(url, folder, err):
    """Fetch the tarball at ``url`` (resumable, retried: ``data.resumable``) and keep its
    graph in ``folder`` with its SHA-256. The tarball itself is not kept."""
    stream = err if err is not None else sys.stderr
    print(f"downloading the Inception graph for FID/KID from {url} (once; about 90 MB)",
          file=stream)
    root = cache_root()
    os.makedirs(root, exist_ok=True)
    part = os.path.join(root, f".{CACHE_FOLDER}.tgz.part")
    resumable.fetch(url, part, stream, advice=f"; set {URL_VARIABLE} to a copy of "
                    f"inception-2015-12-05.tgz, or pass --inception FILE ({MEMBER})")
    try:
        with tarfile.open(part, mode="r:*") as tar:
            member = next((m for m in tar.getmembers()
                           if os.path.basename(m.name) == MEMBER and m.isfile()), None)
            data = None if member is None else tar.extractfile(member).read()
    except (OSError, tarfile.TarError) as exc:
        raise UserError(f"{url}: not a readable tarball ({exc}); set {URL_VARIABLE} to a copy "
                        f"of inception-2015-12-05.tgz, or pass --inception FILE") from None
    finally:
        if os.path.exists(part):
            os.remove(part)  # kept only while incomplete, for a resumed download
    if data is None:
        raise UserError(f"{url}: the archive holds no {MEMBER}; set {URL_VARIABLE} to the "
                        "inception-2015-12-05.tgz tarball, or pass --inception FILE")
    digest = hashlib.sha256(data).hexdigest()
    os.makedirs(folder, exist_ok=True)
    write_atomic(os.path.join(folder, MEMBER), data)
    write_atomic(os.path.join(folder, RECORD),
                 json.dumps({"file": MEMBER, "sha256": digest, "url": url}, indent=1) + "\n")


def resize(image):
    """uint8 H x W x 3 -> float32 299 x 299 x 3 in [0, 255] (the module's resize rule)."""
    import tensorflow as tf
    x = tf.image.resize(tf.cast(image, tf.float32)[None], (SIZE, SIZE), method="bicubic",
                        antialias=True)[0]
    return tf.clip_by_value(x, 0.0, 255.0).numpy()


class Inception:
    """``features(batch)``: pool_3 features (N x 2048, float64) of 299 x 299 float images.

    The graph runs in a ``tf.compat.v1.Session`` on a graph of its own, with the images
    fed through a placeholder mapped onto ``ExpandDims:0`` at import (``input_map``), so any
    batch size works. Not as a TF2 function (``tf.compat.v1.wrap_function``): a function's
    kernels are built at the current GraphDef version, and the 2015 graph's
    BatchNormWithGlobalNormalization ops were removed at version 9; an imported graph keeps
    the file's older version, under which they still run. ``sha256`` and ``source`` (as
    ``graph_file`` gives them) are recorded by ``describe``.
    """

    def __init__(self, path, sha256=None, source=None):
        import tensorflow as tf
        from google.protobuf.message import DecodeError

        self.path, self.sha256, self.source = path, sha256, source
        graph_def = tf.compat.v1.GraphDef()
        try:
            with open(path, "rb") as fh:
                graph_def.ParseFromString(fh.read())
        except (OSError, DecodeError):
            raise UserError(f"{path}: not a TensorFlow GraphDef; pass {MEMBER} from "
                            f"{os.path.basename(URL)}") from None
        graph = tf.Graph()
        with graph.as_default():
            self._images = tf.compat.v1.placeholder(tf.float32, [None, SIZE, SIZE, 3])
            try:
                self._features = tf.compat.v1.import_graph_def(
                    graph_def, input_map={INPUT: self._images}, return_elements=[OUTPUT],
                    name=SCOPE)[0]
            except (ValueError, KeyError, TypeError) as exc:
                raise self._not_the_graph(exc) from None
        self._session = tf.compat.v1.Session(graph=graph)

    def _not_the_graph(self, exc):
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return UserError(f"{self.path}: cannot feed {INPUT} and read {OUTPUT} ({first}); pass "
                         f"{MEMBER} from {os.path.basename(URL)}")

    def describe(self):
        """JSON-able, for metrics.json's protocol."""
        return {"file": os.path.abspath(self.path), "sha256": self.sha256,
                "source": self.source, "input": f"{SCOPE}/{INPUT}",
                "features": f"{SCOPE}/{OUTPUT}", "resize": RESIZE_RULE}

    def features(self, batch):
        import tensorflow as tf
        try:
            out = self._session.run(self._features,
                                    {self._images: np.asarray(batch, np.float32)})
        except tf.errors.OpError as exc:
            raise self._not_the_graph(exc) from None
        out = np.asarray(out, np.float64).reshape(len(batch), -1)
        if out.shape[1] != FEATURES:
            raise UserError(f"{self.path}: {OUTPUT} gives {out.shape[1]} features, not "
                            f"{FEATURES}; pass {MEMBER} from {os.path.basename(URL)}")
        return out

    def close(self):
        self._session.close()


class FeatureSet:
    """Images added one at a time (uint8 RGB, any size), their features in batches."""

    def __init__(self, network):
        self.network, self._pending, self._done = network, [], []

    def add(self, image):
        self._pending.append(resize(image))
        if len(self._pending) == BATCH:
            self._flush()

    def _flush(self):
        if self._pending:
            self._done.append(self.network.features(np.stack(self._pending)))
            self._pending = []

    def array(self):
        """N x 2048 float64: every image added so far, in order."""
        self._flush()
        return np.concatenate(self._done) if self._done else np.zeros((0, FEATURES))


def load(path=None, err=None):
    """The Inception network of ``--inception`` (or the cached download; see ``graph_file``)."""
    return Inception(*graph_file(path, err))


__all__ = ["load", "graph_file", "Inception", "FeatureSet", "resize", "URL",
           "URL_VARIABLE", "RESIZE_RULE"]
