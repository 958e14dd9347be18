"""The two functions a translator serves, shared by ``load()``, predict and the export.

- ``float_fn``: float32 NHWC in [-1, 1] of any batch, height and width -> the same
  shape with the output channels. H and W that are not multiples of the generator's
  stride are reflect-padded at the bottom and right, and the output is cropped back.
- ``bytes_fn``: a batch of encoded images (PNG, JPEG, GIF or BMP, each of its own size)
  -> PNG strings of the translations. Channels are converted to the model's as training
  converts them (``pixels``: gray repeated, alpha composited on white).

The float endpoint refuses a batch of the wrong rank or channels, or with an empty image,
inside its graph and before any convolution (``checked``), and answers an empty batch;
``inference.request`` states the same rule for load() and the TFLite and ONNX runners.
Padding is ``models.padding.pad_to_multiple`` (training pads the same way).
"""

import tensorflow as tf

from .. import pixels
from ..data import preprocess
from ..models.padding import pad_to_multiple
from . import request

INPUT_KEY, OUTPUT_KEY = "image", "output"
BYTES_INPUT_KEY, BYTES_OUTPUT_KEY = "image_bytes", "output_bytes"  # "_bytes": REST gives b64


def float_spec(in_channels, size=None):
    """The float input: [N, H, W, C], or [1, size, size, C] for a fixed-size converter source."""
    shape = [None, None, None, in_channels] if size is None else [1, size, size, in_channels]
    return tf.TensorSpec(shape, tf.float32, name=INPUT_KEY)


def padded(model, stride):
    """``image -> {"output": ...}``: the model on ``image`` reflect-padded to ``stride``, its
    output cropped back. No request checks: the converters' source (see ``float_fn``)."""
    def translate(image):
        h, w = tf.shape(image)[1], tf.shape(image)[2]
        out = model(pad_to_multiple(image, stride), training=False)
        return {OUTPUT_KEY: out[:, :h, :w, :]}

    return translate


def checked(image, in_channels):
    """``image`` if it is a batch the float endpoint accepts; else InvalidArgumentError.

    The declared input shape is not enforced when a signature is called (by TF Serving or
    ``tf.saved_model.load``), and TensorFlow's oneDNN convolution aborts the process on a
    tensor of rank 3 and answers rank 5 with a wrong shape. ``tf.ensure_shape`` checks the
    rank and channels at run time (a check on ``tf.rank`` would be folded away, since the
    graph takes the declared rank as known); H and W, unknown in the graph, are checked by
    an assertion. Both run before any convolution.
    """
    image = tf.ensure_shape(image, [None, None, None, in_channels])
    shape = tf.shape(image)
    valid = tf.logical_and(shape[1] > 0, shape[2] > 0)
    check = tf.debugging.Assert(valid, [f"{request.rule(in_channels)}; got shape", shape],
                                summarize=4)
    with tf.control_dependencies([check]):
        return tf.identity(image)


def float_fn(model, stride, in_channels):
    """The float endpoint around an inference model (see ``models.test_mode``).

    A batch of the wrong rank or channel count, or with an empty image, is refused with
    InvalidArgumentError (``checked``); an empty batch is answered with an empty batch.
    Both the same with TensorFlow's oneDNN kernels on or off.
    """
    translate_padded = padded(model, stride)
    out_channels = model.output_shape[-1]

    @tf.function(input_signature=[float_spec(in_channels)])
    def translate(image):
        image = checked(image, in_channels)
        shape = tf.shape(image)
        empty = {OUTPUT_KEY: tf.zeros([0, shape[1], shape[2], out_channels])}
        return tf.cond(shape[0] > 0, lambda: translate_padded(image), lambda: empty)

    return translate


def _is_image(data):
    known = [tf.equal(tf.strings.substr(data, 0, len(s)), s) for s in preprocess.SIGNATURES]
    return tf.reduce_any(tf.stack(known))


def decode(data, channels):
    """One encoded image -> float32 HWC in [-1, 1] with ``channels`` channels, exactly as
    training reads it (``data.preprocess``: JPEGs as PIL decodes them; ``pixels``: alpha
    composited on white, the same luma); a 16-bit PNG at its 16 bits."""
    def at(depth):
        return pixels.to_float(pixels.to_channels(preprocess.decode_file(data, 0, depth),
                                                  channels))

    return tf.cond(pixels.is_16_bit_png(data), lambda: at(16), lambda: at(8))


def encode_png(y):
    """float32 HWC in [-1, 1] -> 8-bit PNG bytes (``pixels.to_pixels``, as the grid)."""
    return tf.io.encode_png(pixels.to_pixels(y))


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
