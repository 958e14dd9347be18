"""Finding and checking an aligned dataset folder.

The layout is the PyTorch reference's "aligned" one: ``<root>/train/`` (and
optionally ``val/`` and ``test/``) holding JPEG or PNG images, each a pair
drawn side by side as ``[A | B]``, so every image is twice as wide as it is
high. Problems are reported as one-line UserErrors naming the file or flag.
"""

import os

from ..errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
BUILTIN_PREFIX = "builtin:"


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
    if not os.path.exists(path):
        raise UserError(f"--data {path}: folder not found; pass the folder that holds train/")
    if not os.path.isdir(path):
        raise UserError(f"--data {path}: not a folder; pass the folder that holds train/")
    return path


def list_images(root, split):
    """Sorted image paths in ``root/split`` ([] if the folder is absent)."""
    folder = os.path.join(root, split)
    if not os.path.isdir(folder):
        return []
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
    return [os.path.join(folder, n) for n in names]


def train_images(root, data_flag):
    paths = list_images(root, "train")
    if not paths:
        where = os.path.join(root, "train")
        if not os.path.isdir(where):
            raise UserError(f"--data {data_flag}: no train/ folder in it; put the training pairs "
                            f"in {where}/ as [A | B] .jpg or .png images")
        raise UserError(f"--data {data_flag}: no .jpg or .png images in {where}/; put the "
                        "training pairs there as [A | B] side-by-side images")
    return paths


def find_pairs(data_flag, num_shown):
    """(training images, images shown in the grid) for ``--data``.

    The grid shows the first fixed val/ pairs, or training pairs if there is no val/.
    """
    root = resolve_root(data_flag)
    train = train_images(root, data_flag)
    return train, (list_images(root, "val") or train)[:num_shown]


def check_images(paths):
    """Decode every image once; raise UserError naming the first bad file.

    Each file must decode as an image and be exactly twice as wide as high.
    """
    import tensorflow as tf

    def probe(index, path):
        image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
        return index, tf.shape(image)

    ds = tf.data.Dataset.from_tensor_slices((tf.range(len(paths)), paths))
    ds = ds.map(probe, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.ignore_errors()
    seen = {}
    for index, shape in ds.as_numpy_iterator():
        seen[int(index)] = shape
    for i, path in enumerate(paths):
        if i not in seen:
            raise UserError(f"{path}: not a readable JPEG or PNG image; replace or remove it")
        height, width, channels = (int(v) for v in seen[i])
        if width != 2 * height:
            raise UserError(f"{path}: image is {width}x{height}, but an aligned pair [A | B] must "
                            "be twice as wide as high; fix or remove this file")
        if channels not in (1, 3, 4):
            raise UserError(f"{path}: has {channels} channels; use grayscale, RGB or RGBA images")
