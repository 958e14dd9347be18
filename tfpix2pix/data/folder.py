"""Finding a dataset: a folder of aligned images, two folders of A and B images, or TFRecords.

Two layouts, both the PyTorch reference's (``--dataset-mode``):

* aligned: ``<root>/train/`` (and optionally ``val/`` and ``test/``) holding JPEG
  or PNG images, each a pair drawn side by side as ``[A | B]``;
* unaligned_pairs (two folders, what the reference's ``combine_A_and_B.py``
  reads): ``<root>/A/<split>/`` and ``<root>/B/<split>/``, a pair being the two
  files with the same name. Only the stem has to match: ``A/train/0001.png``
  pairs with ``B/train/0001.jpg`` (label maps are often PNG, photos JPEG). Pairs
  are in the order of their sorted names.

``auto`` (the default) tells them apart: ``train/`` means aligned, ``A/`` and
``B/`` two folders. A folder written by ``python -m tfpix2pix.data to-tfrecord``
(it holds ``index.json``) is read as the same aligned pairs, in the same order.
Paths may be URLs (``gs://...``): they are read through tf.io.gfile. Problems
are reported as one-line UserErrors naming the file or flag. This module does
not import TensorFlow (``check_images`` does, when it is called).
"""

import os

from ..errors import UserError
from . import fs
from .check import check_images  # noqa: F401  (folder.check_images is the public name)
from .layouts import ALIGNED, DATASET_MODES, TWO_FOLDERS
from .source import Pairs

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
BUILTIN_PREFIX = "builtin:"
SHOWN_NAMES = 5  # names listed in a "no partner" error


def resolve_root(path):
    """Return the dataset folder for ``--data``, generating a built-in set if asked."""
    if not path:
        raise UserError("--data is empty; pass a dataset folder (with train/ inside) or "
                        "builtin:shapes")
    if path.startswith(BUILTIN_PREFIX):
        from . import synthetic
        name = path[len(BUILTIN_PREFIX):]
        if name != synthetic.BUILTIN_NAME:
            raise UserError(f"--data {path}: unknown built-in dataset; the built-in one is "
                            f"{BUILTIN_PREFIX}{synthetic.BUILTIN_NAME}")
        return synthetic.ensure_builtin_dataset()
    if not fs.exists(path):
        raise UserError(f"--data {path}: folder not found; pass the folder that holds train/")
    if not fs.isdir(path):
        raise UserError(f"--data {path}: not a folder; pass the folder that holds train/")
    return path


