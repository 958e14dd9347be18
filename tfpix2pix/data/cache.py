"""The caches of decoded, resized pairs: in memory, or on disk in the run folder.

In memory (``memory_reader``), pairs that all have one size are one stacked
tensor, as they always were; pairs of different sizes (``--preprocess crop``,
``scale_width``, ``none``) are one flat tensor of all their values, with each
pair's offset and shape, so a pair is still read by position with one slice.

Why not ``tf.data.Dataset.cache(filename)``: its file can only be read back in
order, so a shuffled epoch would need a shuffle buffer of the whole decoded
dataset in memory; and a run killed while it writes leaves
``<prefix>_0.lockfile`` and a ``.tempstate`` file, after which every new
iterator fails with "There appears to be a concurrent caching iterator
running - cache lockfile already exists" until someone deletes the lockfile.

Here each pair is its own file (``tf.io.serialize_tensor`` of the (H, W, C)
uint8 or uint16 pair, which records its shape), so the training order can read
pairs by position, holding none in memory. The folder is named after a hash of
what the pixels depend on (the pairs' identity: paths, sizes and modification
times of local files, or a TFRecord split's content hash; and
``PairFormat.cache_identity``: load size, direction and, outside the default
format, the resize, channels, bit depth and layout), so changed settings or
images never read a stale cache. It is filled in a private
temporary folder and renamed into place only when every pair and the
``done.json`` marker are written: a cache folder left by a killed run is
either absent or complete, and a temporary one is ignored and, once its
process is gone, deleted.
"""

import hashlib
import json
import os
import re
import socket
import uuid

from ..errors import UserError
from . import fs

VERSION = 1
MARKER = "done.json"
_TMP = re.compile(r"\.tmp-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{8}$")


def cache_key(pairs, fmt):
    """Hash of the pairs and of everything their stored pixels depend on (``fmt``)."""
    ident = {"version": VERSION, **fmt.cache_identity(), "pairs": pairs.identity()}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode("utf-8")).hexdigest()


def _dtype(fmt):
    import tensorflow as tf
    return tf.uint16 if fmt.bit_depth == 16 else tf.uint8


def _shape(fmt):
    return (*(fmt.fixed_stored_size or (None, None)), fmt.channels)


def memory_reader(decoded, fmt, count):
    """position (int64 tensor) -> stored pair, from ``decoded`` ((position, pair) in order)
    read into memory once."""
    import tensorflow as tf
    pairs = decoded.map(lambda k, pair: pair)
    if fmt.fixed_stored_size:
        store = pairs.batch(max(1, count)).get_single_element()
        return lambda k: tf.gather(store, k)
    flat = pairs.map(lambda pair: (tf.reshape(pair, [-1]), tf.shape(pair, out_type=tf.int64)))
    values, shapes = flat.ragged_batch(max(1, count)).get_single_element()
    data, starts = values.flat_values, values.row_splits
    shape = _shape(fmt)

    def read(k):
        return tf.ensure_shape(tf.reshape(data[starts[k]:starts[k + 1]], shapes[k]), shape)
    return read


def file_name(k):
    return f"{k:08d}.pair"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(cache_dir):
    """Delete temporary cache folders of fills on this host whose process has ended."""
    if fs.is_remote(cache_dir) or not os.path.isdir(cache_dir):
        return
    host = socket.gethostname()
    for name in os.listdir(cache_dir):
        m = _TMP.search(name)
        if m and m["host"] == host and not _alive(int(m["pid"])):
            fs.rmtree(os.path.join(cache_dir, name))


class DiskCache:
    """The cache folder of ``pairs`` decoded as ``fmt`` (an ``layouts.PairFormat``) says."""

    def __init__(self, cache_dir, pairs, fmt):
        self.cache_dir, self.count, self.format = cache_dir, len(pairs), fmt
        self.key = cache_key(pairs, fmt)
        self.folder = fs.join(cache_dir,
                              f"pairs-{fmt.load_size}-{fmt.direction}-{self.key[:16]}")

    def complete(self):
        """Whether the folder holds every pair, as its marker (written last) says."""
        marker = fs.join(self.folder, MARKER)
        try:
            info = json.loads(fs.read_bytes(marker).decode("utf-8"))
        except Exception:  # absent (OSError, tf NotFoundError) or unreadable
            return False
        if not isinstance(info, dict) or info.get("key") != self.key or \
                info.get("count") != self.count:
            return False
        wanted = (file_name(k) for k in range(self.count))
        if fs.is_remote(self.folder):
            names = set(fs.listdir(self.folder))
            return all(n in names for n in wanted)
        with os.scandir(self.folder) as entries:
            sizes = {e.name: e.stat().st_size for e in entries}
        if "sizes" in info:  # pairs of different sizes: each file's byte count
            expected = info["sizes"]
            return isinstance(expected, list) and len(expected) == self.count and \
                all(sizes.get(n) == b for n, b in zip(wanted, expected))
        return all(sizes.get(n) == info.get("bytes") for n in wanted)

    def fill(self, decoded):
        """Write ``decoded`` ((position, stored pair) in order) as the cache, atomically."""
        import tensorflow as tf
        fs.makedirs(self.cache_dir)
        remove_stale_temporaries(self.cache_dir)
        tmp = f"{self.folder}.tmp-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        fs.makedirs(tmp)
        # Decoding runs in parallel; the writes run here, one by one, so that none is still
        # under way when an error removes the temporary folder.
        serialized = decoded.map(lambda k, pair: (k, tf.io.serialize_tensor(pair)),
                                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
        try:
            sizes = [0] * self.count
            for k, data in serialized.as_numpy_iterator():
                fs.write_bytes(fs.join(tmp, file_name(int(k))), data)
                sizes[int(k)] = len(data)
            fmt = self.format
            marker = {"key": self.key, "count": self.count,
                      "format": f"tf.io.serialize_tensor of a {_dtype(fmt).name} (height, width, "
                                f"{fmt.input_nc} + {fmt.output_nc}) pair, input channels first"}
            if len(set(sizes)) <= 1:
                marker["bytes"] = sizes[0] if sizes else 0
            else:
                marker["sizes"] = sizes
            fs.write_bytes(fs.join(tmp, MARKER), json.dumps(marker).encode("utf-8"))
            if self.complete():  # another process (worker) finished first: use its folder
                fs.rmtree(tmp)
                return
            fs.rmtree(self.folder)  # an incomplete folder (never written by this code)
            fs.rename(tmp, self.folder)
        except BaseException:
            fs.rmtree(tmp)
            raise

    def ensure(self, decoded_fn):
        """Fill the cache from ``decoded_fn()`` unless it is complete; return self."""
        if not self.complete():
            try:
                self.fill(decoded_fn())
            except OSError as exc:
                raise UserError(f"{self.folder}: cannot write the disk cache ({exc.strerror}); "
                                "free space there or use --cache memory or none") from None
        return self

    def reader(self):
        """A function: position (int64 tensor) -> stored pair, reading its cache file."""
        import tensorflow as tf
        prefix = fs.join(self.folder, "")
        dtype, shape = _dtype(self.format), _shape(self.format)

        def read(k):
            name = tf.strings.join([prefix, tf.strings.as_string(k, width=8, fill="0"), ".pair"])
            return tf.ensure_shape(tf.io.parse_tensor(tf.io.read_file(name), dtype), shape)
        return read
