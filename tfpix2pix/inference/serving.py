"""The two functions a translator serves, shared by ``load()``, predict and the export.

- ``float_fn``: float32 NHWC in [-1, 1] of any batch, height and width -> the same
  shape with the output channels. H and W that are not multiples of the generator's
  stride are reflect-padded at the bottom and right, and the output is cropped back.
- ``bytes_fn``: a batch of encoded images (PNG, JPEG, GIF or BMP, each of its own size)
  -> PNG strings of the translations. Channels are converted to the model's as training
  converts them (``data.preprocess``: gray repeated, alpha composited on white).

Padding is ``models.padding.pad_to_multiple`` (training pads the same way).
"""

import tensorflow as tf

from ..data import preprocess
from ..models.padding import pad_to_multiple

INPUT_KEY, OUTPUT_KEY = "image", "output"
BYTES_INPUT_KEY, BYTES_OUTPUT_KEY = "image_bytes", "output_bytes"  # "_bytes": REST gives b64


def float_fn(model, stride, in_channels):
    """The float endpoint around an inference model (see ``models.test_mode``)."""

    @tf.function(input_signature=[
        tf.TensorSpec([None, None, None, in_channels], tf.float32, name=INPUT_KEY)])
    def translate(image):
        h, w = tf.shape(image)[1], tf.shape(image)[2]
        out = model(pad_to_multiple(image, stride), training=False)
        return {OUTPUT_KEY: out[:, :h, :w, :]}

    return translate


def _is_image(data):
    head = tf.strings.substr(data, 0, 4)
    known = [tf.io.is_jpeg(data), tf.equal(head, b"\x89PNG"), tf.equal(head, b"GIF8"),
             tf.equal(tf.strings.substr(data, 0, 2), b"BM")]
    return tf.reduce_any(tf.stack(known))


def decode(data, channels):
    """One encoded image -> float32 HWC in [-1, 1] with ``channels`` channels, exactly as
    training reads it (``data.preprocess``: JPEGs as PIL decodes them, alpha composited on
    white, the same luma); a 16-bit PNG at its 16 bits."""
    def at(depth):
        image = preprocess.to_channels(preprocess.decode_file(data, 0, depth), channels)
        return tf.cast(image, tf.float32) / (127.5 if depth == 8 else 32767.5) - 1.0

    return tf.cond(preprocess.is_16_bit_png(data), lambda: at(16), lambda: at(8))


def encode_png(y):
    """float32 HWC in [-1, 1] -> PNG bytes (rounded as the training grids are)."""
    return tf.io.encode_png(tf.cast(tf.clip_by_value(tf.round((y + 1.0) * 127.5), 0, 255),
                                    tf.uint8))


def bytes_fn(translate, in_channels):
    """The bytes endpoint around a float endpoint made by ``float_fn``.

    An element that is not an image fails the call with a message naming its index.
    """

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=BYTES_INPUT_KEY)])
    def translate_bytes(image_bytes):
        def one(args):
            index, data = args
            check = tf.debugging.Assert(_is_image(data), [
                f"{BYTES_INPUT_KEY}[i] is not a PNG, JPEG, GIF or BMP image; i =", index])
            with tf.control_dependencies([check]):  # before the decoder fails on it
                image = decode(data, in_channels)
            return encode_png(translate(image[None])[OUTPUT_KEY][0])

        indices = tf.range(tf.shape(image_bytes)[0])
        pngs = tf.map_fn(one, (indices, image_bytes), fn_output_signature=tf.string)
        return {BYTES_OUTPUT_KEY: pngs}

    return translate_bytes
