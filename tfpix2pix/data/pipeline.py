"""tf.data pipelines for aligned [A | B] pairs.

Training follows the paper's jitter: resize A and B to ``load_size``, crop a
random ``crop_size`` window (the same for A and B), mirror at random, scale to
[-1, 1]. Decoding and resizing happen once: the uint8 pairs are cached, and
only the cheap crop, flip and scaling run in the parallel map every epoch.

Randomness is derived from (seed, epoch, position in epoch): the order of
epoch ``e`` comes from a shuffle seeded with (seed, e), and each element's
crop and flip from its own stateless seed. The stream from any global step
can therefore be rebuilt exactly, which is what makes a resumed run continue
with the same data.
"""

import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
PAIR_CHANNELS = 6  # A and B stacked on the channel axis so they crop and flip together


def _split_and_resize(path, size, direction):
    """Decode one [A | B] file into a (size, size, 6) uint8 tensor, A first."""
    data = tf.io.read_file(path)
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


def decoded_pairs(paths, size, direction, cache=True):
    """Dataset of uint8 pairs at ``size``, decoded once if ``cache``."""
    ds = tf.data.Dataset.from_tensor_slices(list(paths))
    ds = ds.map(lambda p: _split_and_resize(p, size, direction), num_parallel_calls=AUTOTUNE)
    return ds.cache() if cache else ds


def steps_per_epoch(num_pairs, global_batch):
    return num_pairs // global_batch


class TrainData:
    """The jittered training stream, one ``tf.data.Dataset`` per epoch.

    Epoch ``e`` is shuffled with a seed derived from (seed, e), and element
    ``i`` of it is jittered with the stateless seed (seed, e * N + i), so any
    epoch, and any position in it, can be rebuilt in a new process. Each epoch
    drops its last incomplete batch.

    ``Dataset.shuffle`` also mixes in TensorFlow's global seed, so the order is
    reproducible under the same global seed; ``training.loop.train`` sets it
    from the same ``seed`` (``keras.utils.set_random_seed``) before building this.
    """

    def __init__(self, paths, *, load_size, crop_size, direction, flip, seed, global_batch,
                 cache=True):
        self.num_pairs = len(paths)
        self.steps_per_epoch = steps_per_epoch(self.num_pairs, global_batch)
        self.crop_size, self.flip = crop_size, flip
        self.seed, self.global_batch = int(seed), global_batch
        self.pairs = decoded_pairs(paths, load_size, direction, cache)

    def epoch(self, e, skip_batches=0):
        """Batches of (A, B) for epoch ``e``, without its first ``skip_batches``."""
        n = self.num_pairs
        order_seed = (self.seed * 1_000_003 + e) % 2**31  # any fixed mixing of (seed, epoch)
        ds = self.pairs.shuffle(n, seed=order_seed, reshuffle_each_iteration=False).enumerate()
        ds = ds.skip(skip_batches * self.global_batch)  # skipped before the jitter: no work
        seed = tf.constant(self.seed, tf.int64)

        def jitter(i, pair):
            return _jitter(pair, tf.stack([seed, e * n + i]), self.crop_size, self.flip)

        ds = ds.map(jitter, num_parallel_calls=AUTOTUNE, deterministic=True)
        return ds.batch(self.global_batch, drop_remainder=True).prefetch(AUTOTUNE)

    def stream(self, start_step=0, distribute=None):
        """Every batch from global step ``start_step`` on, epoch after epoch (a generator).

        ``distribute`` (e.g. ``strategy.experimental_distribute_dataset``) wraps each epoch.
        """
        e, skip = divmod(start_step, self.steps_per_epoch)
        while True:
            ds = self.epoch(e, skip)
            yield from (distribute(ds) if distribute else ds)
            e, skip = e + 1, 0


def eval_pairs(paths, crop_size, direction):
    """A fixed set of pairs resized to ``crop_size`` (no jitter), as float32 arrays."""
    ds = decoded_pairs(paths, crop_size, direction, cache=False).map(to_unit_range)
    a, b = next(iter(ds.batch(len(paths))))
    return a, b
