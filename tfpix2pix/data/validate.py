"""``python -m tfpix2pix.data validate DIR``: every problem of a dataset folder, in one pass.

It reads a dataset the way ``--data DIR`` would (an aligned folder, A/ and B/
folders, or a to-tfrecord folder; ``--dataset-mode`` as in training) and makes
training's start-up checks (``check.find_problems``, the same per-file rules as
``check_images``) on every split, but lists every problem instead of stopping at
the first. It also lists what training would refuse before those checks: files
without a partner in A/ and B/. Per split it prints the pairs, their sizes,
channels, bit depth and formats. Exit status: 0 when no problem was found, 1
when some were, 2 for a user error (DIR not found, no images).
"""

from collections import Counter
from dataclasses import dataclass, field

from ..errors import UserError, quiet_tensorflow_import
from . import folder, fs, tfrecord
from .check import find_problems
from .layouts import TWO_FOLDERS
from .listing import list_images, lonely_names, match_by_stem
from .source import Pairs
from .tfrecord import SPLITS

CHANNEL_NAMES = {1: "gray", 2: "gray+alpha", 3: "RGB", 4: "RGBA"}
PROGRESS_FROM = 500  # files in a split from which a progress line is shown
SHOWN_SIZES = 3


@dataclass
class SplitReport:
    """One split: how many pairs, what its readable files are, and its problems."""

    split: str
    pairs: int
    files: list = field(default_factory=list)  # (h, w, channels, bit depth, is JPEG)
    problems: list = field(default_factory=list)
    unreadable: int = 0  # files that could not be read


def _two_folder_splits(root):
    for split in SPLITS:
        a, b = fs.join(root, "A", split), fs.join(root, "B", split)
        pairs, only_a, only_b = match_by_stem(a, b)
        problems = [f"{mine}/: {len(lonely)} file{'s' * (len(lonely) > 1)} without a partner "
                    f"of the same name in {theirs}/ ({lonely_names(lonely)}); give each a "
                    "partner or remove it"
                    for lonely, mine, theirs in ((only_a, a, b), (only_b, b, a)) if lonely]
        if pairs or problems:
            yield split, Pairs.of_file_pairs(pairs), problems


def dataset_splits(root, dataset_mode="auto", flag=None):
    """[(split, Pairs, problems found while pairing)] of the dataset folder ``root``."""
    flag = flag or root
    if not fs.isdir(root):
        raise UserError(f"DIR {root}: folder not found; pass a dataset folder (with train/, "
                        "val/, test/ or A/ and B/ inside)")
    layout = folder.resolve_layout(root, dataset_mode, flag)
    if layout == folder.TFRECORDS:
        index = tfrecord.read_index(root)
        found = [(s, tfrecord.open_split(root, s, index), []) for s in SPLITS]
        found = [(s, pairs, p) for s, pairs, p in found if pairs is not None]
    elif layout == TWO_FOLDERS:
        found = list(_two_folder_splits(root))
    else:
        found = [(s, Pairs.of_files(list_images(root, s)), []) for s in SPLITS]
        found = [(s, pairs, p) for s, pairs, p in found if len(pairs)]
    if not found:
        raise UserError(f"DIR {root}: no .jpg or .png images in train/, val/ or test/ (or in "
                        "A/<split>/ and B/<split>/); pass the folder that holds them")
    return found


def survey(root, dataset_mode="auto", decode=True, stream=None, **reading):
    """A ``SplitReport`` per split of ``root``, with training's checks made on every file.

    ``reading``: ``check_images``' pixel options (preprocess, load_size, crop_size,
    input_nc, output_nc, direction). ``stream`` gets a progress line for large splits.
    """
    from ..progress import Count

    quiet_tensorflow_import()  # the checks read with tf.data
    reports = []
    for split, pairs, problems in dataset_splits(root, dataset_mode):
        count = None
        if stream is not None and len(pairs) * pairs.parts >= PROGRESS_FROM:
            count = Count(len(pairs) * pairs.parts, stream, unit=f"{split} files")
        findings = find_problems(pairs, decode=decode, progress=count and count.update,
                                 **reading)
        if count:
            count.close()
        reports.append(SplitReport(split, len(pairs), findings.files,
                                   problems + findings.problems,
                                   len(pairs) * pairs.parts - len(findings.files)))
    return reports


def _counted(counter, show):
    """``a (3), b (1)`` most common first, or ``a`` alone."""
    if len(counter) == 1:
        return show(next(iter(counter)))
    items = counter.most_common()
    text = ", ".join(f"{show(k)} ({n})" for k, n in items[:SHOWN_SIZES])
    return text + (", ..." if len(items) > SHOWN_SIZES else "")


def describe(report):
    """One line: ``train: 400 pairs, 512x256, RGB, 8-bit, JPEG``."""
    files = report.files
    if not files:
        return f"{report.split}: {report.pairs} pairs, no readable file"
    sizes = _counted(Counter((w, h) for h, w, *_ in files), lambda s: f"{s[0]}x{s[1]}")
    channels = _counted(Counter(c for _h, _w, c, *_ in files),
                        lambda c: CHANNEL_NAMES.get(c, f"{c} channels"))
    depths = _counted(Counter(d for *_, d, _j in files), lambda d: f"{d}-bit")
    formats = _counted(Counter("JPEG" if j else "PNG" for *_, j in files), str)
    bad = f", {report.unreadable} unreadable" if report.unreadable else ""
    return f"{report.split}: {report.pairs} pairs, {sizes}, {channels}, {depths}, {formats}{bad}"
