"""The pairs of one split, decoded as training decodes them, at the protocol's size.

A split is found in the run's dataset layout (``data.folder``): ``DIR/<split>/`` of
[A | B] files, ``DIR/A/<split>/`` and ``DIR/B/<split>/`` of partners, or a split of a
to-tfrecord folder. Pairs are read in order, a few at a time, by ``data.pipeline
.eval_pairs`` (the pipeline's decoding: INTEGER_ACCURATE JPEGs, the run's channels and
bit depth), split in the model's direction.

Sizes (``Sizes``): by default each half is resized to the model's crop size, square, as
the training's evaluation view of ``--preprocess resize_and_crop`` does (bicubic with
antialiasing, rounded to the stored bit depth), whatever the run's ``--preprocess``;
``--full-size`` keeps each file's own size.
"""

import os
from dataclasses import dataclass

from ..data import folder, fs, listing, pipeline, tfrecord
from ..data.layouts import TWO_FOLDERS
from ..data.source import Pairs
from ..errors import UserError

CHUNK = 8  # pairs decoded at a time


@dataclass(frozen=True)
class Sizes:
    """The size rule: ``crop_size`` N (each half resized to N x N) or None (full size)."""

    crop_size: int = None

    def describe(self):
        """JSON-able, for metrics.json's protocol."""
        if self.crop_size is None:
            return {"size": "full", "resize": "none: each image at its file's own size"}
        n = self.crop_size
        return {"size": "crop", "crop_size": n,
                "resize": f"each half resized to {n}x{n} by tf.image.resize(method='bicubic', "
                          "antialias=True) and rounded to the stored bit depth (training's "
                          "evaluation view of --preprocess resize_and_crop)"}

    def read_options(self):
        """``eval_pairs`` keywords for this rule."""
        if self.crop_size is None:
            return {"crop_size": 1, "preprocess": "none", "load_size": 1}
        return {"crop_size": self.crop_size, "preprocess": "resize_and_crop",
                "load_size": self.crop_size}


def _missing(data_flag, split, where, held):
    found = ", ".join(held) if held else "none"
    return UserError(f"--data {data_flag}: no {split} split ({where} not found; splits found: "
                     f"{found}); pass --split with one of them")


def _held(names):
    return [s for s in ("train", "val", "test") if s in names]


def find_split(data_flag, split, dataset_mode="auto"):
    """The ``Pairs`` of ``split`` in ``--data``; a UserError if it is missing or empty."""
    root = folder.resolve_root(data_flag)
    layout = folder.resolve_layout(root, dataset_mode, data_flag)
    if layout == folder.TFRECORDS:
        index = tfrecord.read_index(root)
        pairs = tfrecord.open_split(root, split, index)
        if pairs is None:
            where = fs.join(root, tfrecord.INDEX)
            if split in index["splits"]:
                raise UserError(f"--data {data_flag}: the {split} split of {where} is empty; "
                                "pass another --split")
            raise _missing(data_flag, split, f"in {where}", _held(index["splits"]))
        return pairs
    if layout == TWO_FOLDERS:
        sides = [fs.join(root, side, split) for side in ("A", "B")]
        if not all(fs.isdir(side) for side in sides):
            held = _held(set(fs.listdir(fs.join(root, "A"))) & set(fs.listdir(fs.join(root, "B"))))
            raise _missing(data_flag, split, " and ".join(f"{s}/" for s in sides), held)
        pairs = listing.file_pairs(root, split, data_flag)
        if not pairs:
            raise UserError(f"--data {data_flag}: {sides[0]}/ and {sides[1]}/ hold no .jpg or "
                            f".png images; put the {split} pairs there or pass another --split")
        return Pairs.of_file_pairs(pairs)
    where = fs.join(root, split)
    if not fs.isdir(where):
        raise _missing(data_flag, split, f"{where}/", _held(fs.listdir(root)))
    paths = listing.list_images(root, split)
    if not paths:
        raise UserError(f"--data {data_flag}: {where}/ holds no .jpg or .png images; put the "
                        f"{split} pairs there as [A | B] images or pass another --split")
    return Pairs.of_files(paths)


def pair_name(pairs, k):
    """A pair's name in reports: its file's name (the A file's for two-folder pairs)."""
    name = pairs[k]
    return os.path.basename(name if isinstance(name, str) else name[0])


def read(pairs, sizes, direction, input_nc=3, output_nc=3):
    """Yield (name, A, B) for every pair in order: float32 [1, H, W, C] in [-1, 1].

    An unreadable file is a UserError naming it (``eval_pairs``).
    """
    for start in range(0, len(pairs), CHUNK):
        chunk = pairs[start:start + CHUNK]
        views = pipeline.eval_pairs(chunk, direction=direction, input_nc=input_nc,
                                    output_nc=output_nc, as_list=True, **sizes.read_options())
        for k, (a, b) in enumerate(views):
            yield pair_name(chunk, k), a, b
