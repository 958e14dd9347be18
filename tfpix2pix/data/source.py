"""Where aligned pairs come from: image files, or records of TFRecord shards.

``Pairs`` is an ordered selection of pairs from one source. It is what
``folder.find_pairs`` returns and what ``TrainData``, ``eval_pairs`` and
``check_images`` take (they also take a plain list of image paths). As a
sequence it holds the pairs' names: the file paths of a folder, the original
file names of a TFRecord split. Slicing it gives ``Pairs`` again.

A source gives the original encoded bytes of each pair, so decoding is the same
whatever the layout: in order as a ``tf.data`` stream (``encoded``), and by
position (``random_reader``) for the shuffled training order. This module does
not import TensorFlow until a stream is asked for.
"""

from collections.abc import Sequence

from . import fs


class FileSource:
    """Image files, one pair each, read by path."""

    kind = "files"
    fix = "replace or remove it"

    def __init__(self, paths):
        self.paths = tuple(str(p) for p in paths)

    def __len__(self):
        return len(self.paths)

    def name(self, j):
        return self.paths[j]

    def where(self, j):
        return self.paths[j]

    def key(self, j):
        return ("file", self.paths[j])

    def identity(self, indices):
        """What the decoded pairs depend on: each path, and for local files size and mtime."""
        out = []
        for j in indices:
            path = self.paths[j]
            out.append([fs.absolute(path), *fs.stat(path)] if not fs.is_remote(path) else [path])
        return out

    def verify(self, indices):
        """Nothing to check before reading (a missing file shows up as unreadable)."""

    def encoded(self, indices):
        import tensorflow as tf
        paths = [self.paths[j] for j in indices]
        ds = tf.data.Dataset.from_tensor_slices((tf.range(len(paths), dtype=tf.int64),
                                                 tf.constant(paths, tf.string)))
        return ds.map(lambda k, path: (k, tf.io.read_file(path)),
                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def random_reader(self, indices):
        import tensorflow as tf
        paths = tf.constant([self.paths[j] for j in indices], tf.string)
        return lambda k: tf.io.read_file(tf.gather(paths, k))


class Pairs(Sequence):
    """An ordered selection (``indices``) of the pairs of ``source``."""

    def __init__(self, source, indices=None):
        self.source = source
        self.indices = tuple(range(len(source))) if indices is None else tuple(indices)

    @classmethod
    def of_files(cls, paths):
        return cls(FileSource(paths))

    @property
    def kind(self):
        return self.source.kind

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        if isinstance(i, slice):
            if i.step is not None and i.step < 0:
                raise ValueError("Pairs keep their source's order; use a positive slice step")
            return Pairs(self.source, self.indices[i])
        return self.source.name(self.indices[i])

    def __repr__(self):
        shown = ", ".join(repr(n) for n in list(self)[:3])
        more = ", ..." if len(self) > 3 else ""
        return f"Pairs({self.kind}, {len(self)}: [{shown}{more}])"

    def where(self, k):
        """Pair ``k`` for a message: its file, or its shard, record number and name."""
        return self.source.where(self.indices[k])

    def key(self, k):
        """A hashable identity of pair ``k`` (the same pair in two selections: equal keys)."""
        return self.source.key(self.indices[k])

    def subset(self, positions):
        return Pairs(self.source, [self.indices[k] for k in positions])

    def identity(self):
        """JSON-able description of exactly which pairs these are (keys the disk cache)."""
        return {"kind": self.kind, "pairs": self.source.identity(self.indices)}

    def verify(self):
        """Check the container (TFRecord shards: records intact, counts and names as indexed)."""
        self.source.verify(self.indices)

    def encoded(self):
        """``tf.data.Dataset`` of (position, encoded file bytes), in this selection's order."""
        return self.source.encoded(self.indices)

    def random_reader(self):
        """A function: position (int64 tensor) -> encoded file bytes, for use in tf.data maps.

        For TFRecord sources this first loads the selection's encoded bytes into memory.
        """
        return self.source.random_reader(self.indices)


def as_pairs(pairs):
    """``Pairs`` as they are; a list of image paths as ``Pairs`` of files."""
    if isinstance(pairs, Pairs):
        return pairs
    if isinstance(pairs, (str, bytes)):
        raise TypeError("expected Pairs or a list of image paths, got a single string")
    return Pairs.of_files(pairs)
