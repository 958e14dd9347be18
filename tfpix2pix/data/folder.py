"""Finding a dataset: which layout ``--data`` is, and its splits as ``Pairs``.

Three layouts, each read by its own module, which knows nothing of the others:

* aligned: ``<root>/train/`` (and optionally ``val/`` and ``test/``) holding JPEG
  or PNG images, each a pair drawn side by side as ``[A | B]`` (``listing``);
* unaligned_pairs: ``<root>/A/<split>/`` and ``<root>/B/<split>/``, a pair being
  the two files with the same stem (``listing``); these two are the PyTorch
  reference's ``--dataset-mode`` values;
* TFRecords: a folder written by ``python -m tfpix2pix.data to-tfrecord`` (it
  holds ``index.json``), read as the same aligned pairs, in the same order
  (``tfrecord``).

The choice is made here only (``resolve_layout``). ``auto`` (the default) tells
them apart: ``index.json`` means TFRecords, ``train/`` aligned, ``A/`` and ``B/``
two folders. Paths may be URLs (``gs://...``): they are read through tf.io.gfile.
Problems are reported as one-line UserErrors naming the file or flag. This
module does not import TensorFlow (``check_images`` does, when it is called).
"""

from ..errors import UserError
from . import fs, tfrecord
from .check import check_images  # noqa: F401  (folder.check_images is the public name)
from .layouts import ALIGNED, DATASET_MODES, TWO_FOLDERS
from .listing import file_pairs, list_images  # noqa: F401  (folder.list_images is public)
from .source import Pairs

BUILTIN_PREFIX = "builtin:"
TFRECORDS = "tfrecord"  # the layout of a to-tfrecord folder


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


def train_images(root, data_flag):
    paths = list_images(root, "train")
    if not paths:
        where = fs.join(root, "train")
        if not fs.isdir(where):
            hint = ""
            if TWO_FOLDERS in layouts_in(root):
                hint = " (it holds A/ and B/: use --dataset-mode auto or unaligned_pairs)"
            raise UserError(f"--data {data_flag}: no train/ folder in it{hint}; put the training "
                            f"pairs in {where}/ as [A | B] .jpg or .png images")
        raise UserError(f"--data {data_flag}: no .jpg or .png images in {where}/; put the "
                        "training pairs there as [A | B] side-by-side images")
    return paths


def layouts_in(root):
    """The layouts ``root`` has the folders of, as a set: TFRECORDS (it holds index.json),
    ALIGNED (train/), TWO_FOLDERS (A/ and B/)."""
    held = set()
    if tfrecord.is_tfrecord_root(root):
        held.add(TFRECORDS)
    if fs.isdir(fs.join(root, "train")):
        held.add(ALIGNED)
    if fs.isdir(fs.join(root, "A")) and fs.isdir(fs.join(root, "B")):
        held.add(TWO_FOLDERS)
    return held


def resolve_layout(root, dataset_mode, data_flag):
    """The layout ``--data`` and ``--dataset-mode`` mean for ``root``: TFRECORDS, ALIGNED or
    TWO_FOLDERS."""
    if dataset_mode not in DATASET_MODES:
        raise UserError(f"--dataset-mode {dataset_mode}: unknown; choose one of "
                        f"{', '.join(DATASET_MODES)}")
    held = layouts_in(root)
    if TFRECORDS in held:
        if dataset_mode == TWO_FOLDERS:
            raise UserError(f"--data {data_flag}: is a to-tfrecord folder of aligned [A | B] "
                            "pairs; use --dataset-mode auto or aligned with it")
        return TFRECORDS
    two = TWO_FOLDERS in held
    if dataset_mode == "auto":
        if two and ALIGNED in held:
            raise UserError(f"--data {data_flag}: holds both train/ and A/, B/; pass "
                            "--dataset-mode aligned (train/) or unaligned_pairs (A/, B/)")
        return TWO_FOLDERS if two else ALIGNED
    if dataset_mode == TWO_FOLDERS and not two:
        raise UserError(f"--data {data_flag}: --dataset-mode unaligned_pairs needs A/ and B/ "
                        f"folders in it (A/train/ and B/train/, files paired by name); put "
                        "them there or use --dataset-mode aligned")
    return dataset_mode


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
    root = resolve_root(data_flag)
    layout = resolve_layout(root, dataset_mode, data_flag)
    if layout == TFRECORDS:
        index = tfrecord.read_index(root)
        train = tfrecord.open_split(root, "train", index)
        if train is None:
            raise UserError(f"--data {data_flag}: its {tfrecord.INDEX} has no train split; "
                            "convert a folder that holds train/ with python -m tfpix2pix.data "
                            "to-tfrecord")
        return train, tfrecord.open_split(root, "val", index)
    if layout == TWO_FOLDERS:
        train = file_pairs(root, "train", data_flag)
        if not train:
            raise UserError(f"--data {data_flag}: no .jpg or .png images in "
                            f"{fs.join(root, 'A', 'train')}/ and {fs.join(root, 'B', 'train')}/; "
                            "put the training pairs there, A and B files with the same names")
        val = file_pairs(root, "val", data_flag)
        return Pairs.of_file_pairs(train), Pairs.of_file_pairs(val) if val else None
    val = list_images(root, "val")
    return Pairs.of_files(train_images(root, data_flag)), Pairs.of_files(val) if val else None
