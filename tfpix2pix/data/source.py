"""Where pairs come from: [A | B] image files, records of TFRecord shards, or A and B files.

``Pairs`` is an ordered selection of pairs from one source. It is what
``folder.find_pairs`` returns and what ``TrainData``, ``eval_pairs`` and
``check_images`` take (they also take a plain list of image paths, or of
(A path, B path) tuples). As a sequence it holds the pairs' names: the file
paths of a folder, the original file names of a TFRecord split, the (A, B)
paths of a two-folder dataset. Slicing it gives ``Pairs`` again.

A source gives the original encoded bytes of each pair's files, so decoding is
the same whatever the container: a pair is a string vector of ``parts`` files
(1: an aligned [A | B] image; 2: the A file, then the B file), in order as a
``tf.data`` stream (``encoded``), and by position (``random_reader``) for the
shuffled training order. ``layout`` says how to decode those files. This module
does not import TensorFlow until a stream is asked for.
"""

from collections.abc import Sequence

from . import fs
from .layouts import ALIGNED, TWO_FOLDERS


class FileSource:
    """Image files, one [A | B] pair each, read by path."""

    kind = "files"
    fix = "replace or remove it"
    layout, parts = ALIGNED, 1

    def __init__(self, paths):
        self.paths = tuple(str(p) for p in paths)

    def __len__(self):
        return len(self.paths)

    def name(self, j):
        return self.paths[j]

    def where(self, j, part=0):
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

    def verify(self, indices, unreadable=None):
        """Nothing to check before reading (a missing file shows up as unreadable)."""

    def encoded(self, indices):
        import tensorflow as tf
        paths = [self.paths[j] for j in indices]
        ds = tf.data.Dataset.from_tensor_slices((tf.range(len(paths), dtype=tf.int64),
                                                 tf.constant(paths, tf.string)))
        return ds.map(lambda k, path: (k, tf.io.read_file(path)[None]),
                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def random_reader(self, indices):
        import tensorflow as tf
        paths = tf.constant([self.paths[j] for j in indices], tf.string)
        return lambda k: tf.io.read_file(tf.gather(paths, k))[None]


class FilePairSource:
    """Two files per pair (the A file and the B file, of a two-folder dataset), read by path."""

    kind = "file pairs"
    fix = "replace or remove it"
    layout, parts = TWO_FOLDERS, 2

    def __init__(self, path_pairs):
        self.pairs = tuple((str(a), str(b)) for a, b in path_pairs)

    def __len__(self):
        return len(self.pairs)

    def name(self, j):
        return self.pairs[j]

    def where(self, j, part=None):
        """One file of pair ``j`` (part 0: A, 1: B), or both."""
        return " and ".join(self.pairs[j]) if part is None else self.pairs[j][part]

    def key(self, j):
        return ("file pair",) + self.pairs[j]

    def identity(self, indices):
        files = FileSource([p for j in indices for p in self.pairs[j]])
        flat = files.identity(range(len(files)))
        return [flat[2 * i:2 * i + 2] for i in range(len(indices))]

    def verify(self, indices, unreadable=None):
        """Nothing to check before reading (a missing file shows up as unreadable)."""

    def encoded(self, indices):
        import tensorflow as tf
        paths = [self.pairs[j] for j in indices]
        ds = tf.data.Dataset.from_tensor_slices((tf.range(len(paths), dtype=tf.int64),
                                                 tf.constant(paths, tf.string, [len(paths), 2])))
        return ds.map(lambda k, two: (k, tf.stack([tf.io.read_file(two[0]),
                                                   tf.io.read_file(two[1])])),
                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def random_reader(self, indices):
        import tensorflow as tf
        paths = tf.constant([self.pairs[j] for j in indices], tf.string, [len(indices), 2])

        def read(k):
            two = tf.gather(paths, k)
            return tf.stack([tf.io.read_file(two[0]), tf.io.read_file(two[1])])
        return read


class Pairs(Sequence):
    """An ordered selection (``indices``) of the pairs of ``source``."""

    def __init__(self, source, indices=None):
        self.source = source
        self.indices = tuple(range(len(source))) if indices is None else tuple(indices)

    @classmethod
    def of_files(cls, paths):
        return cls(FileSource(paths))

    @classmethod
    def of_file_pairs(cls, path_pairs):
        return cls(FilePairSource(path_pairs))

    @property
    def kind(self):
        return self.source.kind

    @property
    def layout(self):
        """How a pair's files are decoded: layouts.ALIGNED or layouts.TWO_FOLDERS."""
        return self.source.layout

    @property
    def parts(self):
        """Files per pair: 1 ([A | B]) or 2 (A, B)."""
        return self.source.parts

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

    def where(self, k, part=None):
        """Pair ``k`` (or its file ``part``) for a message: its file(s), or its shard, record
        number and name."""
        return self.source.where(self.indices[k], part)

    def key(self, k):
        """A hashable identity of pair ``k`` (the same pair in two selections: equal keys)."""
        return self.source.key(self.indices[k])

    def subset(self, positions):
        return Pairs(self.source, [self.indices[k] for k in positions])

    def identity(self):
        """JSON-able description of exactly which pairs these are (keys the disk cache)."""
        return {"kind": self.kind, "pairs": self.source.identity(self.indices)}

    def verify(self, unreadable=None):
        """Check the container (TFRecord shards: records intact, counts and names as indexed).

        With a list ``unreadable``, records that cannot be read are added to it as positions
        in this selection instead of raising UserError."""
        lost = None if unreadable is None else []
        self.source.verify(self.indices, lost)
        if lost:
            lost = set(lost)
            unreadable.extend(k for k, j in enumerate(self.indices) if j in lost)

    def encoded(self):
        """``tf.data.Dataset`` of (position, encoded files: a [parts] string vector), in this
        selection's order."""
        return self.source.encoded(self.indices)

    def random_reader(self):
        """A function: position (int64 tensor) -> encoded files ([parts] string vector), for
        use in tf.data maps.

        For TFRecord sources this first loads the selection's encoded bytes into memory.
        """
        return self.source.random_reader(self.indices)


def as_pairs(pairs):
    """``Pairs`` as they are; a list of image paths as ``Pairs`` of [A | B] files; a list of
    (A path, B path) tuples as ``Pairs`` of file pairs."""
    if isinstance(pairs, Pairs):
        return pairs
    if isinstance(pairs, (str, bytes)):
        raise TypeError("expected Pairs or a list of image paths, got a single string")
    pairs = list(pairs)
    if pairs and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in pairs):
        return Pairs.of_file_pairs(pairs)
    return Pairs.of_files(pairs)
