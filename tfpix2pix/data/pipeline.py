"""tf.data pipelines for aligned [A | B] pairs.

Training follows the paper's jitter: resize A and B to ``load_size``, crop a
random ``crop_size`` window (the same for A and B), mirror at random, scale to
[-1, 1]. With a cache, decoding and resizing happen once: the uint8 pairs are
kept (``cache="memory"``: one tensor; ``"disk"``: one file per pair in the run
folder, see ``cache.py``) and only the cheap crop, flip and scaling run in the
parallel map every epoch. ``"none"`` decodes every pair every epoch.

The whole run is one infinite stream (``TrainData.dataset``). Randomness comes
only from stateless ops seeded by (seed, epoch, position in epoch): epoch
``e``'s order is a permutation of the pair *indices* seeded by (seed, e), and
its element ``i`` is cropped and flipped with the stateless seed
(seed, e * N + i). So no buffer of decoded pairs is shuffled, every cache mode
gives the same stream, and the stream from any global step can be rebuilt
exactly in a new process, which is what makes a resumed run continue with the
same data. TensorFlow's global seed plays no part.
"""

import tensorflow as tf

from ..errors import UserError
from .source import as_pairs

AUTOTUNE = tf.data.AUTOTUNE
PAIR_CHANNELS = 6  # A and B stacked on the channel axis so they crop and flip together
CACHE_MODES = ("memory", "disk", "none")


def _decode_pair(data, size, direction):
    """Decode one encoded [A | B] file into a (size, size, 6) uint8 tensor, A first."""
    # INTEGER_ACCURATE decodes JPEGs as libjpeg's default does (PIL, used by the PyTorch
    # reference); TF's default DCT differs from it by up to ~20 levels on facades.
    image = tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(data, channels=3, expand_animations=False))
    half = tf.shape(image)[1] // 2
    left, right = image[:, :half], image[:, half:2 * half]
    a, b = (left, right) if direction == "AtoB" else (right, left)

    def resize(x):
        x = tf.image.resize(x, (size, size), method="bicubic", antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8)

    pair = tf.concat([resize(a), resize(b)], axis=-1)
    pair.set_shape((size, size, PAIR_CHANNELS))
    return pair


def to_unit_range(pair):
    """uint8 stacked pair -> (A, B), float32 in [-1, 1]."""
    x = tf.cast(pair, tf.float32) / 127.5 - 1.0
    return x[..., :3], x[..., 3:]


def _jitter(pair, seed, crop_size, flip):
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    pair = tf.image.stateless_random_crop(pair, (crop_size, crop_size, PAIR_CHANNELS), crop_seed)
    if flip:
        pair = tf.image.stateless_random_flip_left_right(pair, flip_seed)
    return to_unit_range(pair)


def _positioned(pairs, size, direction):
    """Dataset of (position, uint8 pair at ``size``), in order."""
    return pairs.encoded().map(lambda k, data: (k, _decode_pair(data, size, direction)),
                               num_parallel_calls=AUTOTUNE, deterministic=True)


def decoded_pairs(pairs, size, direction, cache=True):
    """Dataset of uint8 pairs at ``size``, in order, decoded once if ``cache`` (in memory).

    ``pairs``: ``source.Pairs`` or a list of image paths.
    """
    ds = _positioned(as_pairs(pairs), size, direction).map(lambda k, pair: pair)
    return ds.cache() if cache else ds


def steps_per_epoch(num_pairs, global_batch):
    return num_pairs // global_batch


def cache_mode(cache):
    """``cache`` as one of CACHE_MODES (a bool, from old code, means memory or none)."""
    if isinstance(cache, bool):
        return "memory" if cache else "none"
    if cache not in CACHE_MODES:
        raise ValueError(f"cache must be one of {', '.join(CACHE_MODES)}, got {cache!r}")
    return cache


def read_failure(pairs, exc, what="reading the pairs"):
    """The UserError for an OpError met while decoding ``pairs``: the bad file if one is."""
    from . import folder
    folder.check_images(pairs, decode=True)  # raises, naming the first bad pair, if there is one
    first = str(getattr(exc, "message", exc)).strip().splitlines()[0]
    return UserError(f"{what} failed ({first}); check that the files did not change")


