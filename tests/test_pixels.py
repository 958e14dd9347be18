"""The colour and pixel rules (``tfpix2pix.pixels``) and every reader that uses them."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfpix2pix import pixels
from tfpix2pix.data.pipeline import eval_pairs
from tfpix2pix.inference import images as I
from tfpix2pix.inference import serving
from tfpix2pix.training.summaries import image_grid

MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def random_pixels(channels, dtype=np.uint8, seed=0, size=(12, 10)):
    """Random pixels; with alpha, one row fully transparent and one fully opaque."""
    top = np.iinfo(dtype).max
    x = np.random.default_rng(seed).integers(0, top + 1, (*size, channels)).astype(dtype)
    if channels in (2, 4):
        x[0, :, -1], x[1, :, -1] = 0, top
    return x


def encoded(kind, channels, depth):
    """A file of ``kind`` (PNG, JPEG, GIF, BMP) with ``channels`` channels and ``depth`` bits."""
    x = random_pixels(channels, np.uint16 if depth == 16 else np.uint8, seed=channels)
    if kind == "PNG":
        return tf.io.encode_png(x).numpy()
    out = io.BytesIO()
    image = Image.fromarray(x[..., 0] if channels == 1 else x, MODES[channels])
    image.save(out, kind)
    return out.getvalue()


# (format, the file's channels, bits): what TensorFlow decodes. A GIF decodes to RGB.
KINDS = [("PNG", c, d) for d in (8, 16) for c in (1, 2, 3, 4)] + [
    ("JPEG", 1, 8), ("JPEG", 3, 8), ("GIF", 3, 8), ("BMP", 1, 8), ("BMP", 3, 8), ("BMP", 4, 8)]


@pytest.mark.parametrize("kind, channels, depth", KINDS, ids=lambda v: str(v))
def test_every_reader_gives_a_file_the_same_pixels(tmp_path, kind, channels, depth):
    """Training (tf.data), the export's bytes endpoint (TensorFlow), predict and ``load()``
    (numpy arrays, PIL images in and out) read each kind of file to each channel count
    alike: one colour rule, the file's own bit depth, the same range conversions."""
    data = encoded(kind, channels, depth)
    path = tmp_path / f"image.{kind.lower()}"
    path.write_bytes(data)
    image = I.read_image(path)
    assert image.shape[-1] == channels and image.dtype == (np.uint16 if depth == 16 else np.uint8)
    for n in (1, 2, 3, 4):
        served = serving.decode(tf.constant(data), n).numpy()
        assert served.shape == image.shape[:2] + (n,) and served.dtype == np.float32
        np.testing.assert_array_equal(I.to_float(I.to_channels(image, n)), served)
        trained, _ = eval_pairs([(str(path), str(path))], 8, "AtoB", preprocess="none",
                                input_nc=n, output_nc=n)
        np.testing.assert_array_equal(trained[0], served)
        if depth == 8 and (kind, channels) != ("BMP", 4):  # PIL reads a 32-bit BMP as RGB
            with Image.open(path) as pil:
                x, pil_kind = I.from_user(pil, channels=n)
            np.testing.assert_array_equal(x, served)
            out = np.asarray(I.to_user(x, pil_kind))
            png = tf.io.decode_png(serving.encode_png(served)).numpy()
            np.testing.assert_array_equal(out.reshape(png.shape), png)
        else:
            u16 = I.to_user(served, I.Kind("uint16"))
            np.testing.assert_array_equal(u16, pixels.to_pixels(served, tf.uint16))


def test_range_conversions_round_trip_and_round_half_to_even():
    for dtype, half in ((np.uint8, 127.5), (np.uint16, 32767.5)):
        every = np.arange(np.iinfo(dtype).max + 1).astype(dtype)
        x = pixels.to_float(every).numpy()
        assert x.dtype == np.float32 and x[0] == -1 and x[-1] == 1
        assert pixels.half_range(dtype) == half
        np.testing.assert_array_equal(pixels.to_pixels(x, dtype).numpy(), every)
    y = np.float32([-2, -1, 1 / 255, 3 / 255, 2])  # (y + 1) * 127.5 = 128.0, 129.0 exactly
    np.testing.assert_array_equal(I.to_uint8(y), [0, 0, 128, 129, 255])
    with pytest.raises(ValueError, match="uint8 or uint16"):
        pixels.half_range(np.int32)


def test_channel_rules():
    rgba = np.array([[[100, 0, 255, 0], [100, 0, 255, 255], [100, 0, 255, 128]]], np.uint8)
    # 128/255 alpha: 100 -> (100*128 + 255*127)/255 = 177.2; 0 -> 127; 255 -> 255
    np.testing.assert_array_equal(I.to_channels(rgba, 3)[0],
                                  [[255, 255, 255], [100, 0, 255], [177, 127, 255]])
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], np.uint8)
    # the luma 0.2989 R + 0.5870 G + 0.1140 B: 76.22, 149.69, 29.07, 18.15
    np.testing.assert_array_equal(I.to_channels(rgb, 1)[0, :, 0], [76, 150, 29, 18])
    np.testing.assert_array_equal(I.to_channels(rgb, 2)[0], [[76, 255], [150, 255], [29, 255],
                                                             [18, 255]])
    np.testing.assert_array_equal(I.to_channels(rgb, 4), np.concatenate(
        [rgb, np.full_like(rgb[..., :1], 255)], -1))
    gray_alpha = np.array([[[100, 0], [100, 255], [100, 128]]], np.uint8)
    np.testing.assert_array_equal(I.to_channels(gray_alpha, 1)[0, :, 0], [255, 100, 177])
    np.testing.assert_array_equal(I.to_channels(gray_alpha, 3)[0, 2], [177, 177, 177])
    np.testing.assert_array_equal(I.to_channels(gray_alpha, 4)[0, 2], [100, 100, 100, 128])
    # Floats are [-1, 1]: transparent is white (1), and opaque alpha 1 is added.
    x = pixels.to_channels(np.float32([[[-0.5, -1.0], [-0.5, 1.0]]]), 3).numpy()
    np.testing.assert_array_equal(x[0], [[1, 1, 1], [-0.5, -0.5, -0.5]])
    np.testing.assert_array_equal(pixels.to_channels(np.float32([[[0.25]]]), 2), [[[0.25, 1]]])
    with pytest.raises(ValueError, match="1 to 4"):
        pixels.to_channels(rgb, 5)


def test_the_grid_shows_alpha_composited_on_white():
    rgba = random_pixels(4, seed=3)
    gray_alpha = random_pixels(2, seed=4)
    grid = image_grid([I.to_float(rgba)], [I.to_float(gray_alpha)], [I.to_float(rgba[..., :3])])
    width = rgba.shape[1]
    cells = [grid[:, k * width:(k + 1) * width] for k in range(3)]
    # Composited in [-1, 1] without rounding in between: within one level of the files' rule.
    for cell, source in zip(cells, (rgba, gray_alpha, rgba[..., :3])):
        want = I.to_channels(source, 3).astype(int)
        assert np.abs(cell.astype(int) - want).max() <= 1
    assert (cells[0][0] == 255).all() and (cells[1][0] == 255).all()  # transparent: white
    np.testing.assert_array_equal(cells[0][1], rgba[1, :, :3])  # opaque: the colour
    np.testing.assert_array_equal(cells[1][1], np.repeat(gray_alpha[1, :, :1], 3, -1))
