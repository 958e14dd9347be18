"""``python -m tfpix2pix.data split DIR --out DIR``: one folder of pairs into train/, val/, test/.

The images of DIR are sorted by name and shuffled with ``random.Random(seed)``,
so a seed always gives the same split of the same files. The first
``round(n * test)`` go to test/, the next ``round(n * val)`` to val/, the rest
to train/ (which may not end up empty). Files are hard-linked where the file
system allows it (no space used; editing one edits both), else copied;
``--copy`` always copies. OUT appears only when complete (``staging``).
"""

import os
import random
import shutil

from ..errors import UserError
from . import staging
from .listing import images_in
from .tool import add_tool


def place(src, dest, copy):
    """Hard-link ``src`` as ``dest`` (or copy it); True if it was copied."""
    if not copy:
        try:
            os.link(src, dest)
            return False
        except OSError:  # another file system, or links not supported
            pass
    shutil.copy2(src, dest)
    return True


def assign(paths, val, test, seed):
    """{split: paths} for the sorted ``paths``: seeded, the same for the same input."""
    order = sorted(paths)
    random.Random(seed).shuffle(order)
    n_test, n_val = round(len(order) * test), round(len(order) * val)
    return {"train": order[n_test + n_val:], "val": order[n_test:n_test + n_val],
            "test": order[:n_test]}


def split(src, out, val=0.1, test=0.1, seed=0, copy=False, force=False, log=print):
    """Split the images of ``src`` into ``out``/{train,val,test}/; return {split: count}."""
    for flag, value in (("--val", val), ("--test", test)):
        if not 0 <= value < 1:
            raise UserError(f"{flag} {value}: must be a fraction from 0 to below 1")
    if val + test >= 1:
        raise UserError(f"--val {val} --test {test}: together they leave nothing for train/; "
                        "make their sum smaller than 1")
    if not os.path.isdir(src):
        raise UserError(f"DIR {src}: folder not found; pass a folder of [A | B] images")
    paths = images_in(src)
    if not paths:
        raise UserError(f"DIR {src}: no .jpg or .png images in it; pass the folder that holds "
                        "the pairs")
    groups = assign(paths, val, test, seed)
    if not groups["train"]:
        raise UserError(f"DIR {src}: its {len(paths)} images leave none for train/ with --val "
                        f"{val} --test {test}; use smaller fractions")
    copied = False
    with staging.staged(out, "--out", force) as stage:
        for name, files in groups.items():
            if files:
                os.makedirs(os.path.join(stage.path, name))
            for path in files:
                copied |= place(path, os.path.join(stage.path, name, os.path.basename(path)),
                                copy)
    counts = {name: len(files) for name, files in groups.items()}
    how = "copies" if copied else "hard links"
    log(f"train: {counts['train']}, val: {counts['val']}, test: {counts['test']} pairs in "
        f"{out} ({how}, seed {seed})")
    return counts


def run(args, log):
    split(args.dir, args.out, args.val, args.test, args.seed, args.copy, args.force, log=log)


def add_command(commands):
    parser = add_tool(
        commands, "split", "split one folder of [A | B] images into train/, val/, test/",
        "Shuffle the images of DIR with a seed and put them in --out as train/, val/ and "
        "test/ (hard links where possible, else copies).", run)
    parser.add_argument("dir", metavar="DIR", help="a folder of [A | B] images")
    staging.add_output_flags(parser)
    parser.add_argument("--val", type=float, default=0.1, metavar="FRACTION",
                        help="share of the images for val/ (default: 0.1)")
    parser.add_argument("--test", type=float, default=0.1, metavar="FRACTION",
                        help="share of the images for test/ (default: 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="shuffle seed (default: 0)")
    parser.add_argument("--copy", action="store_true", help="copy the files, never hard-link")
    return parser