def list_images(root, split):
    """Sorted image paths in ``root/split`` ([] if the folder is absent)."""
    folder = fs.join(root, split)
    if not fs.isdir(folder):
        return []
    names = sorted(n for n in fs.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
    return [fs.join(folder, n) for n in names]


def train_images(root, data_flag):
    paths = list_images(root, "train")
    if not paths:
        where = fs.join(root, "train")
        if not fs.isdir(where):
            hint = ""
            if layout_of(root) == TWO_FOLDERS:
                hint = " (it holds A/ and B/: use --dataset-mode auto or unaligned_pairs)"
            raise UserError(f"--data {data_flag}: no train/ folder in it{hint}; put the training "
                            f"pairs in {where}/ as [A | B] .jpg or .png images")
        raise UserError(f"--data {data_flag}: no .jpg or .png images in {where}/; put the "
                        "training pairs there as [A | B] side-by-side images")
    return paths


def layout_of(root):
    """ALIGNED if ``root/train`` exists, else TWO_FOLDERS if ``root/A`` and ``root/B`` do."""
    if fs.isdir(fs.join(root, "train")):
        return ALIGNED
    if fs.isdir(fs.join(root, "A")) and fs.isdir(fs.join(root, "B")):
        return TWO_FOLDERS
    return ALIGNED


def resolve_layout(root, dataset_mode, data_flag):
    """The layout ``--dataset-mode`` means for ``root``: ALIGNED or TWO_FOLDERS."""
    if dataset_mode not in DATASET_MODES:
        raise UserError(f"--dataset-mode {dataset_mode}: unknown; choose one of "
                        f"{', '.join(DATASET_MODES)}")
    two = fs.isdir(fs.join(root, "A")) and fs.isdir(fs.join(root, "B"))
    if dataset_mode == "auto":
        if two and fs.isdir(fs.join(root, "train")):
            raise UserError(f"--data {data_flag}: holds both train/ and A/, B/; pass "
                            "--dataset-mode aligned (train/) or unaligned_pairs (A/, B/)")
        return TWO_FOLDERS if two else ALIGNED
    if dataset_mode == TWO_FOLDERS and not two:
        raise UserError(f"--data {data_flag}: --dataset-mode unaligned_pairs needs A/ and B/ "
                        f"folders in it (A/train/ and B/train/, files paired by name); put "
                        "them there or use --dataset-mode aligned")
    return dataset_mode


def _by_stem(root, side, split):
    """{stem: path} of the images in ``root/side/split``; UserError if a stem is taken twice."""
    found = {}
    for path in list_images(fs.join(root, side), split):
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in found:
            raise UserError(f"{path}: {os.path.basename(found[stem])} has the same name in "
                            f"{fs.join(root, side, split)}/, so the pair {stem!r} is ambiguous; "
                            "keep one of them")
        found[stem] = path
    return found


def _names(stems, paths):
    shown = ", ".join(os.path.basename(paths[s]) for s in stems[:SHOWN_NAMES])
    return shown + (", ..." if len(stems) > SHOWN_NAMES else "")


def file_pairs(root, split, data_flag):
    """Sorted (A path, B path) pairs of ``split`` of a two-folder dataset ([] if none).

    Files are paired by name without extension; a file without a partner is an error
    that lists the first few such names and how many there are.
    """
    a, b = _by_stem(root, "A", split), _by_stem(root, "B", split)
    if not a and not b:
        return []
    only = [(side, other, sorted(set(mine) - set(theirs)), mine)
            for side, other, mine, theirs in (("A", "B", a, b), ("B", "A", b, a))]
    problems = [f"{len(lonely)} in {fs.join(root, side, split)}/ "
                f"{'has' if len(lonely) == 1 else 'have'} none in "
                f"{fs.join(root, other, split)}/ ({_names(lonely, mine)})"
                for side, other, lonely, mine in only if lonely]
    if problems:
        raise UserError(f"--data {data_flag}: files without a partner of the same name: "
                        f"{'; '.join(problems)}; give each a partner (the extension may "
                        "differ) or remove it")
    return [(a[s], b[s]) for s in sorted(a)]


def find_pairs(data_flag, num_shown, *, dataset_mode="auto"):
    """(training pairs, pairs shown in the grid) for ``--data``, as ``Pairs``.

    The grid shows the first fixed val/ pairs, or training pairs if there is no val/.
    Works on a folder of [A | B] images, on a two-folder dataset (``dataset_mode``
    "unaligned_pairs", or "auto" finding A/ and B/) and on a to-tfrecord folder alike.
    """
    train, val = find_splits(data_flag, dataset_mode=dataset_mode)
    return train, (val or train)[:num_shown]


def find_splits(data_flag, *, dataset_mode="auto"):
    """(training pairs, val pairs or None) for ``--data``, as ``Pairs`` (see ``find_pairs``)."""
    from . import tfrecord
    root = resolve_root(data_flag)
    if tfrecord.is_tfrecord_root(root):
        if dataset_mode == TWO_FOLDERS:
            raise UserError(f"--data {data_flag}: is a to-tfrecord folder of aligned [A | B] "
                            "pairs; use --dataset-mode auto or aligned with it")
        index = tfrecord.read_index(root)
        train = tfrecord.open_split(root, "train", index)
        if train is None:
            raise UserError(f"--data {data_flag}: its {tfrecord.INDEX} has no train split; "
                            "convert a folder that holds train/ with python -m tfpix2pix.data "
                            "to-tfrecord")
        return train, tfrecord.open_split(root, "val", index)
    if resolve_layout(root, dataset_mode, data_flag) == TWO_FOLDERS:
        train = file_pairs(root, "train", data_flag)
        if not train:
            raise UserError(f"--data {data_flag}: no .jpg or .png images in "
                            f"{fs.join(root, 'A', 'train')}/ and {fs.join(root, 'B', 'train')}/; "
                            "put the training pairs there, A and B files with the same names")
        val = file_pairs(root, "val", data_flag)
        return Pairs.of_file_pairs(train), Pairs.of_file_pairs(val) if val else None
    val = list_images(root, "val")
    return Pairs.of_files(train_images(root, data_flag)), Pairs.of_files(val) if val else None
