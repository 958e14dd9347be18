"""``python -m tfpix2pix.data download NAME``: one of the paper's datasets, whole or not at all.

The archive (``<base>/NAME.tar.gz``, the base being the pix2pix site's
``DEFAULT_BASE``, ``$TFPIX2PIX_DATASETS_URL``, or ``--url`` for the archive
itself: a mirror, a local file or a ``file://`` URL) is downloaded to
``ROOT/.NAME.tar.gz.part``, resuming a cut connection and retrying a failing
one (``resumable``). The archive's SHA-256 is taken, and it is extracted safely
(``archive``) into a hidden folder beside ``ROOT/NAME``, where its split
counts (``DATASETS``) and every image (training's checks, ``validate``) are
checked and ``MANIFEST.json`` is written. Only then does the folder become
``ROOT/NAME`` (``staging``), and the ``.part`` file is removed.

A complete ``ROOT/NAME`` (one with a manifest) is kept; ``--force`` downloads
it again and replaces it once the new copy is complete, saying so if the
archive's SHA-256 is not the one the old manifest recorded.
"""

import json
import os
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..version import __version__
from ..errors import UserError
from ..files import sha256
from ..names import Registry
from . import archive, resumable, staging
from .listing import list_images
from .tfrecord import SPLITS

DEFAULT_BASE = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets"
BASE_VARIABLE = "TFPIX2PIX_DATASETS_URL"
MANIFEST = "MANIFEST.json"
NOT_DOWNLOADABLE = {
    "cityscapes": "its licence forbids redistribution; download gtFine_trainvaltest.zip and "
                  "leftImg8bit_trainvaltest.zip from cityscapes-dataset.com and run "
                  "python -m tfpix2pix.data prepare-cityscapes",
}


@dataclass(frozen=True)
class Dataset:
    """A downloadable dataset: a one-line ``summary`` and the pairs per split that a
    published source states (splits without a stated count are not checked)."""

    summary: str
    counts: dict = field(default_factory=dict)


# Counts are only those found written down:
# - facades train 400: junyanz/pytorch-CycleGAN-and-pix2pix, docs/datasets.md ("400 images
#   from CMP Facades"); val 100 and test 106: the archive's own files (train/1..400.jpg,
#   val/1..100.jpg, test/1..106.jpg), as listed in shared/data/facades/SOURCE.md, a copy of
#   its contents byte for byte.
# - maps train 1096: the same docs/datasets.md ("1096 training images scraped from Google
#   Maps").
# - edges2shoes ("50k training images") and edges2handbags ("137K Amazon Handbag images")
#   are only given rounded there, and night2day not at all, so their counts are not checked.
DATASETS = Registry("dataset", {
    "facades": Dataset("CMP Facades, [photo | labels]", {"train": 400, "val": 100, "test": 106}),
    "maps": Dataset("Google Maps, [aerial photo | map]", {"train": 1096}),
    "edges2shoes": Dataset("UT Zappos50K shoes, [edges | photo]"),
    "edges2handbags": Dataset("iGAN Amazon handbags, [edges | photo]"),
    "night2day": Dataset("Transient Attributes webcam scenes, [night | day]"),
})


def archive_source(name, url=None):
    """Where NAME's archive comes from: ``url``, else ``$TFPIX2PIX_DATASETS_URL/NAME.tar.gz``,
    else the pix2pix site's."""
    if url:
        return url
    base = os.environ.get(BASE_VARIABLE) or DEFAULT_BASE
    return base.rstrip("/") + f"/{name}.tar.gz"


def local_file(source):
    """The path a local source names (a path or a file:// URL), or None for a URL."""
    if source.startswith("file://"):
        return urllib.request.url2pathname(urllib.parse.urlparse(source).path)
    return None if "://" in source else source


