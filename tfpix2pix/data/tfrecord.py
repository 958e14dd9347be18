"""Reading a to-tfrecord folder: aligned pairs as sharded TFRecords.

The format (written by ``to_tfrecord``, ``python -m tfpix2pix.data to-tfrecord``):
each split (``train``, ``val``, ``test``) is ``<split>-00000-of-0000N.tfrecord``
shards of ``tf.train.Example`` records with two bytes features, ``name`` (the
pair's file name) and ``image`` (the file's original bytes, so decoding gives
exactly the pixels the folder gives). Records keep the folder's sorted order,
split into contiguous blocks, one per shard. ``index.json`` lists per split the
shards, their record counts, the names in order and a SHA-256 of the content.

``open_split`` gives a split as ``Pairs``, so ``--data OUT`` trains on exactly the
same examples, in the same order for a seed, as the folder it was converted from.
All paths go through tf.io.gfile (``gs://``, ``s3://`` with their plugins).
"""

import json
import re

import numpy as np

from ..errors import UserError
from . import fs
from .layouts import ALIGNED
from .source import Pairs

FORMAT = "tfpix2pix-tfrecord"
VERSION = 1
INDEX = "index.json"
SPLITS = ("train", "val", "test")
FEATURES = ("name", "image")
RERUN = "rerun python -m tfpix2pix.data to-tfrecord to rewrite the folder"
SHARD = re.compile(r"^(train|val|test)-\d{5}-of-\d{5}\.tfrecord$")


def shard_name(split, s, n):
    return f"{split}-{s:05d}-of-{n:05d}.tfrecord"


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


def _readable(path):
    """How many records of the shard at ``path`` can be read before the first corrupt one."""
    import tensorflow as tf
    count, records = 0, iter(tf.data.TFRecordDataset(path))
    while True:
        try:
            next(records)
        except (StopIteration, tf.errors.OpError):
            return count
        count += 1


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
        self.cut = {}  # shard -> records readable before a corrupt one (see ``verify``)

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

    def verify(self, indices, unreadable=None):
        """Read the shards covering ``indices``: intact records, counts and names as indexed.

        With a list ``unreadable``, a corrupt record is not an error: it and the rest of its
        shard are added to the list (as indices) and are never read again.
        """
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
                if unreadable is not None:
                    self.cut[s] = _readable(path)
                    unreadable.extend(range(first + self.cut[s], first + count))
                    continue
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
        if self.cut:  # shards with a corrupt record: each read up to it
            ds = self._readable_records(min(indices), max(indices))
        else:
            ds = tf.data.TFRecordDataset(files, buffer_size=4 * 2**20).take(len(position))
            ds = ds.enumerate()
        ds = ds.map(lambda g, record: (tf.gather(position, g), record))
        ds = ds.filter(lambda k, record: k >= 0)
        return ds.map(lambda k, record: (k, _parse(record)[1][None]),
                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def _readable_records(self, lo, hi):
        """(record number - first record of ``lo``'s shard, record) of the shards holding
        records ``lo`` to ``hi``, each read only up to its first corrupt record."""
        import tensorflow as tf
        s0, s1 = self._shard_of(lo), self._shard_of(hi)
        ds = None
        for s in range(s0, s1 + 1):
            path, count = self.shards[s]
            part = tf.data.TFRecordDataset(path, buffer_size=4 * 2**20).take(
                self.cut.get(s, count)).enumerate(int(self.starts[s] - self.starts[s0]))
            ds = part if ds is None else ds.concatenate(part)
        return ds

    def random_reader(self, indices):
        import tensorflow as tf
        data = self.encoded(indices).map(lambda k, files: files)
        data = data.batch(max(1, len(indices))).get_single_element()  # [n, 1]
        return lambda k: tf.gather(data, k)
