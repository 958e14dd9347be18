"""Aligned pairs as sharded TFRecords: ``python -m tfpix2pix.data to-tfrecord DIR OUT``.

Each split of DIR (``train/``, ``val/``, ``test/``, those that exist) becomes
``OUT/<split>-00000-of-0000N.tfrecord`` shards of ``tf.train.Example`` records
with two bytes features: ``name`` (the pair's file name) and ``image`` (the
file's original bytes, so decoding gives exactly the pixels the folder gives).
Records keep the folder's sorted order, split into contiguous blocks, one per
shard. ``OUT/index.json`` lists per split the shards, their record counts, the
names in order and a SHA-256 of the content.

``--data OUT`` then trains on exactly the same examples, in the same order for
a seed, as ``--data DIR``. Shards are written under temporary names and renamed
only once all are complete; ``index.json`` is written last, so a killed
conversion leaves no folder that looks complete. All paths go through
tf.io.gfile (``gs://``, ``s3://`` with their plugins).

Only aligned datasets are converted. A two-folder dataset (``A/<split>/`` and
``B/<split>/``) is refused with a one-line error: train on its folder directly.
"""

import hashlib
import json
import math
import os
import re
import uuid

import numpy as np

from ..errors import UserError
from . import fs
from .layouts import ALIGNED, DEFAULT_PREPROCESS
from .source import Pairs

FORMAT = "tfpix2pix-tfrecord"
VERSION = 1
INDEX = "index.json"
SPLITS = ("train", "val", "test")
SHARD_BYTES = 256 * 2**20  # automatic shard count: about this much per shard
FEATURES = ("name", "image")
RERUN = "rerun python -m tfpix2pix.data to-tfrecord to rewrite the folder"
_SHARD = re.compile(r"^(train|val|test)-\d{5}-of-\d{5}\.tfrecord$")


def shard_name(split, s, n):
    return f"{split}-{s:05d}-of-{n:05d}.tfrecord"


# --- reading --------------------------------------------------------------------------------

def is_tfrecord_root(root):
    return fs.exists(fs.join(root, INDEX))


def read_index(root):
    """The parsed ``index.json`` of a to-tfrecord folder; UserError if it is not one."""
    path = fs.join(root, INDEX)
    try:
        index = json.loads(fs.read_bytes(path).decode("utf-8"))
        if index.get("format") != FORMAT:
            raise ValueError(f"format is {index.get('format')!r}, not {FORMAT!r}")
        if index.get("version") != VERSION:
            raise ValueError(f"version {index.get('version')!r}; this tfpix2pix reads {VERSION}")
        for split, info in index["splits"].items():
            counts = [int(s["count"]) for s in info["shards"]]
            if sum(counts) != int(info["count"]) or len(info["names"]) != int(info["count"]):
                raise ValueError(f"{split}: counts disagree")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{path}: not a valid to-tfrecord index ({exc}); {RERUN}") from None
    return index


def open_split(root, split, index=None):
    """``Pairs`` of one split of a to-tfrecord folder, or None if it has no such split."""
    index = index or read_index(root)
    info = index["splits"].get(split)
    if not info or not info["count"]:
        return None
    for shard in info["shards"]:
        path = fs.join(root, shard["file"])
        if not fs.exists(path):
            raise UserError(f"{path}: shard missing (listed in {fs.join(root, INDEX)}); {RERUN}")
    return Pairs(RecordSource(root, split, info))


def _parse(record):
    import tensorflow as tf
    spec = {key: tf.io.FixedLenFeature([], tf.string) for key in FEATURES}
    example = tf.io.parse_single_example(record, spec)
    return example["name"], example["image"]


