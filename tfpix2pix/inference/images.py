"""Images in and out of a translate function: decoding, channels, ranges, PNG files, inputs.

Pixel conventions: uint8 arrays hold 0..255, uint16 arrays (16-bit PNGs, read at
their real depth) 0..65535, float arrays hold [-1, 1] (the generator's range).
Every conversion of channels and ranges here is training's, ``tfpix2pix.pixels``
(gray repeated for RGB, the luma for gray, alpha composited on white), run on the
arrays and answered as numpy.

TensorFlow decodes files and encodes PNGs; PIL is imported only when a PIL
image is passed in or asked back.
"""

import glob
import os
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .. import pixels
from ..data.layouts import DIRECTIONS
from ..data.preprocess import FORMATS, SIGNATURES
from ..errors import UserError
from ..files import write_atomic

__all__ = ["read_image", "decode", "to_channels", "split_pair", "to_float", "to_uint8", "from_user",
           "to_user", "Kind", "write_png", "list_inputs", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def read_image(path):
    """Decode a PNG, JPEG, BMP or GIF (first frame) file to an HxWxC array (C in 1..4),
    uint8, or uint16 for a 16-bit PNG.

    JPEGs use the INTEGER_ACCURATE DCT, as the training pipeline does, so pixels
    match PIL's. A missing, unreadable or corrupt file raises a one-line UserError.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found; check the path") from None
    except OSError as exc:
        raise UserError(f"{path}: not a readable image ({exc.strerror or 'cannot open'}); "
                        "check the path and its permissions") from None
    return decode(data, path)


def decode(data, path="image"):
    """``read_image`` for bytes already read; ``path`` names them in errors."""
    if not data.startswith(SIGNATURES):
        raise UserError(f"{path}: not a readable image (not a {FORMATS} file); "
                        "replace or remove it")
    try:
        if data.startswith(b"\xff\xd8\xff"):
            image = tf.io.decode_jpeg(data, dct_method="INTEGER_ACCURATE")
        elif pixels.is_16_bit_png(data):
            image = tf.io.decode_png(data, dtype=tf.uint16)
        else:
            image = tf.io.decode_image(data, expand_animations=False)
        return image.numpy()
    except tf.errors.OpError:
        raise UserError(f"{path}: not a readable image (corrupt or unsupported {FORMATS} "
                        "data); replace or remove it") from None


def _as_hwc(image):
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[-1] not in (1, 2, 3, 4):
        raise UserError(f"image of shape {image.shape}: expected HxW or HxWxC with C = 1 (gray), "
                        "2 (gray+alpha), 3 (RGB) or 4 (RGBA)")
    return image


def to_channels(image, channels):
    """uint8 or uint16 HxWxC (C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) or HxW -> the same
    dtype, HxWx``channels`` (1 to 4), by the module's colour rules."""
    image = _as_hwc(image)
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"to_channels expects uint8 or uint16 pixels, got {image.dtype}")
    if image.shape[-1] == channels:
        return image
    return pixels.to_channels(image, channels).numpy()


def split_pair(image, direction, name="image"):
    """Split an [A | B] side-by-side image into (input, target) for "AtoB" or "BtoA"."""
    if direction not in DIRECTIONS:
        raise UserError(f"direction {direction!r}: use {' or '.join(DIRECTIONS)}")
    height, width = image.shape[:2]
    if width % 2:
        raise UserError(f"{name}: {width}x{height} has an odd width, but an [A | B] pair needs "
                        "an even width (two halves side by side); crop or fix it")
    half = width // 2
    a, b = image[:, :half], image[:, half:]
    return (a, b) if direction == "AtoB" else (b, a)


def to_float(image):
    """uint8 0..255 or uint16 0..65535 -> float32 in [-1, 1] (``pixels.to_float``)."""
    return pixels.to_float(np.asarray(image)).numpy()


def to_uint8(x):
    """float in [-1, 1] -> uint8 0..255, rounded and clipped (``pixels.to_pixels``)."""
    return pixels.to_pixels(x, np.uint8).numpy()


@dataclass(frozen=True)
class Kind:
    """What ``from_user`` was given, so ``to_user`` can answer in kind.

    ``source`` is "pil", "uint8", "uint16" or "float"; ``mode`` the PIL mode (or None);
    ``dtype`` the float dtype of a float array; ``squeeze`` is True for a 2D array.
    """

    source: str
    mode: str = None
    dtype: str = None
    squeeze: bool = False


def _is_pil(obj):
    return type(obj).__module__.startswith("PIL.") and hasattr(obj, "getbands")


def _pil_to_uint8(image):
    """A PIL image -> uint8 HxWxC, in mode L, LA, RGB or RGBA."""
    mode = image.mode
    if mode in ("I", "F") or mode.startswith("I;"):
        raise UserError(f"PIL image in mode {mode} (16/32-bit): convert it to 'L' or 'RGB' first")
    if mode == "1":
        image = image.convert("L")
    elif mode in ("La", "RGBa"):
        image = image.convert(mode.upper())
    elif mode in ("P", "PA"):
        alpha = mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if alpha else "RGB")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX
    return _as_hwc(np.asarray(image, dtype=np.uint8))


