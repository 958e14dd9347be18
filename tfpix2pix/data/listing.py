"""The image files of a dataset folder: each split's [A | B] files, or its A and B files by name.

* aligned: ``<root>/<split>/`` holds JPEG or PNG images, each a pair drawn side
  by side as ``[A | B]``; ``list_images`` lists them.
* unaligned_pairs (two folders, what the reference's ``combine_A_and_B.py``
  reads): ``<root>/A/<split>/`` and ``<root>/B/<split>/``, a pair being the two
  files with the same name. Only the stem has to match: ``A/train/0001.png``
  pairs with ``B/train/0001.jpg`` (label maps are often PNG, photos JPEG);
  ``file_pairs`` pairs them.

Pairs are in the order of their sorted names. Paths may be URLs (``gs://...``),
read through tf.io.gfile. Which layout a folder is, is decided in ``folder``.
"""

import os

from ..errors import UserError
from . import fs

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
SHOWN_NAMES = 5  # names listed in a "no partner" error


def images_in(folder):
    """Sorted image paths in ``folder`` ([] if the folder is absent)."""
    if not fs.isdir(folder):
        return []
    names = sorted(n for n in fs.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
    return [fs.join(folder, n) for n in names]


def list_images(root, split):
    """Sorted image paths in ``root/split`` ([] if the folder is absent)."""
    return images_in(fs.join(root, split))


def _by_stem(folder):
    """{stem: path} of the images in ``folder``; UserError if a stem is taken twice."""
    found = {}
    for path in images_in(folder):
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in found:
            raise UserError(f"{path}: {os.path.basename(found[stem])} has the same name in "
                            f"{folder}/, so the pair {stem!r} is ambiguous; keep one of them")
        found[stem] = path
    return found


def match_by_stem(a_folder, b_folder):
    """(sorted (A path, B path) pairs, A paths without a partner, B paths without one).

    The images of two folders are paired by name without extension.
    """
    a, b = _by_stem(a_folder), _by_stem(b_folder)
    return ([(a[s], b[s]) for s in sorted(set(a) & set(b))],
            [a[s] for s in sorted(set(a) - set(b))], [b[s] for s in sorted(set(b) - set(a))])


def lonely_names(paths):
    """The first few file names of ``paths``, for a message ("a.png, b.png, ...")."""
    shown = ", ".join(os.path.basename(p) for p in paths[:SHOWN_NAMES])
    return shown + (", ..." if len(paths) > SHOWN_NAMES else "")


def file_pairs(root, split, data_flag):
    """Sorted (A path, B path) pairs of ``split`` of a two-folder dataset ([] if none).

    Files are paired by name without extension; a file without a partner is an error
    that lists the first few such names and how many there are.
    """
    a_folder, b_folder = fs.join(root, "A", split), fs.join(root, "B", split)
    pairs, only_a, only_b = match_by_stem(a_folder, b_folder)
    problems = [f"{len(lonely)} in {mine}/ {'has' if len(lonely) == 1 else 'have'} none in "
                f"{theirs}/ ({lonely_names(lonely)})"
                for lonely, mine, theirs in ((only_a, a_folder, b_folder),
                                             (only_b, b_folder, a_folder)) if lonely]
    if problems:
        raise UserError(f"--data {data_flag}: files without a partner of the same name: "
                        f"{'; '.join(problems)}; give each a partner (the extension may "
                        "differ) or remove it")
    return pairs
