"""The colours a user draws with: derived from a run's training inputs, or read from a file.

A drawing palette is JSON-able data, stored in the ``tfpix2pix.json`` of an export made
with ``--web`` under ``"palette"`` and sent to the demo page::

    {"kind": "labels", "colors": [[r, g, b], ...], "names": [...], "background": [r, g, b],
     "source": "training inputs"}

``kind`` is "labels" (a label map: flat class colours, drawn without anti-aliasing),
"edges" (black-on-white line drawings, as edges2shoes: a black pen on white) or "free"
(an input domain without a few dominant colours, such as photos: no palette, the page
offers free colour only).

Derivation counts the exact colours of the input side of up to ``SAMPLE_IMAGES``
training pairs (in the run's direction, at the files' own size) and takes them greedily,
most frequent first, skipping any within ``MERGE_DISTANCE`` of one already taken (JPEG
noise around a class colour) and any with under ``MIN_SHARE`` of the pixels within
``NEAR`` of it or that is not a peak (under ``MIN_PEAK`` of those pixels have it
exactly). When the colours taken leave more than 1 - ``MIN_COVERAGE`` of the pixels
farther than ``NEAR`` from all of them, the domain has no palette ("free").
"""

import numpy as np

from ..errors import UserError
from ..evaluation import palettes

SAMPLE_IMAGES = 48
MERGE_DISTANCE = 40.0  # RGB Euclidean: facades' closest two classes are 58 apart
MIN_SHARE = 0.002  # of the pixels within NEAR of a colour
NEAR = 20.0
MIN_PEAK = 0.08  # of those pixels that have the colour exactly: a flat class colour
CANDIDATES = 500  # the most frequent exact colours tried
MAX_COLOURS = 32
MIN_COVERAGE = 0.6
WHITE, BLACK = [255, 255, 255], [0, 0, 0]
KINDS = ("labels", "edges", "free")


def _distances(rgb, colours):
    diff = rgb[:, None, :].astype(np.float32) - np.asarray(colours, np.float32)[None]
    return np.sqrt((diff * diff).sum(-1))


def derive(images, source="training inputs"):
    """A palette from uint8 images (N x H x W x 3, or a list of H x W x 3)."""
    rgb = np.concatenate([np.asarray(im, np.uint8).reshape(-1, 3) for im in images])
    if not len(rgb):
        raise ValueError("derive needs at least one pixel")
    codes = (rgb[:, 0].astype(np.int64) << 16) | (rgb[:, 1].astype(np.int64) << 8) | rgb[:, 2]
    values, counts = np.unique(codes, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:CANDIDATES]
    common = counts > 1  # colours seen once barely move a share, and are most of the list
    values_c, counts_c = values[common], counts[common]
    uniques = np.stack([(values_c >> 16) & 255, (values_c >> 8) & 255, values_c & 255], -1)
    total = len(rgb)
    taken = []
    for code, count in zip(values[order], counts[order]):
        if len(taken) == MAX_COLOURS:
            break
        colour = [int(code >> 16) & 255, int(code >> 8) & 255, int(code) & 255]
        if taken and _distances(np.array([colour]), taken).min() <= MERGE_DISTANCE:
            continue
        near = counts_c[_distances(uniques, [colour])[:, 0] <= NEAR].sum()
        if near >= MIN_SHARE * total and count >= MIN_PEAK * near:
            taken.append(colour)
    near = _distances(rgb[:: max(1, total // 200_000)], taken).min(1) if taken else np.array([])
    coverage = float((near <= NEAR).mean()) if near.size else 0.0
    gray = taken and all(max(c) - min(c) <= 24 for c in taken)
    light = taken and min(taken[0]) >= 200
    if gray and light:  # mostly white with a few grays: a line drawing
        return {"kind": "edges", "colors": [BLACK], "names": ["pen"], "background": WHITE,
                "source": source}
    if coverage < MIN_COVERAGE or len(taken) < 2:
        return {**free(), "source": source}
    return {"kind": "labels", "colors": taken, "names": _names(taken), "background": taken[0],
            "source": source}


def _names(colours):
    """Class names from the built-in palette that matches most colours (within
    ``MERGE_DISTANCE``), and "colour N" for the rest, or for all when none matches most."""
    names = [f"colour {k + 1}" for k in range(len(colours))]
    for palette in palettes.BUILTIN.values():
        d = _distances(np.array(colours), palette.colors)
        matched = d.min(1) <= MERGE_DISTANCE
        if matched.mean() >= 0.75:
            return [palette.classes[k] if ok else name
                    for k, ok, name in zip(d.argmin(1), matched, names)]
    return names


def from_spec(spec):
    """``--palette``: facades, cityscapes or a file of ``name r g b`` lines
    (``evaluation.palettes``), as a drawing palette; the first class is the background."""
    palette = palettes.load(spec)
    colours = [[int(v) for v in c] for c in palette.colors]
    return {"kind": "labels", "colors": colours, "names": list(palette.classes),
            "background": colours[0], "source": f"--palette {spec}"}


def from_run_data(cfg):
    """The palette of a run's training inputs, or None when its data is not there."""
    return from_data(cfg.data)


def from_data(d):
    """The palette of the training inputs ``d`` (a ``config.DataConfig``) names, or None
    when they are not there."""
    from ..data import folder, pipeline

    try:
        train, _shown = folder.find_pairs(d.path, 0, dataset_mode=d.dataset_mode)
    except UserError:
        return None
    # At the files' own size: resizing to the crop size would blend neighbouring classes.
    views = pipeline.eval_pairs(train[:SAMPLE_IMAGES], d.crop_size, d.direction,
                                preprocess="none", input_nc=d.input_nc, output_nc=d.output_nc,
                                as_list=True)
    return derive([shown_rgb(a[0]) for a, _b in views])


def shown_rgb(x):
    """A float [-1, 1] image (H x W x C) as the page shows it: uint8 RGB (gray repeated)."""
    from ..inference.images import to_uint8

    image = to_uint8(np.asarray(x))
    return np.repeat(image[..., :1], 3, -1) if image.shape[-1] != 3 else image


def check(palette):
    """``palette`` if it is a well-formed drawing palette, else a UserError naming the fault."""
    ok = (isinstance(palette, dict) and palette.get("kind") in KINDS
          and isinstance(palette.get("colors"), list)
          and all(isinstance(c, list) and len(c) == 3 and all(
              isinstance(v, int) and 0 <= v <= 255 for v in c) for c in palette["colors"]))
    if not ok:
        raise UserError(f"palette {str(palette)[:80]}: not a drawing palette (kind "
                        f"{'/'.join(KINDS)} and a list of [r, g, b] colours)")
    return palette


def free():
    """No palette: the page offers free colour on white."""
    return {"kind": "free", "colors": [], "names": [], "background": WHITE, "source": "none"}