class RecordSource:
    """The records of one split, read in order from its shards."""

    kind = "tfrecord"
    fix = "fix the source image and " + RERUN
    layout, parts = ALIGNED, 1

    def __init__(self, root, split, info):
        self.root, self.split = root, split
        self.names = tuple(info["names"])
        self.digest = info.get("sha256", "")
        self.shards = [(fs.join(root, s["file"]), int(s["count"])) for s in info["shards"]]
        self.starts = np.cumsum([0] + [c for _, c in self.shards])  # first record of each shard

    def __len__(self):
        return len(self.names)

    def name(self, j):
        return self.names[j]

    def _shard_of(self, j):
        return int(np.searchsorted(self.starts, j, side="right") - 1)

    def where(self, j, part=None):
        s = self._shard_of(j)
        return f"{self.shards[s][0]} record {j - self.starts[s]} ({self.names[j]})"

    def key(self, j):
        return ("tfrecord", fs.absolute(self.root), self.split, j)

    def identity(self, indices):
        return {"root": fs.absolute(self.root), "split": self.split, "sha256": self.digest,
                "count": len(self.names), "indices": list(indices)}

    def _span(self, indices):
        """(shard paths covering ``indices``, number of their first record)."""
        s0, s1 = self._shard_of(min(indices)), self._shard_of(max(indices))
        return [path for path, _ in self.shards[s0:s1 + 1]], int(self.starts[s0])

    def verify(self, indices):
        """Read the shards covering ``indices``: intact records, counts and names as indexed."""
        if not indices:
            return
        import tensorflow as tf
        s0, s1 = self._shard_of(min(indices)), self._shard_of(max(indices))
        for s in range(s0, s1 + 1):
            path, count = self.shards[s]
            first = int(self.starts[s])
            ds = tf.data.TFRecordDataset(path).map(lambda r: _parse(r)[0]).batch(256)
            seen = 0
            try:
                for names in ds.as_numpy_iterator():
                    for name in names:
                        want = self.names[first + seen] if seen < count else None
                        if name.decode("utf-8", "replace") != want:
                            got = name.decode("utf-8", "replace")
                            raise UserError(f"{path}: record {seen} is {got!r}, but "
                                            f"{INDEX} lists {want!r} there; {RERUN}")
                        seen += 1
            except tf.errors.NotFoundError:
                raise UserError(f"{path}: shard missing; {RERUN}") from None
            except tf.errors.DataLossError as exc:
                first_line = str(exc.message).strip().splitlines()[0]
                raise UserError(f"{path}: corrupt record after record {seen} ({first_line}); "
                                f"{RERUN}") from None
            except tf.errors.InvalidArgumentError:
                raise UserError(f"{path}: record {seen} is not a to-tfrecord pair (no name and "
                                f"image features); {RERUN}") from None
            if seen != count:
                raise UserError(f"{path}: holds {seen} records, but {INDEX} says {count}; "
                                f"{RERUN}")

    def encoded(self, indices):
        import tensorflow as tf
        if not indices:
            return tf.data.Dataset.from_tensor_slices(
                (tf.zeros([0], tf.int64), tf.zeros([0], tf.string)))
        if list(indices) != sorted(indices):
            raise ValueError("TFRecord selections must be in record order")
        files, first = self._span(indices)
        # position in the selection of record (first + g), or -1 if it is not selected
        position = np.full(max(indices) - first + 1, -1, np.int64)
        position[np.asarray(indices) - first] = np.arange(len(indices))
        position = tf.constant(position)
        ds = tf.data.TFRecordDataset(files, buffer_size=4 * 2**20).take(len(position))
        ds = ds.enumerate().map(lambda g, record: (tf.gather(position, g), record))
        ds = ds.filter(lambda k, record: k >= 0)
        return ds.map(lambda k, record: (k, _parse(record)[1][None]),
                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def random_reader(self, indices):
        import tensorflow as tf
        data = self.encoded(indices).map(lambda k, files: files)
        data = data.batch(max(1, len(indices))).get_single_element()  # [n, 1]
        return lambda k: tf.gather(data, k)


# --- writing --------------------------------------------------------------------------------

def _example(name, data):
    import tensorflow as tf
    feature = {"name": tf.train.Feature(bytes_list=tf.train.BytesList(value=[name.encode()])),
               "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _source_splits(src):
    from . import folder
    if not fs.exists(src):
        raise UserError(f"DIR {src}: folder not found; pass the dataset folder that holds "
                        "train/ (and val/, test/)")
    if not fs.isdir(src):
        raise UserError(f"DIR {src}: not a folder; pass the dataset folder that holds train/")
    splits = {s: folder.list_images(src, s) for s in SPLITS}
    splits = {s: paths for s, paths in splits.items() if paths}
    if not splits and folder.layout_of(src) == folder.TWO_FOLDERS:
        raise UserError(f"DIR {src}: holds a two-folder dataset (A/ and B/); to-tfrecord "
                        f"converts aligned [A | B] datasets only, so train on the folder "
                        f"itself (--data {src})")
    if not splits:
        raise UserError(f"DIR {src}: no .jpg or .png pairs in train/, val/ or test/; pass the "
                        "dataset folder that holds them as [A | B] side-by-side images")
    return splits


def _prepare_out(out):
    """Create OUT (or accept an empty folder or our own earlier output); the old index."""
    if fs.exists(out) and not fs.isdir(out):
        raise UserError(f"OUT {out}: exists and is not a folder; choose another path")
    old = None
    if fs.exists(out):
        names = fs.listdir(out)
        if INDEX in names:
            try:
                old = read_index(out)
            except UserError:
                old = None
        foreign = [n for n in names if n != INDEX and not _SHARD.match(n)
                   and ".tmp-" not in n]
        if foreign or (INDEX in names and old is None):
            raise UserError(f"OUT {out}: folder is not empty (it holds {(foreign or [INDEX])[0]}); "
                            "choose a new folder (to-tfrecord only replaces its own output)")
    probe = fs.join(out, f".write-test.tmp-{os.getpid()}")
    try:
        fs.makedirs(out)
        fs.write_bytes(probe, b"")
        fs.remove(probe)
    except Exception as exc:  # OSError, or a tf.errors.OpError for gfile paths
        reason = getattr(exc, "strerror", None) or str(getattr(exc, "message", exc))
        raise UserError(f"OUT {out}: cannot write there ({reason.splitlines()[0]}); choose a "
                        "folder you can write to") from None
    return old


def write(src, out, shards=0, log=None, preprocess=DEFAULT_PREPROCESS):
    """Convert the dataset folder ``src`` to TFRecords in ``out``; return the index written.

    ``shards``: shards per split (at most one per pair); 0 picks about one per 256 MB.
    ``log`` (a print-like function) gets one line per split. ``preprocess``: the
    ``--preprocess`` the records are for; only resize_and_crop (the default) needs every
    pair twice as wide as high (the records hold the files as they are either way).
    """
    from ..errors import quiet_tensorflow_import
    from . import folder
    if shards < 0:
        raise UserError(f"--shards {shards}: must be zero (automatic) or more")
    splits = _source_splits(src)
    old = _prepare_out(out)
    tf = quiet_tensorflow_import()
    # The same check --data DIR makes, before any writing (crops are checked by training).
    check = DEFAULT_PREPROCESS if preprocess == DEFAULT_PREPROCESS else "none"
    for paths in splits.values():
        folder.check_images(paths, preprocess=check)
    tag = f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    written, index = [], {"format": FORMAT, "version": VERSION, "source": fs.absolute(src),
                          "features": {"name": "bytes: the pair's file name",
                                       "image": "bytes: the file's original encoded bytes"},
                          "splits": {}}
    try:
        for split, paths in splits.items():
            sizes = [fs.stat(p)[0] for p in paths]
            n = min(len(paths), shards or max(1, math.ceil(sum(sizes) / SHARD_BYTES)))
            digest, entries = hashlib.sha256(), []
            for s in range(n):
                block = paths[s * len(paths) // n:(s + 1) * len(paths) // n]
                name = shard_name(split, s, n)
                tmp = fs.join(out, "." + name + tag)
                written.append((tmp, fs.join(out, name)))
                with tf.io.TFRecordWriter(tmp) as writer:
                    for path in block:
                        base, data = os.path.basename(path), fs.read_bytes(path)
                        for part in (base.encode(), data):
                            digest.update(len(part).to_bytes(8, "little") + part)
                        writer.write(_example(base, data))
                entries.append({"file": name, "count": len(block)})
            index["splits"][split] = {"count": len(paths), "sha256": digest.hexdigest(),
                                      "shards": entries,
                                      "names": [os.path.basename(p) for p in paths]}
            if log:
                log(f"{split}: {len(paths)} pairs -> {n} shard{'s' * (n > 1)} "
                    f"({sum(sizes) / 1e6:.1f} MB)")
        # Commit: no index while shards are swapped, the new index last.
        fs.remove(fs.join(out, INDEX))
        for tmp, final in written:
            fs.rename(tmp, final)
        index_tmp = fs.join(out, "." + INDEX + tag)
        written.append((index_tmp, None))
        fs.write_bytes(index_tmp, json.dumps(index, indent=1).encode("utf-8"))
        fs.rename(index_tmp, fs.join(out, INDEX))
    except BaseException as exc:
        for tmp, _final in written:
            fs.remove(tmp)
        if isinstance(exc, tf.errors.OpError):
            first_line = str(exc.message).strip().splitlines()[0]
            raise UserError(f"OUT {out}: writing the TFRecords failed ({first_line}); check "
                            "the free space and permissions there") from None
        raise
    new = {e["file"] for info in index["splits"].values() for e in info["shards"]}
    if old:
        for info in old["splits"].values():
            for entry in info["shards"]:
                if entry["file"] not in new:
                    fs.remove(fs.join(out, entry["file"]))
    if log:
        log(f"wrote {fs.join(out, INDEX)}; train with --data {out}")
    return index