def read_manifest(folder):
    """The MANIFEST.json of ``folder`` as a dict, or None."""
    try:
        with open(os.path.join(folder, MANIFEST), encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _data_root(folder, source):
    """The folder of the extracted archive that holds train/ (and val/, test/)."""
    for candidate in (folder, *sorted(os.path.join(folder, e) for e in os.listdir(folder))):
        if os.path.isdir(candidate) and any(os.path.isdir(os.path.join(candidate, s))
                                            for s in SPLITS):
            return candidate
    raise archive.BadArchive(f"{source}: the archive has no train/, val/ or test/ folder (at "
                             "its top or one level down); is it a pix2pix dataset archive?")


def _check_contents(name, root, source, final, stream):
    """{split: pairs} of the extracted dataset at ``root``; BadArchive if a count differs
    from DATASETS' or an image fails training's checks."""
    from .validate import survey

    counts = {s: len(list_images(root, s)) for s in SPLITS}
    for split, expected in DATASETS[name].counts.items():
        if counts[split] != expected:
            raise archive.BadArchive(f"{source}: {split}/ holds {counts[split]} pairs, but "
                                     f"{name} has {expected}; the archive is not the dataset "
                                     "expected (a partial or different copy?)")
    problems = [p for report in survey(root, stream=stream) for p in report.problems]
    if problems:
        first = problems[0].replace(root, final)
        raise archive.BadArchive(f"{source}: {len(problems)} image problem"
                                 f"{'s' * (len(problems) > 1)} in the archive, the first: "
                                 f"{first}")
    return {s: n for s, n in counts.items() if n}


def download(name, root="datasets", url=None, force=False, out=None, err=None):
    """Download and check dataset ``name`` into ``root/name``; return its manifest."""
    out, err = out or sys.stdout, err or sys.stderr
    if name in NOT_DOWNLOADABLE:
        raise UserError(f"download {name}: not downloadable: {NOT_DOWNLOADABLE[name]}")
    if name not in DATASETS:
        raise UserError(f"download {name}: unknown dataset; choose one of "
                        f"{', '.join(DATASETS)}")
    final = os.path.join(root, name)
    old = read_manifest(final)
    if old and not force:
        print(f"{final}: already downloaded (sha256 {old.get('sha256', '?')[:16]}...); pass "
              "--force to download it again", file=out)
        return old
    source = archive_source(name, url)
    local = local_file(source)
    if local is not None and not os.path.isfile(local):
        raise UserError(f"--url {source}: no such file; pass the path of {name}.tar.gz or a "
                        "URL")
    part = os.path.join(root, f".{name}.tar.gz.part")
    with staging.staged(final, f"download {name}:", force) as stage:
        if local is None:
            resumable.fetch(source, part, err,
                            advice=f", or use a mirror (--url, or ${BASE_VARIABLE})")
        path = local or part
        try:
            digest, size = sha256(path), os.path.getsize(path)
            progress = resumable.ByteProgress("extracting", size, err)
            try:
                archive.extract(path, stage.path, progress.update)
            finally:
                progress.close()
            stage.result = _data_root(stage.path, source)
            counts = _check_contents(name, stage.result, source, final, err)
        except archive.BadArchive:
            if local is None and os.path.exists(part):
                os.remove(part)  # its bytes are wrong: the next run starts afresh
            raise
        manifest = {"name": name, "source": source, "archive_bytes": size, "sha256": digest,
                    "splits": counts,
                    "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "tool": f"tfpix2pix {__version__}"}
        with open(os.path.join(stage.result, MANIFEST), "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=1)
    if local is None and os.path.exists(part):
        os.remove(part)
    if old and old.get("sha256") != digest:
        print(f"warning: {name}: the archive's SHA-256 is {digest}, but the replaced "
              f"{os.path.join(final, MANIFEST)} recorded {old.get('sha256')}; the data at the "
              "source changed", file=err)
    splits = ", ".join(f"{split} {n}" for split, n in counts.items())
    print(f"{name}: {splits} pairs in {final} (sha256 {digest[:16]}...); train with --data "
          f"{final}", file=out)
    return manifest


def run(args, out, err):
    download(args.name, args.root, args.url, args.force, out, err)
    return 0


def add_command(commands):
    parser = commands.add_parser(
        "download", help="download one of the paper's datasets, checked, whole or not at all",
        description="Download NAME's archive (resuming a cut download), extract it safely "
                    "and check every image, then move it to ROOT/NAME with a MANIFEST.json "
                    f"(source, size, SHA-256, pairs per split). Datasets: {DATASETS.describe()}."
                    f" A mirror's base URL may be set in ${BASE_VARIABLE}.")
    parser.add_argument("name", metavar="NAME", help=f"one of {', '.join(DATASETS)} "
                        "(cityscapes: see prepare-cityscapes)")
    parser.add_argument("--root", default="datasets", metavar="DIR",
                        help="where NAME/ goes (default: datasets); train with --data DIR/NAME")
    parser.add_argument("--url", metavar="URL", help="the archive itself: a mirror's URL, a "
                        f"local .tar.gz or a file:// URL (default: ${BASE_VARIABLE}/NAME.tar.gz, "
                        f"else {DEFAULT_BASE}/NAME.tar.gz)")
    parser.add_argument("--force", action="store_true",
                        help="download again over a complete ROOT/NAME, replacing it once the "
                             "new copy is complete")
    parser.set_defaults(run=run)
    return parser
