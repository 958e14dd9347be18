"""tf.data pipelines for pairs: the resumable training stream and the fixed evaluation pairs.

Training follows the paper's jitter, as ``--preprocess`` sets it (see
``layouts.py`` and ``preprocess.py``): by default, resize A and B to
``load_size``, crop a random ``crop_size`` window (the same for A and B),
mirror at random, scale to [-1, 1]. With a cache, decoding and resizing happen
once: the stored pairs are kept (``cache="memory"``: in one tensor;
``"disk"``: one file per pair in the run folder, see ``cache.py``) and only the
cheap crop, flip and scaling run in the parallel map every epoch. ``"none"``
decodes every pair every epoch. Under ``scale_width`` and ``none`` pairs keep
their own sizes and are yielded unpadded; a batch of more than one needs them
all of one size, which ``check_images`` makes sure of at start-up.

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
from . import preprocess as _preprocess
from .layouts import DEFAULT_PREPROCESS, PairFormat
from .source import as_pairs

AUTOTUNE = tf.data.AUTOTUNE
from ..names import CACHE_MODES  # noqa: E402  (the one declaration of the modes)


# The training stream runs without tf.data's autotuning model. The model's thread
# re-tunes the pipeline at a period that doubles up to 60 s, and deleting the iterator
# waits until that thread wakes (TF 2.21; seen with gdb): a run sat silent for up to a
# minute after "Finished". Without the model, the map's AUTOTUNE is one parallel call
# per core, the most the model would give it; the training step sets the pace.
_NO_AUTOTUNE_MODEL = tf.data.Options()
_NO_AUTOTUNE_MODEL.autotune.enabled = False


def pair_format(pairs, *, load_size, crop_size, direction, preprocess=DEFAULT_PREPROCESS,
                input_nc=3, output_nc=3, bit_depth=None):
    """The ``PairFormat`` of ``pairs`` under these options (``bit_depth`` None: from the
    files' headers, 16 if any is a 16-bit PNG)."""
    if bit_depth is None:
        from .check import bit_depth as probe
        bit_depth = probe(pairs)
    return PairFormat(preprocess, load_size, crop_size, direction, input_nc, output_nc,
                      bit_depth, pairs.layout)


def _positioned(pairs, fmt):
    """Dataset of (position, stored pair), in order."""
    return pairs.encoded().map(lambda k, files: (k, _preprocess.decode_pair(files, fmt)),
                               num_parallel_calls=AUTOTUNE, deterministic=True)


def steps_per_epoch(num_pairs, global_batch):
    return num_pairs // global_batch


def cache_mode(cache):
    """``cache`` as one of CACHE_MODES (a bool, from old code, means memory or none)."""
    if isinstance(cache, bool):
        return "memory" if cache else "none"
    if cache not in CACHE_MODES:
        raise ValueError(f"cache must be one of {', '.join(CACHE_MODES)}, got {cache!r}")
    return cache


def read_failure(pairs, exc, what="reading the pairs", fmt=None):
    """The UserError for an OpError met while decoding ``pairs``: the bad file if one is."""
    from .check import check_images
    fmt = fmt or PairFormat()
    # Raises, naming the first bad pair, if there is one.
    check_images(pairs, decode=True, preprocess=fmt.preprocess, load_size=fmt.load_size,
                 crop_size=fmt.crop_size, input_nc=fmt.input_nc, output_nc=fmt.output_nc,
                 direction=fmt.direction)
    first = str(getattr(exc, "message", exc)).strip().splitlines()[0]
    return UserError(f"{what} failed ({first}); check that the files did not change")


class TrainData:
    """The jittered training stream: one infinite, resumable ``tf.data.Dataset``.

    ``pairs``: ``source.Pairs`` (``folder.find_pairs``), a list of [A | B] image paths
    or of (A path, B path) tuples.
    ``cache``: "memory", "disk" (needs ``cache_dir``, e.g. ``<run_dir>/cache``) or "none".
    ``preprocess``: one of ``layouts.PREPROCESS_MODES``; ``input_nc`` / ``output_nc``: the
    channels of A (the input, after ``direction``) and B, 1 to 4; ``bit_depth``: 8 or 16,
    or None to read it from the files' headers (pass ``check_images(...).bit_depth`` to
    skip that extra pass over the data).
    Epoch ``e`` visits the pairs in a permutation seeded by (seed, e), and its element
    ``i`` is jittered with the stateless seed (seed, e * N + i). Each epoch drops its
    last incomplete global batch. The cache is filled (and a bad file reported as a
    UserError) the first time a stream is made.
    """

    def __init__(self, pairs, *, load_size, crop_size, direction, flip, seed, global_batch,
                 cache="memory", cache_dir=None, preprocess=DEFAULT_PREPROCESS, input_nc=3,
                 output_nc=3, bit_depth=None):
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
        # Checked now (a wrong value is a ValueError here, not in the first stream).
        self._given = PairFormat(preprocess, load_size, crop_size, direction, input_nc,
                                 output_nc, bit_depth or 8, self.pairs.layout)
        self._options = dict(load_size=load_size, crop_size=crop_size, direction=direction,
                             preprocess=preprocess, input_nc=input_nc, output_nc=output_nc,
                             bit_depth=bit_depth)
        self._format = self._read = None
        self._stand_in = None  # --on-bad-file skip: pair index -> the index read in its place

    @property
    def format(self):
        """The ``layouts.PairFormat`` of the stored pairs (reads the bit depth if not given)."""
        if self._format is None:
            try:
                self._format = pair_format(self.pairs, **self._options)
            except tf.errors.OpError as exc:
                raise read_failure(self.pairs, exc, "reading the training pairs",
                                   fmt=self._given) from None
        return self._format

    def reader(self):
        """position (int64 tensor) -> stored pair (uint8 or uint16, not yet cropped); fills
        the cache the first time."""
        if self._read is None:
            self._read = self._make_reader()
        return self._read

    def _decoded(self):
        return _positioned(self.pairs, self.format)

    def _make_reader(self):
        fmt = self.format
        try:
            if self.cache == "memory":
                from .cache import memory_reader
                return memory_reader(self._decoded(), fmt, self.num_pairs)
            if self.cache == "disk":
                from .cache import DiskCache
                return DiskCache(self.cache_dir, self.pairs, fmt).ensure(self._decoded).reader()
            encoded = self.pairs.random_reader()
            return lambda k: _preprocess.decode_pair(encoded(k), fmt)
        except tf.errors.OpError as exc:
            raise read_failure(self.pairs, exc, "decoding the training pairs", fmt) from None

    def replace(self, bad):
        """Read another pair wherever one of the pair indices ``bad`` is due (it went bad
        during the run): the next good one. Streams made from now on do so; the order, the
        jitter seeds and the step count stay as they were."""
        import numpy as np
        stand_in = (np.arange(self.num_pairs, dtype=np.int64) if self._stand_in is None
                    else self._stand_in.copy())
        gone = set(int(b) for b in bad) | {k for k in range(self.num_pairs) if stand_in[k] != k}
        if len(gone) >= self.num_pairs:
            raise UserError(f"every one of the {self.num_pairs} training pairs is unreadable")
        for b in sorted(gone):
            good = (b + 1) % self.num_pairs
            while good in gone:
                good = (good + 1) % self.num_pairs
            stand_in[b] = good
        self._stand_in = stand_in

    def batch_indices(self, step):
        """The pair indices of global step ``step``'s batch (every replica's), in order."""
        epoch, j = divmod(int(step), self.steps_per_epoch)
        return self.order(epoch).numpy()[j * self.global_batch:(j + 1) * self.global_batch]

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
        fmt, flip = self.format, self.flip

        def epoch_elements(e):
            kept = tf.boolean_mask(mine, mine >= tf.where(e == first_epoch, start, 0))
            return tf.data.Dataset.from_tensor_slices(
                (tf.fill(tf.shape(kept), e), kept, tf.gather(self.order(e), kept)))

        if self._stand_in is not None:  # pairs that went bad during the run
            read = _read_instead(read, tf.constant(self._stand_in))

        def element(e, i, index):
            return _preprocess.jitter(read(index), tf.stack([seed, e * n + i]), fmt, flip)

        ds = tf.data.Dataset.counter(first_epoch).flat_map(epoch_elements)
        ds = ds.map(element, num_parallel_calls=AUTOTUNE, deterministic=True)
        ds = ds.batch(out_batch, drop_remainder=True).prefetch(AUTOTUNE)
        return ds.with_options(_NO_AUTOTUNE_MODEL)

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


def _read_instead(read, stand_in):
    return lambda k: read(tf.gather(stand_in, k))


def eval_pairs(pairs, crop_size, direction, *, preprocess=DEFAULT_PREPROCESS, load_size=None,
               input_nc=3, output_nc=3, bit_depth=None, as_list=False):
    """A fixed set of pairs in their evaluation view (no randomness), as float32, in order.

    The view follows ``preprocess``: resize_and_crop resizes to ``crop_size`` x
    ``crop_size``; crop centre-crops ``crop_size``; scale_width_and_crop scales the width
    to ``load_size`` and centre-crops; scale_width scales; none keeps the original size.
    ``pairs``: ``source.Pairs``, a list of image paths or of (A path, B path) tuples.
    Other arguments as ``TrainData``'s.

    Returns (A, B), two tensors [N, H, W, C], when every pair has one size (always so for
    the crop modes); otherwise, or with ``as_list``, a list of N (A, B) tuples of tensors
    [1, H, W, C], in order.
    """
    pairs = as_pairs(pairs)
    if load_size is None:
        if preprocess.startswith("scale_width"):
            raise ValueError(f"eval_pairs needs load_size for preprocess={preprocess!r}")
        load_size = crop_size
    options = dict(load_size=load_size, crop_size=crop_size, direction=direction,
                   preprocess=preprocess, input_nc=input_nc, output_nc=output_nc)
    try:
        fmt = pair_format(pairs, bit_depth=bit_depth, **options)
    except tf.errors.OpError as exc:
        raise read_failure(pairs, exc, fmt=PairFormat(**options)) from None
    ds = _positioned(pairs, _preprocess.eval_format(fmt))
    ds = ds.map(lambda k, pair: _preprocess.center(pair, fmt))
    try:
        if fmt.crops and not as_list:
            return ds.batch(max(1, len(pairs))).get_single_element()
        views = [(a[None], b[None]) for a, b in ds]
    except tf.errors.OpError as exc:
        raise read_failure(pairs, exc, fmt=fmt) from None
    if as_list or len({(tuple(a.shape), tuple(b.shape)) for a, b in views}) > 1:
        return views
    return tf.concat([a for a, _ in views], 0), tf.concat([b for _, b in views], 0)
