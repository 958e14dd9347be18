"""Label maps drawn in colours: the class palettes, quantising pixels to classes, and the scores.

For photo->labels models (the paper's Table 6 and its FCN-score tables, scored here
without a pretrained segmentation network): the output and the target are both
quantised to the nearest class colour (squared RGB distance), and a confusion matrix
over the split gives per-pixel accuracy, per-class accuracy and class IoU.

``--palette`` takes ``facades``, ``cityscapes`` or a FILE: a text file with one class a
line, ``name r g b``, and an optional fifth word ``ignore`` for a class whose target
pixels are not scored (Cityscapes' void). Names have no spaces; ``#`` starts a comment;
blank lines are skipped. Example::

    # my palette
    sky      70 130 180
    road    128  64 128
    void      0   0   0 ignore
"""

import os
from dataclasses import dataclass

import numpy as np

from ..errors import UserError

IGNORE = "ignore"


@dataclass(frozen=True)
class Palette:
    """Classes, their RGB colours (uint8, K x 3) and the classes whose target pixels are
    not scored (``ignore``, indices)."""

    name: str
    classes: tuple
    colors: np.ndarray
    ignore: tuple = ()

    def __len__(self):
        return len(self.classes)

    @property
    def scored(self):
        """Indices of the classes that are scored."""
        return tuple(k for k in range(len(self)) if k not in self.ignore)

    def describe(self):
        """JSON-able: the palette as metrics.json records it."""
        return {"name": self.name,
                "classes": {c: [int(v) for v in rgb] for c, rgb in zip(self.classes, self.colors)},
                "ignored": [self.classes[k] for k in self.ignore]}


def _palette(name, entries, ignore=()):
    classes = tuple(n for n, _ in entries)
    return Palette(name, classes, np.array([rgb for _, rgb in entries], np.uint8),
                   tuple(classes.index(n) for n in ignore))


# The 12 colours of the facades label halves (the right half of each [photo | labels]
# JPEG), measured: the dominant colours of the 400 train label halves were found by
# nearest-colour clustering (seeded with the 12 peaks of a 16-level RGB histogram,
# refined by medians until stable), and each recorded value is its cluster's most frequent
# exact colour. JPEG's chroma blur leaves about a quarter of the pixels, those within two
# pixels of a class boundary, more than 20 from every colour; away from boundaries 97-99 %
# are within 20 (tests/test_metrics.py checks real files). The names follow the CMP facade
# labels (1 background ... 12 shop) in the order of the jet colour map the colours follow.
FACADES = _palette("facades", [
    ("background", (0, 0, 222)), ("facade", (0, 48, 255)), ("window", (0, 128, 255)),
    ("door", (1, 207, 255)), ("cornice", (32, 255, 224)), ("sill", (112, 254, 142)),
    ("balcony", (192, 255, 63)), ("blind", (255, 240, 1)), ("deco", (255, 159, 0)),
    ("molding", (255, 80, 0)), ("pillar", (254, 0, 0)), ("shop", (174, 0, 1)),
])

# Cityscapes: the colours of its 19 training classes, and void (black, not scored), as
# the dataset's own label definitions give them.
CITYSCAPES = _palette("cityscapes", [
    ("road", (128, 64, 128)), ("sidewalk", (244, 35, 232)), ("building", (70, 70, 70)),
    ("wall", (102, 102, 156)), ("fence", (190, 153, 153)), ("pole", (153, 153, 153)),
    ("traffic_light", (250, 170, 30)), ("traffic_sign", (220, 220, 0)),
    ("vegetation", (107, 142, 35)), ("terrain", (152, 251, 152)), ("sky", (70, 130, 180)),
    ("person", (220, 20, 60)), ("rider", (255, 0, 0)), ("car", (0, 0, 142)),
    ("truck", (0, 0, 70)), ("bus", (0, 60, 100)), ("train", (0, 80, 100)),
    ("motorcycle", (0, 0, 230)), ("bicycle", (119, 11, 32)), ("void", (0, 0, 0)),
], ignore=("void",))

BUILTIN = {"facades": FACADES, "cityscapes": CITYSCAPES}