def from_user(obj, channels=None):
    """A user's image -> (float32 HxWxC in [-1, 1], Kind).

    Accepted: a PIL image; a uint8 array HxW or HxWxC, read as 0..255 (uint16 as
    0..65535); a float array, read as [-1, 1] (values further than 1e-3 outside it
    are refused, and the rest clipped). Other dtypes are refused. ``channels`` (1
    to 4) converts the channels with the module's rules; None keeps them.
    """
    if _is_pil(obj):
        kind = Kind("pil", mode=obj.mode)
        image = _pil_to_uint8(obj)
    else:
        array = np.asarray(obj)
        if array.ndim not in (2, 3):
            raise UserError(f"array of shape {array.shape}: pass one image, HxW or HxWxC")
        squeeze = array.ndim == 2
        if array.dtype in (np.uint8, np.uint16):
            kind, image = Kind(array.dtype.name, squeeze=squeeze), _as_hwc(array)
        elif np.issubdtype(array.dtype, np.floating):
            kind = Kind("float", dtype=array.dtype.str, squeeze=squeeze)
            x = _as_hwc(array).astype(np.float64)
            if not np.isfinite(x).all():
                raise UserError("float image has NaN or infinite values; pass values in [-1, 1]")
            if x.size and (x.min() < -1.001 or x.max() > 1.001):
                raise UserError(f"float image has values in [{x.min():.4g}, {x.max():.4g}]; float "
                                "arrays must be in [-1, 1] (pass uint8 for 0..255 pixels)")
            x = np.clip(x, -1.0, 1.0)
            x = x.astype(np.float32)
            if channels is not None:
                x = pixels.to_channels(x, channels).numpy()
            return x, kind
        else:
            raise UserError(f"array of dtype {array.dtype}: pass uint8 (0..255), uint16 "
                            "(0..65535) or float ([-1, 1]) pixels")
    if channels is not None:
        image = to_channels(image, channels)
    return to_float(image), kind


def to_user(result, kind):
    """A float HxWxC result in [-1, 1] -> the kind ``from_user`` was given.

    PIL in -> PIL out, its mode set by the result's channels (1 L, 2 LA, 3 RGB,
    4 RGBA); uint8 in -> uint8 out; float in -> float of the same dtype, clipped
    to [-1, 1]. A 2D array in gives a 2D array out when the result has one channel.
    """
    result = _as_hwc(result)
    squeeze = kind.squeeze and result.shape[-1] == 1
    if kind.source == "float":
        out = np.clip(result, -1.0, 1.0).astype(kind.dtype)
        return out[..., 0] if squeeze else out
    if kind.source == "uint16":
        u16 = pixels.to_pixels(result, np.uint16).numpy()
        return u16[..., 0] if squeeze else u16
    u8 = to_uint8(result)
    if kind.source == "uint8":
        return u8[..., 0] if squeeze else u8
    from PIL import Image
    return Image.fromarray(u8[..., 0] if u8.shape[-1] == 1 else u8)


def write_png(path, image):
    """Write a uint8 (or uint16: a 16-bit PNG) HxW or HxWxC image as PNG, atomically,
    creating parent folders."""
    image = _as_hwc(image)
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"write_png expects uint8 or uint16 pixels, got {image.dtype}")
    return write_atomic(path, tf.io.encode_png(image).numpy())


def _is_image_name(path):
    return path.lower().endswith(IMAGE_EXTENSIONS)


def list_inputs(specs):
    """Sorted unique image paths for a list of files, folders and glob patterns.

    Folders are listed without recursion; glob patterns (``**`` recurses) keep
    the image files they match. A spec that yields no image raises UserError.
    """
    if isinstance(specs, (str, os.PathLike)):
        specs = [specs]
    kinds = "/".join(IMAGE_EXTENSIONS)
    found = set()
    for spec in specs:
        spec = os.fspath(spec)
        path = os.path.expanduser(spec)
        if os.path.isdir(path):
            names = [os.path.join(path, n) for n in os.listdir(path)]
            paths = [p for p in names if _is_image_name(p) and os.path.isfile(p)]
            if not paths:
                raise UserError(f"{spec}: no {kinds} images in this folder; pass a folder with "
                                "images (subfolders are not searched)")
        elif os.path.isfile(path):
            if not _is_image_name(path):
                raise UserError(f"{spec}: not a {kinds} file; convert it or pass another file")
            paths = [path]
        elif glob.has_magic(path):
            paths = [p for p in glob.glob(path, recursive=True)
                     if _is_image_name(p) and os.path.isfile(p)]
            if not paths:
                raise UserError(f"{spec}: the pattern matches no {kinds} files; check it")
        else:
            raise UserError(f"{spec}: no such file or folder; check the path")
        found.update(os.path.normpath(p) for p in paths)
    return sorted(found)
