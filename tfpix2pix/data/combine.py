"""``python -m tfpix2pix.data combine --a DIR --b DIR --out DIR``: [A | B] files from two folders.

A file of ``--a`` and the file of ``--b`` with the same name (the extension may
differ: ``listing.match_by_stem``, the rule two-folder training uses) become one
image, A on the left. If ``--a`` has train/, val/ or test/ folders, each split
is combined into the same split of OUT; otherwise OUT holds the pairs directly
(``split`` can then make the splits). A and B must have the same size, since the
[A | B] image is split in two halves; ``--resize`` resizes B to A's size
(bicubic) instead of refusing. Files without a partner are listed and skipped;
the command fails only if no file has one. The output keeps A's extension (PNG
when a side has alpha or 16 bits); JPEGs are written at quality 100 without
chroma subsampling, as ``prepare-cityscapes`` does. OUT appears only when
complete (``staging``).
"""

import os

from ..errors import UserError
from . import staging
from .listing import lonely_names, match_by_stem
from .tfrecord import SPLITS
from .tool import add_tool

KEPT_MODES = ("L", "RGB", "RGBA", "I;16")


def side_by_side(left, right):
    """One PIL image: ``left`` then ``right`` (same size), in a mode both convert to."""
    from PIL import Image

    if left.mode == right.mode and left.mode in KEPT_MODES:
        mode = left.mode
    else:
        alpha = any(im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
                    for im in (left, right))
        mode = "RGBA" if alpha else "RGB"
        left, right = left.convert(mode), right.convert(mode)
    pair = Image.new(mode, (left.width + right.width, left.height))
    pair.paste(left, (0, 0))
    pair.paste(right, (left.width, 0))
    return pair


def save(image, path):
    """Write ``image`` to ``path`` (JPEG at quality 100 without chroma subsampling; a JPEG
    name becomes .png for an image with alpha or 16 bits). Returns the path written."""
    stem, ext = os.path.splitext(path)
    if ext.lower() in (".jpg", ".jpeg"):
        if image.mode in ("L", "RGB"):
            image.save(path, format="JPEG", quality=100, subsampling=0)
            return path
        path = stem + ".png"
    image.save(path, format="PNG")
    return path


def _open(path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return image
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise UserError(f"{path}: not a readable image ({exc}); replace or remove it") from None


def _combine_pair(a_path, b_path, dest, resize):
    from PIL import Image

    a, b = _open(a_path), _open(b_path)
    if a.size != b.size:
        if not resize:
            raise UserError(f"{b_path} is {b.width}x{b.height}, but its partner {a_path} is "
                            f"{a.width}x{a.height}; a pair's A and B must have the same size, "
                            "so resize one of them, or pass --resize to resize B to A's size")
        b = b.resize(a.size, Image.BICUBIC)
    save(side_by_side(a, b), os.path.join(dest, os.path.basename(a_path)))


def combine(a, b, out, resize=False, force=False, log=print):
    """Combine the folders ``a`` and ``b`` into ``out``; return {split or "": pairs}."""
    for flag, path in (("--a", a), ("--b", b)):
        if not os.path.isdir(path):
            raise UserError(f"{flag} {path}: folder not found; pass a folder of images (or "
                            "one with train/, val/, test/ inside)")
    splits = [s for s in SPLITS if os.path.isdir(os.path.join(a, s))]
    jobs = [(s, os.path.join(a, s), os.path.join(b, s)) for s in splits] or [("", a, b)]
    counts = {}
    with staging.staged(out, "--out", force) as stage:
        for split, a_folder, b_folder in jobs:
            pairs, only_a, only_b = match_by_stem(a_folder, b_folder)
            for lonely, mine, theirs in ((only_a, a_folder, b_folder),
                                         (only_b, b_folder, a_folder)):
                if lonely:
                    log(f"{mine}: {len(lonely)} without a partner in {theirs}, skipped: "
                        f"{lonely_names(lonely)}")
            dest = os.path.join(stage.path, split)
            os.makedirs(dest, exist_ok=True)
            for a_path, b_path in pairs:
                _combine_pair(a_path, b_path, dest, resize)
            counts[split] = len(pairs)
        if not sum(counts.values()):
            raise UserError(f"--a {a} --b {b}: no file of one has a partner of the same name "
                            "(the extension may differ) in the other; nothing was written")
    shown = ", ".join(f"{s}: {n}" if s else str(n) for s, n in counts.items())
    log(f"combined {shown} pairs into {out} as [A | B]")
    return counts


def run(args, log):
    combine(args.a, args.b, args.out, args.resize, args.force, log=log)


def add_command(commands):
    parser = add_tool(
        commands, "combine", "make [A | B] images from two folders of partners with the same "
        "names", "Pair the images of --a and --b by name (the extension may differ) and write "
        "each pair as one [A | B] image in --out, split by split if --a has train/, val/, "
        "test/. Files without a partner are listed and skipped.", run)
    parser.add_argument("--a", required=True, metavar="DIR", help="the A images (left)")
    parser.add_argument("--b", required=True, metavar="DIR", help="the B images (right)")
    staging.add_output_flags(parser)
    parser.add_argument("--resize", action="store_true",
                        help="resize B to A's size when they differ (default: refuse)")
    return parser