def read_file(path):
    """A Palette from a text file of ``name r g b [ignore]`` lines (see the module's doc)."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise UserError(f"--palette {path}: cannot read it ({exc.strerror}); pass facades, "
                        "cityscapes or a palette file") from None
    except UnicodeDecodeError:
        raise UserError(f"--palette {path}: not a text file; write one 'name r g b' line a "
                        "class") from None
    entries, ignore = [], []
    for number, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        where = f"--palette {path}, line {number}"
        if len(words) not in (4, 5) or (len(words) == 5 and words[4] != IGNORE):
            raise UserError(f"{where}: {line.strip()!r} is not 'name r g b' (optionally "
                            f"followed by '{IGNORE}'); fix the line")
        try:
            rgb = tuple(int(v) for v in words[1:4])
            valid = all(0 <= v <= 255 for v in rgb)
        except ValueError:
            valid = False
        if not valid:
            raise UserError(f"{where}: r g b must be integers from 0 to 255, got "
                            f"{' '.join(words[1:4])}; fix the line")
        if words[0] in [n for n, _ in entries]:
            raise UserError(f"{where}: the class {words[0]!r} is named twice; keep one")
        if rgb in [c for _, c in entries]:
            raise UserError(f"{where}: the colour {' '.join(map(str, rgb))} is taken by "
                            f"{[n for n, c in entries if c == rgb][0]!r}; give each class "
                            "its own colour")
        entries.append((words[0], rgb))
        if len(words) == 5:
            ignore.append(words[0])
    if len(entries) - len(ignore) < 2:
        raise UserError(f"--palette {path}: needs at least two scored classes, found "
                        f"{len(entries) - len(ignore)}; one 'name r g b' line a class")
    return _palette(os.path.basename(path), entries, ignore)


def load(spec):
    """The palette ``--palette`` names: facades, cityscapes or a file."""
    if spec in BUILTIN:
        return BUILTIN[spec]
    if not os.path.isfile(spec):
        raise UserError(f"--palette {spec}: neither {' nor '.join(BUILTIN)} nor a file; pass "
                        "one of those or a file of 'name r g b' lines")
    return read_file(spec)


def quantise(image, palette):
    """uint8 H x W x 3 -> int H x W: the index of each pixel's nearest class colour."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise UserError(f"--palette needs RGB label maps, but the images have shape "
                        f"{image.shape}; use it with models whose output is RGB")
    diff = image[:, :, None, :].astype(np.int32) - palette.colors.astype(np.int32)
    return np.argmin(np.einsum("hwkc,hwkc->hwk", diff, diff), axis=-1)


def confusion(target, output, palette):
    """K x K pixel counts, rows the target's class, columns the output's, for one image
    (class index maps of one shape); target pixels of ignored classes are left out."""
    k = len(palette)
    keep = ~np.isin(target, palette.ignore)
    counts = np.bincount(target[keep].astype(np.int64) * k + output[keep], minlength=k * k)
    return counts.reshape(k, k)


def _ratio(num, den):
    """num / den where den > 0, else NaN (a class that does not occur)."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)


def pixel_accuracy(matrix):
    """The share of scored pixels whose output class is the target's (NaN for none)."""
    return float(_ratio(np.trace(matrix), matrix.sum()))


def scores(matrix, palette):
    """Accuracy and IoU from a confusion matrix (rows target, columns output).

    Per-class accuracy: TP / target pixels of the class. IoU: TP / (TP + FP + FN), with
    FP counting the output pixels of the class on scored target pixels. A class absent
    from both target and output has no IoU; the means are over the scored classes that
    have a value.
    """
    matrix = np.asarray(matrix, np.int64)
    tp = np.diag(matrix)
    in_target, in_output = matrix.sum(1), matrix.sum(0)
    accuracy = _ratio(tp, in_target)
    iou = _ratio(tp, in_target + in_output - tp)
    scored = list(palette.scored)

    def mean(values):
        kept = values[scored][~np.isnan(values[scored])]
        return float(kept.mean()) if kept.size else None

    def value(v):
        return None if np.isnan(v) else float(v)

    return {
        "pixel_accuracy": value(pixel_accuracy(matrix)),
        "mean_class_accuracy": mean(accuracy),
        "mean_iou": mean(iou),
        "classes": {palette.classes[k]: {"accuracy": value(accuracy[k]), "iou": value(iou[k]),
                                         "target_pixels": int(in_target[k])}
                    for k in scored},
    }