class TrainData:
    """The jittered training stream: one infinite, resumable ``tf.data.Dataset``.

    ``pairs``: ``source.Pairs`` (``folder.find_pairs``) or a list of image paths.
    ``cache``: "memory", "disk" (needs ``cache_dir``, e.g. ``<run_dir>/cache``) or "none".
    Epoch ``e`` visits the pairs in a permutation seeded by (seed, e), and its element
    ``i`` is jittered with the stateless seed (seed, e * N + i). Each epoch drops its
    last incomplete global batch. The cache is filled (and a bad file reported as a
    UserError) the first time a stream is made.
    """

    def __init__(self, pairs, *, load_size, crop_size, direction, flip, seed, global_batch,
                 cache="memory", cache_dir=None):
        self.pairs = as_pairs(pairs)
        self.num_pairs = len(self.pairs)
        self.steps_per_epoch = steps_per_epoch(self.num_pairs, global_batch)
        self.load_size, self.crop_size = load_size, crop_size
        self.direction, self.flip = direction, flip
        self.seed, self.global_batch = int(seed), global_batch
        self.cache = cache_mode(cache)
        if self.cache == "disk" and not cache_dir:
            raise ValueError("cache='disk' needs a cache_dir (e.g. <run_dir>/cache)")
        self.cache_dir = cache_dir
        self._read = None

    def reader(self):
        """position (int64 tensor) -> uint8 pair at load size; fills the cache the first time."""
        if self._read is None:
            self._read = self._make_reader()
        return self._read

    def _decoded(self):
        return _positioned(self.pairs, self.load_size, self.direction)

    def _make_reader(self):
        size, direction = self.load_size, self.direction
        try:
            if self.cache == "memory":
                store = self._decoded().map(lambda k, pair: pair)
                store = store.batch(max(1, self.num_pairs)).get_single_element()
                return lambda k: tf.gather(store, k)
            if self.cache == "disk":
                from .cache import DiskCache
                disk = DiskCache(self.cache_dir, self.pairs, size, direction)
                return disk.ensure(self._decoded).reader(size)
            encoded = self.pairs.random_reader()
            return lambda k: _decode_pair(encoded(k), size, direction)
        except tf.errors.OpError as exc:
            raise read_failure(self.pairs, exc, "decoding the training pairs") from None

    def order(self, epoch):
        """The permutation of pair indices that epoch ``epoch`` visits (int64 tensor)."""
        epoch = tf.cast(epoch, tf.int64)
        # (seed, -1 - epoch): never equal to an element's jitter seed (seed, e * N + i >= 0).
        seed = tf.stack([tf.constant(self.seed, tf.int64), -1 - epoch])
        return tf.random.experimental.stateless_shuffle(
            tf.range(self.num_pairs, dtype=tf.int64), seed)

    def dataset(self, start_step=0, input_context=None):
        """Every batch of (A, B), float32 in [-1, 1], from global step ``start_step`` on.

        Infinite: epoch after epoch. Without ``input_context``: global batches. With a
        ``tf.distribute.InputContext``: this input pipeline's per-replica batches. Element
        ``j`` of a global batch belongs to replica ``j // (B // R)``; pipeline ``p`` serves
        replicas ``p * R / P`` to ``(p + 1) * R / P - 1`` and yields, step after step, one
        batch per replica it serves, in replica order. Other pipelines' elements are
        dropped as indices, before they are read or jittered.
        """
        n, batch, per_epoch = self.num_pairs, self.global_batch, self.steps_per_epoch
        if per_epoch == 0:
            raise ValueError(f"global batch {batch} is larger than the {n} pairs")
        replicas, pipelines, pipeline = 1, 1, 0
        if input_context is not None:
            replicas = input_context.num_replicas_in_sync
            pipelines = input_context.num_input_pipelines
            pipeline = input_context.input_pipeline_id
        if batch % replicas or replicas % pipelines:
            raise ValueError(f"global batch {batch} does not split over {replicas} replicas "
                             f"and {pipelines} input pipelines")
        per_replica = batch // replicas
        out_batch = per_replica if input_context is not None else batch
        served = replicas // pipelines
        first_epoch, first_step = divmod(int(start_step), per_epoch)

        positions = tf.range(per_epoch * batch, dtype=tf.int64)  # the used part of an epoch
        mine = tf.boolean_mask(positions, (positions % batch) // per_replica // served == pipeline)
        start = tf.constant(first_step * batch, tf.int64)
        read, seed = self.reader(), tf.constant(self.seed, tf.int64)
        crop_size, flip = self.crop_size, self.flip

        def epoch_elements(e):
            kept = tf.boolean_mask(mine, mine >= tf.where(e == first_epoch, start, 0))
            return tf.data.Dataset.from_tensor_slices(
                (tf.fill(tf.shape(kept), e), kept, tf.gather(self.order(e), kept)))

        def element(e, i, index):
            return _jitter(read(index), tf.stack([seed, e * n + i]), crop_size, flip)

        ds = tf.data.Dataset.counter(first_epoch).flat_map(epoch_elements)
        ds = ds.map(element, num_parallel_calls=AUTOTUNE, deterministic=True)
        return ds.batch(out_batch, drop_remainder=True).prefetch(AUTOTUNE)

    def distribute(self, strategy, start_step=0):
        """An iterator of ``strategy``'s distributed batches from global step ``start_step``.

        Works with the default strategy, MirroredStrategy and MultiWorkerMirroredStrategy:
        each input pipeline builds ``dataset(start_step, input_context)``.
        """
        self.reader()  # fill the cache here, not inside the strategy's dataset function
        return iter(strategy.distribute_datasets_from_function(
            lambda ctx: self.dataset(start_step, ctx)))

    def epoch(self, e, skip_batches=0):
        """The global batches of epoch ``e`` alone, without its first ``skip_batches``."""
        start = e * self.steps_per_epoch + skip_batches
        return self.dataset(start).take(self.steps_per_epoch - skip_batches)


def eval_pairs(pairs, crop_size, direction):
    """A fixed set of pairs resized to ``crop_size`` (no jitter), as float32 arrays, in order.

    ``pairs``: ``source.Pairs`` or a list of image paths.
    """
    pairs = as_pairs(pairs)
    ds = decoded_pairs(pairs, crop_size, direction, cache=False).map(to_unit_range)
    try:
        a, b = ds.batch(max(1, len(pairs))).get_single_element()
    except tf.errors.OpError as exc:
        raise read_failure(pairs, exc) from None
    return a, b
