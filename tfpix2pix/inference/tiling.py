"""Running a translate function on images of any size: padding to the stride, or tiles.

A translate function ``fn(batch)`` takes float32 NHWC in [-1, 1] whose H and W
are multiples of ``stride`` and returns float32 NHWC of the same N, H and W
(the channel count may differ).

Padding adds rows at the bottom and columns at the right, mirrored about the
last row/column ("reflect", which does not repeat the edge pixel). A pad longer
than the side reflects back and forth (a 1-pixel side repeats its pixel), exactly
as ``numpy.pad(mode="reflect")`` and the exported models' in-graph padding
(``serving.pad_to_multiple``) do, so every path pads an image the same way.
"""

import numpy as np

from ..errors import UserError

__all__ = ["pad_to_multiple", "crop_back", "translate_padded", "tile_offsets",
           "blend_window", "default_overlap", "translate_tiled"]


def _pad_axis(x, axis, pad):
    if pad == 0:
        return x
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, pad)
    return np.pad(x, widths, mode="reflect")


def pad_to_multiple(x, stride):
    """HWC or NHWC array -> (padded, (h, w)) with H and W padded up to multiples of ``stride``."""
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"expected an HWC or NHWC array, got shape {x.shape}")
    if int(stride) < 1:
        raise ValueError(f"stride must be a positive integer, not {stride!r}")
    h, w = x.shape[-3], x.shape[-2]
    if h == 0 or w == 0:
        raise UserError(f"image of size {w}x{h} is empty; pass an image with pixels")
    x = _pad_axis(x, x.ndim - 3, -h % stride)
    x = _pad_axis(x, x.ndim - 2, -w % stride)
    return x, (h, w)


def crop_back(y, hw):
    """Undo ``pad_to_multiple``: keep the first h rows and w columns of HWC or NHWC ``y``."""
    h, w = hw
    return y[..., :h, :w, :]


def _call(fn, batch):
    out = np.asarray(fn(batch), dtype=np.float32)
    if out.ndim != 4 or out.shape[:3] != batch.shape[:3]:
        raise ValueError(f"the translate function returned shape {out.shape} for an input of "
                         f"shape {batch.shape}; it must keep N, H and W")
    return out


def translate_padded(fn, x, stride):
    """Pad HWC or NHWC ``x`` to multiples of ``stride``, apply ``fn``, crop back."""
    x = np.asarray(x, dtype=np.float32)
    single = x.ndim == 3
    padded, hw = pad_to_multiple(x[None] if single else x, stride)
    y = crop_back(_call(fn, padded), hw)
    return y[0] if single else y


def tile_offsets(size, tile, overlap):
    """Start offsets of tiles of side ``tile`` covering ``size`` pixels.

    Consecutive tiles share ``overlap`` pixels and the last one ends at ``size``
    (so it may share more); a side no longer than a tile is one tile at 0.
    """
    if size <= tile:
        return [0]
    step = tile - overlap
    count = -(-(size - tile) // step) + 1
    return [min(i * step, size - tile) for i in range(count)]


def blend_window(length, overlap):
    """1D tile weights: a raised-cosine rise over ``overlap`` pixels at each end, 1 between.

    Every weight is > 0 (the pixel centres sit half a pixel inside the ramp), so
    a pixel covered by a single tile, as at the image borders, keeps its value
    after normalising by the summed weights. Where two tiles overlap by exactly
    ``overlap`` pixels their weights sum to 1 (sin^2 + cos^2).
    """
    if overlap == 0:
        return np.ones(length)
    i = np.arange(length)
    distance = np.minimum(i, length - 1 - i) + 0.5
    return np.sin(np.pi / 2 * np.minimum(distance / overlap, 1.0)) ** 2


def default_overlap(tile, stride):
    """tile // 4 rounded to the nearest multiple of ``stride`` (halves up), kept below ``tile``."""
    overlap = (tile // 4 + stride // 2) // stride * stride
    return overlap - stride if overlap >= tile else overlap


def _check_tiling(tile, stride, overlap, batch):
    if not isinstance(tile, (int, np.integer)) or tile < 1 or tile % stride:
        raise UserError(f"tile size {tile!r} must be a positive multiple of the generator's "
                        f"stride {stride}, e.g. {2 * stride}")
    if overlap is None:
        overlap = default_overlap(tile, stride)
    if not isinstance(overlap, (int, np.integer)) or not 0 <= overlap < tile:
        raise UserError(f"tile overlap {overlap!r} must be an integer from 0 to tile - 1 "
                        f"({tile - 1})")
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        raise UserError(f"tile batch {batch!r} must be a positive integer")
    return int(overlap)


def translate_tiled(fn, x, tile, stride, overlap=None, batch=4):
    """Translate one HWC image in overlapping tiles of side ``tile``, blended smoothly.

    ``x`` is padded to multiples of ``stride`` first (and the result cropped
    back). A side shorter than ``tile`` is one tile as long as that padded side.
    Tiles go to ``fn`` at most ``batch`` at a time, and the outputs are averaged
    with the separable ``blend_window`` weights, normalised by their sum at each
    pixel. ``overlap`` defaults to ``default_overlap(tile, stride)``; multiples
    of ``stride`` keep every tile on the stride grid.
    """
    overlap = _check_tiling(tile, stride, overlap, batch)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"translate_tiled takes one HWC image, got shape {x.shape}")
    padded, hw = pad_to_multiple(x, stride)
    height, width = padded.shape[:2]
    th, tw = min(tile, height), min(tile, width)
    wy = blend_window(th, overlap if height > tile else 0)
    wx = blend_window(tw, overlap if width > tile else 0)
    weight = np.outer(wy, wx).astype(np.float32)[..., None]
    positions = [(y, x) for y in tile_offsets(height, tile, overlap)
                 for x in tile_offsets(width, tile, overlap)]
    out, total = None, np.zeros((height, width, 1), np.float32)
    for start in range(0, len(positions), batch):
        chunk = positions[start:start + batch]
        result = _call(fn, np.stack([padded[y:y + th, x:x + tw] for y, x in chunk]))
        if out is None:
            out = np.zeros((height, width, result.shape[-1]), np.float32)
        for (y, x), r in zip(chunk, result):
            out[y:y + th, x:x + tw] += weight * r
            total[y:y + th, x:x + tw] += weight
    return crop_back(out / total, hw)
