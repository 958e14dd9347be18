"""``python -m tfpix2pix.data prepare-cityscapes``: the paper's pairs, from your own archives.

Cityscapes may not be redistributed, so it is made from the official
``gtFine_trainvaltest.zip`` and ``leftImg8bit_trainvaltest.zip`` (or their
extracted folders) the way the PyTorch reference's
``datasets/prepare_cityscapes_dataset.py`` makes it: each
``<split>/<city>/<frame>_leftImg8bit.png`` photo is paired with
``<split>/<city>/<frame>_gtFine_color.png``, both are converted to RGB and
resized to 256x256 with bicubic filtering (the reference uses PIL's default
resize, bicubic, for the labels too), and written as one [photo | labels] JPEG
at quality 100 without chroma subsampling. Labels -> photo is then BtoA.

Two choices differ from the reference: the official val split goes to val/
(the reference writes it to test/; training reads val/ for its val/L1 and
grid), and files are named after their frame (``aachen_000000_000019.jpg``)
rather than numbered. The official test split has no public labels and is
skipped. A photo without labels (or labels without a photo) is an error: the
two archives must be of one release. OUT appears only when complete.
"""

import contextlib
import functools
import io
import os
import re
import zipfile

from ..errors import UserError
from . import staging
from .combine import save, side_by_side
from .listing import lonely_names

SIZE = 256
SPLITS = ("train", "val")
PATTERNS = {  # the official names; the frame is <city>_<sequence>_<frame>
    "--gtfine": re.compile(r"(?:^|/)(train|val)/[^/]+/([^/]+)_gtFine_color\.png$"),
    "--leftimg": re.compile(r"(?:^|/)(train|val)/[^/]+/([^/]+)_leftImg8bit\.png$"),
}
SUFFIXES = {"--gtfine": "*_gtFine_color.png", "--leftimg": "*_leftImg8bit.png"}
TRAIN_PAIRS = 2975  # the paper and the reference's docs/datasets.md: 2975 training images
ARCHIVES = {"--gtfine": "gtFine_trainvaltest.zip", "--leftimg": "leftImg8bit_trainvaltest.zip"}


def _read_file(path):
    with open(path, "rb") as fh:
        return fh.read()


def _files(source, flag, stack):
    """{(split, frame): reader()} of the files of the zip or folder ``source`` that ``flag``
    wants; ``stack`` keeps a zip open."""
    if os.path.isdir(source):
        names = {}
        for folder, _dirs, files in os.walk(source):
            for name in files:
                path = os.path.join(folder, name)
                names[os.path.relpath(path, source).replace(os.sep, "/")] = path
        read = _read_file
    elif os.path.isfile(source):
        try:
            archive = stack.enter_context(zipfile.ZipFile(source))
        except zipfile.BadZipFile:
            raise UserError(f"{flag} {source}: not a .zip archive or a folder; pass "
                            f"{ARCHIVES[flag]} or the folder it was extracted to") from None
        names = {info.filename: info for info in archive.infolist() if not info.is_dir()}
        read = archive.read
    else:
        raise UserError(f"{flag} {source}: not found; pass {ARCHIVES[flag]} or its folder")
    found = {}
    for name, where in names.items():
        match = PATTERNS[flag].search(name)
        if match:
            found[match.group(1), match.group(2)] = (name, functools.partial(read, where))
    if not found:
        raise UserError(f"{flag} {source}: no train/<city>/{SUFFIXES[flag]} or val/<city>/ "
                        f"files in it; pass {ARCHIVES[flag]} or its folder")
    return found


def _resized(name, read, what):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(read())) as image:
            return image.convert("RGB").resize((SIZE, SIZE), Image.BICUBIC)
    except (OSError, UnidentifiedImageError, SyntaxError, zipfile.BadZipFile) as exc:
        raise UserError(f"{what} {name}: not a readable PNG ({exc}); extract or download the "
                        "archive again") from None


def prepare(gtfine, leftimg, out, force=False, log=print, stream=None):
    """Write the [photo | labels] pairs of ``out``/train/ and val/; return {split: pairs}."""
    from ..progress import Count

    with contextlib.ExitStack() as stack:
        labels = _files(gtfine, "--gtfine", stack)
        photos = _files(leftimg, "--leftimg", stack)
        only_photos = sorted(set(photos) - set(labels))
        only_labels = sorted(set(labels) - set(photos))
        for lonely, found, what, other in ((only_photos, photos, "photo", "--gtfine"),
                                           (only_labels, labels, "label map", "--leftimg")):
            if lonely:
                many = len(lonely) > 1
                raise UserError(f"{len(lonely)} {what}{'s' * many} {'have' if many else 'has'} "
                                f"no partner in {other} "
                                f"({lonely_names([found[key][0] for key in lonely])}); pass the "
                                "two archives of one release, complete")
        keys = sorted(photos, key=lambda key: (SPLITS.index(key[0]), key[1]))
        progress = Count(len(keys), stream, unit="pairs") if stream else None
        with staging.staged(out, "--out", force) as stage:
            for split in SPLITS:
                os.makedirs(os.path.join(stage.path, split))
            for done, (split, frame) in enumerate(keys, 1):
                photo = _resized(*photos[split, frame], "--leftimg")
                label = _resized(*labels[split, frame], "--gtfine")
                save(side_by_side(photo, label), os.path.join(stage.path, split, f"{frame}.jpg"))
                if progress:
                    progress.update(done)
            if progress:
                progress.close()
    counts = {s: sum(1 for key in keys if key[0] == s) for s in SPLITS}
    log(f"train: {counts['train']}, val: {counts['val']} [photo | labels] pairs in {out}; "
        f"labels -> photo is --direction BtoA")
    if counts["train"] != TRAIN_PAIRS:
        log(f"note: the paper's Cityscapes set has {TRAIN_PAIRS} training pairs, this one "
            f"{counts['train']}")
    return counts


def run(args, out, err):
    prepare(args.gtfine, args.leftimg, args.out, args.force,
            log=lambda line: print(line, file=out), stream=err)
    return 0


def add_command(commands):
    parser = commands.add_parser(
        "prepare-cityscapes", help="make the paper's Cityscapes pairs from the official archives",
        description="Pair each Cityscapes photo with its colour label map, resize both to "
                    "256x256 and write [photo | labels] JPEGs to --out/train/ and --out/val/, "
                    "as the paper's set was made. Cityscapes cannot be redistributed: download "
                    "the two archives from cityscapes-dataset.com yourself.")
    parser.add_argument("--gtfine", required=True, metavar="ZIP_OR_DIR",
                        help="gtFine_trainvaltest.zip, or the folder it was extracted to")
    parser.add_argument("--leftimg", required=True, metavar="ZIP_OR_DIR",
                        help="leftImg8bit_trainvaltest.zip, or the folder it was extracted to")
    staging.add_output_flags(parser)
    parser.set_defaults(run=run)
    return parser
