"""One pair's pixels: decode its files, convert channels and bit depth, resize, crop, flip.

The work is split where the cache splits it. ``decode_pair`` is the part done
once per pair (then cached): decode, channels (``input_nc`` / ``output_nc``),
bit depth, and the resize of ``--preprocess``. Its result, the *stored* pair,
is A and B stacked on the channel axis (input first), so that ``jitter`` (run
every epoch: random crop and mirror) and ``center`` (the fixed view of grid
and validation pairs) cut both alike. ``to_unit_range`` scales to [-1, 1] and
splits A from B.

Channels and bit depth follow ``pixels``, the rules predict and the export share:
alpha composited on white for 1 or 3 channels, the luma for gray, gray repeated
for RGB. 2 and 4 channels are made only from files with exactly 2 (gray + alpha)
or 4 (RGBA) channels, which ``check_images`` makes sure of at start-up. With
``bit_depth=16`` every pair is kept as uint16, a 16-bit PNG at its real values
and an 8-bit file times 257 (so 255 -> 65535); with 8 (the default) everything
is uint8, decoded exactly as before these options existed.
"""

import tensorflow as tf

from ..pixels import is_16_bit_png, round_to, to_16_bit, to_channels, to_float
from .layouts import ALIGNED

# The first bytes of the files ``decode_file`` reads: PNG, JPEG, BMP, GIF.
SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"BM", b"GIF8")
FORMATS = "PNG, JPEG, BMP or GIF"


def decode_file(data, channels, bit_depth=8):
    """One encoded file -> uint8 or uint16 (h, w, c) image.

    ``channels`` 3 decodes to RGB (gray repeated, alpha dropped); 0 keeps the file's own
    channels (JPEGs always give RGB, which holds a gray JPEG's values exactly).
    """
    def eight_bit():
        # INTEGER_ACCURATE decodes JPEGs as libjpeg's default does (PIL, used by the PyTorch
        # reference); TF's default DCT differs from it by up to ~20 levels on facades.
        return tf.cond(
            tf.io.is_jpeg(data),
            lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
            lambda: tf.io.decode_image(data, channels=channels, expand_animations=False))

    if bit_depth == 8:
        return eight_bit()
    return tf.cond(is_16_bit_png(data),
                   lambda: tf.io.decode_png(data, channels=channels, dtype=tf.uint16),
                   lambda: to_16_bit(eight_bit()))


def _decode_as(data, n, bit_depth):
    return to_channels(decode_file(data, 0, bit_depth), n)


def _resized(a, b, fmt):
    """A and B at the stored size of ``fmt.preprocess`` (both have the same size)."""
    dtype = a.dtype

    def resize(x, height, width):
        x = tf.image.resize(x, (height, width), method="bicubic", antialias=True)
        return round_to(x, dtype)

    if fmt.preprocess == "resize_and_crop":
        size = fmt.load_size
        return resize(a, size, size), resize(b, size, size)
    if fmt.scales_width:
        shape = tf.shape(a, out_type=tf.int64)
        height, width = shape[0], shape[1]
        new_height = tf.maximum(fmt.load_size * height // width, fmt.crop_size)
        new_width = tf.constant(fmt.load_size, tf.int64)
        same = tf.logical_and(tf.equal(new_height, height), tf.equal(new_width, width))
        # The reference returns such an image as it is; skip the (identity) resize too.
        return tuple(tf.cond(same, lambda x=x: x,
                             lambda x=x: resize(x, tf.cast(new_height, tf.int32),
                                                fmt.load_size)) for x in (a, b))
    return a, b  # crop, none: the original size


def decode_pair(files, fmt):
    """A pair's encoded files -> the stored pair: (h, w, input_nc + output_nc), input first.

    ``files``: string vector, [image] for an aligned [A | B] file, [A file, B file] for a
    two-folder pair. ``fmt``: an ``layouts.PairFormat``.
    """
    in_nc, out_nc, depth = fmt.input_nc, fmt.output_nc, fmt.bit_depth
    if fmt.layout == ALIGNED:
        image = decode_file(files[0], 0, depth)
        half = tf.shape(image)[1] // 2
        left, right = image[:, :half], image[:, half:2 * half]
        a, b = (left, right) if fmt.direction == "AtoB" else (right, left)
        a, b = to_channels(a, in_nc), to_channels(b, out_nc)
    else:
        first, second = (files[0], files[1]) if fmt.direction == "AtoB" else (files[1], files[0])
        a, b = _decode_as(first, in_nc, depth), _decode_as(second, out_nc, depth)
    a, b = _resized(a, b, fmt)
    pair = tf.concat([a, b], axis=-1)
    fixed = fmt.fixed_stored_size or (None, None)
    pair.set_shape((*fixed, fmt.channels))
    return pair


def to_unit_range(pair, input_nc=3):
    """Stored (uint8 or uint16) pair -> (A, B), float32 in [-1, 1]."""
    x = to_float(pair)
    return x[..., :input_nc], x[..., input_nc:]


def jitter(pair, seed, fmt, flip):
    """The training view of a stored pair: crop (crop modes) and mirror, seeded by ``seed``."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    if fmt.crops:
        size = (fmt.crop_size, fmt.crop_size, fmt.channels)
        pair = tf.image.stateless_random_crop(pair, size, crop_seed)
    if flip:
        pair = tf.image.stateless_random_flip_left_right(pair, flip_seed)
    return to_unit_range(pair, fmt.input_nc)


def eval_format(fmt):
    """The format fixed pairs are decoded in: resize_and_crop resizes straight to the crop."""
    if fmt.preprocess == "resize_and_crop":
        return fmt.replace(load_size=fmt.crop_size)
    return fmt


def center(pair, fmt):
    """The fixed view of a pair stored in ``eval_format(fmt)``: centre crop, no mirror."""
    if fmt.crops and fmt.preprocess != "resize_and_crop":
        shape = tf.shape(pair)
        top, left = (shape[0] - fmt.crop_size) // 2, (shape[1] - fmt.crop_size) // 2
        pair = pair[top:top + fmt.crop_size, left:left + fmt.crop_size]
        pair.set_shape((fmt.crop_size, fmt.crop_size, fmt.channels))
    return to_unit_range(pair, fmt.input_nc)
