"""The colour and pixel rules: one home for every conversion training, the grid, predict,
``load()`` and the export make.

Training (``data.preprocess``), the TensorBoard grid (``training.summaries``), predict
and ``load()`` (``inference.images``) and the export's bytes endpoint
(``inference.serving``) all convert through these functions, so a file gives the
same pixels whichever of them reads it. The functions are TensorFlow ops; they also
take numpy arrays, and numpy callers take ``.numpy()`` of the answer.

Pixel ranges:

* uint8 pixels hold 0..255, uint16 pixels 0..65535 (white is the dtype's top);
* the generator works in float32 [-1, 1]: ``x / 127.5 - 1`` from 8 bits,
  ``x / 32767.5 - 1`` from 16, and back by the inverse, rounded and clipped;
* a 16-bit PNG is read at its 16 bits; in a 16-bit run an 8-bit file is scaled
  by 257 (so 255 -> 65535).

Colour rules, from an image's channel count c (1 gray, 2 gray + alpha, 3 RGB,
4 RGBA) to the count n asked for:

* same count: as is;
* to 1 or 3: an alpha channel is first composited on white,
  ``c * a + white * (1 - a)`` with ``a`` the alpha scaled to [0, 1];
* to 2 or 4: the alpha channel is kept, or an opaque one added;
* RGB -> gray is the luma ``LUMA`` (``tf.image.rgb_to_grayscale``'s weights),
  gray -> RGB repeats the gray value.

Integer pixels are computed in float32 and rounded (half to even) once per
step; float pixels are taken as [-1, 1] (black -1, white and opaque 1).
"""

import tensorflow as tf

LUMA = (0.2989, 0.5870, 0.1140)  # R, G, B weights of the gray value
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def half_range(dtype):
    """127.5 for uint8, 32767.5 for uint16: ``x / half_range - 1`` maps pixels onto [-1, 1]."""
    dtype = tf.as_dtype(dtype)
    if dtype not in (tf.uint8, tf.uint16):
        raise ValueError(f"pixels must be uint8 or uint16, got {dtype.name}")
    return dtype.max / 2


def round_to(x, dtype):
    """float32 pixel values -> ``dtype`` (uint8 or uint16): rounded, clipped to its range."""
    return tf.cast(tf.clip_by_value(tf.round(x), 0, dtype.max), dtype)


def to_float(image):
    """uint8 0..255 or uint16 0..65535 pixels -> float32 in [-1, 1]."""
    half = half_range(image.dtype)
    return tf.cast(image, tf.float32) / half - 1.0


def to_pixels(x, dtype=tf.uint8):
    """float32 in [-1, 1] -> uint8 (or uint16) pixels, rounded; values outside are clipped."""
    dtype = tf.as_dtype(dtype)
    x = tf.cast(x, tf.float32)
    return round_to((x + 1.0) * half_range(dtype), dtype)


def to_16_bit(image):
    """uint8 pixels -> uint16 at the same brightness: times 257, so 255 -> 65535."""
    return tf.cast(image, tf.uint16) * 257


def is_16_bit_png(data):
    """Whether the encoded file ``data`` is a PNG whose IHDR says 16 bits per sample."""
    return tf.cond(
        tf.strings.length(data) >= 26,
        lambda: tf.logical_and(tf.equal(tf.strings.substr(data, 0, 8), PNG_SIGNATURE),
                               tf.equal(tf.strings.substr(data, 24, 1), b"\x10")),
        lambda: tf.constant(False))


def _black_white(dtype):
    return (0.0, float(dtype.max)) if dtype.is_integer else (-1.0, 1.0)


def _as(x, dtype):
    """float32 values -> ``dtype``: rounded for integer pixels."""
    return round_to(x, dtype) if dtype.is_integer else tf.cast(x, dtype)


def _on_white(image):
    """Gray + alpha or RGBA -> gray or RGB composited on white: ``c * a + white * (1 - a)``."""
    black, white = _black_white(image.dtype)
    x = tf.cast(image, tf.float32)
    a = (x[..., -1:] - black) / (white - black)
    return _as(x[..., :-1] * a + white * (1.0 - a), image.dtype)


def _gray_or_rgb(color, n):
    """1 (gray) or 3 (RGB) channels, without alpha -> ``n`` (1 or 3) channels."""
    k = tf.shape(color)[-1]
    if n == 3:
        gray = color[..., :1]  # (concat, not tile: tf.tile has no uint16 kernel)
        return tf.cond(k >= 3, lambda: color[..., :3], lambda: tf.concat([gray] * 3, axis=-1))

    def luma():
        rgb = tf.cast(color[..., :3], tf.float32)
        return _as(tf.tensordot(rgb, LUMA, [-1, -1])[..., None], color.dtype)

    return tf.cond(k >= 3, luma, lambda: color[..., :1])


def to_channels(image, n):
    """An image (..., H, W, C) with C in 1..4 -> ``n`` (1..4) channels, by the module's
    rules. The dtype is kept: uint8, uint16, or float in [-1, 1]."""
    if n not in (1, 2, 3, 4):
        raise ValueError(f"channels must be 1 to 4, not {n!r}")
    image = tf.convert_to_tensor(image)
    if image.shape[-1] == n:
        return image
    c = tf.shape(image)[-1]
    has_alpha = tf.logical_or(tf.equal(c, 2), tf.equal(c, 4))
    unknown = image.shape[:-1] + [None]
    if n in (1, 3):
        color = tf.cond(has_alpha, lambda: _on_white(image), lambda: image)
        out = _gray_or_rgb(tf.ensure_shape(color, unknown), n)
    else:
        _, white = _black_white(image.dtype)
        opaque = tf.cast(tf.fill(tf.shape(image[..., :1]), white), image.dtype)
        color, alpha = tf.cond(has_alpha, lambda: (image[..., :-1], image[..., -1:]),
                               lambda: (image, opaque))
        out = tf.concat([_gray_or_rgb(tf.ensure_shape(color, unknown), n - 1), alpha], -1)
    return tf.ensure_shape(out, image.shape[:-1] + [n])
