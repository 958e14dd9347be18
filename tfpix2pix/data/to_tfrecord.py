"""Aligned pairs as sharded TFRecords: ``python -m tfpix2pix.data to-tfrecord DIR OUT``.

Each split of DIR (``train/``, ``val/``, ``test/``, those that exist) becomes
shards in OUT, in the format ``tfrecord`` reads (see there). Shards are written
under temporary names and renamed only once all are complete; ``index.json`` is
written last, so a killed conversion leaves no folder that looks complete. All
paths go through tf.io.gfile (``gs://``, ``s3://`` with their plugins).

Only aligned datasets are converted. A two-folder dataset (``A/<split>/`` and
``B/<split>/``) is refused with a one-line error: train on its folder directly.
"""

import hashlib
import json
import math
import os
import uuid

from ..errors import UserError, quiet_tensorflow_import
from . import fs
from .check import check_images
from .folder import layouts_in
from .layouts import DEFAULT_PREPROCESS, PREPROCESS_MODES, TWO_FOLDERS
from .listing import list_images
from .tfrecord import FORMAT, INDEX, SHARD, SPLITS, VERSION, read_index, shard_name
from .tool import add_tool

SHARD_BYTES = 256 * 2**20  # automatic shard count: about this much per shard


def _example(name, data):
    import tensorflow as tf
    feature = {"name": tf.train.Feature(bytes_list=tf.train.BytesList(value=[name.encode()])),
               "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _source_splits(src):
    if not fs.exists(src):
        raise UserError(f"DIR {src}: folder not found; pass the dataset folder that holds "
                        "train/ (and val/, test/)")
    if not fs.isdir(src):
        raise UserError(f"DIR {src}: not a folder; pass the dataset folder that holds train/")
    splits = {s: list_images(src, s) for s in SPLITS}
    splits = {s: paths for s, paths in splits.items() if paths}
    if not splits and layouts_in(src) == {TWO_FOLDERS}:
        raise UserError(f"DIR {src}: holds a two-folder dataset (A/ and B/); to-tfrecord "
                        f"converts aligned [A | B] datasets only, so train on the folder "
                        f"itself (--data {src})")
    if not splits:
        raise UserError(f"DIR {src}: no .jpg or .png pairs in train/, val/ or test/; pass the "
                        "dataset folder that holds them as [A | B] side-by-side images")
    return splits


def _prepare_out(out):
    """Create OUT (or accept an empty folder or our own earlier output); the old index."""
    if fs.exists(out) and not fs.isdir(out):
        raise UserError(f"OUT {out}: exists and is not a folder; choose another path")
    old = None
    if fs.exists(out):
        names = fs.listdir(out)
        if INDEX in names:
            try:
                old = read_index(out)
            except UserError:
                old = None
        foreign = [n for n in names if n != INDEX and not SHARD.match(n)
                   and ".tmp-" not in n]
        if foreign or (INDEX in names and old is None):
            raise UserError(f"OUT {out}: folder is not empty (it holds {(foreign or [INDEX])[0]}); "
                            "choose a new folder (to-tfrecord only replaces its own output)")
    probe = fs.join(out, f".write-test.tmp-{os.getpid()}")
    try:
        fs.makedirs(out)
        fs.write_bytes(probe, b"")
        fs.remove(probe)
    except Exception as exc:  # OSError, or a tf.errors.OpError for gfile paths
        reason = getattr(exc, "strerror", None) or str(getattr(exc, "message", exc))
        raise UserError(f"OUT {out}: cannot write there ({reason.splitlines()[0]}); choose a "
                        "folder you can write to") from None
    return old


def write(src, out, shards=0, log=None, preprocess=DEFAULT_PREPROCESS):
    """Convert the dataset folder ``src`` to TFRecords in ``out``; return the index written.

    ``shards``: shards per split (at most one per pair); 0 picks about one per 256 MB.
    ``log`` (a print-like function) gets one line per split. ``preprocess``: the
    ``--preprocess`` the records are for; only resize_and_crop (the default) needs every
    pair twice as wide as high (the records hold the files as they are either way).
    """
    if shards < 0:
        raise UserError(f"--shards {shards}: must be zero (automatic) or more")
    splits = _source_splits(src)
    old = _prepare_out(out)
    tf = quiet_tensorflow_import()
    # The same check --data DIR makes, before any writing (crops are checked by training).
    check = DEFAULT_PREPROCESS if preprocess == DEFAULT_PREPROCESS else "none"
    for paths in splits.values():
        check_images(paths, preprocess=check)
    tag = f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    written, index = [], {"format": FORMAT, "version": VERSION, "source": fs.absolute(src),
                          "features": {"name": "bytes: the pair's file name",
                                       "image": "bytes: the file's original encoded bytes"},
                          "splits": {}}
    try:
        for split, paths in splits.items():
            sizes = [fs.stat(p)[0] for p in paths]
            n = min(len(paths), shards or max(1, math.ceil(sum(sizes) / SHARD_BYTES)))
            digest, entries = hashlib.sha256(), []
            for s in range(n):
                block = paths[s * len(paths) // n:(s + 1) * len(paths) // n]
                name = shard_name(split, s, n)
                tmp = fs.join(out, "." + name + tag)
                written.append((tmp, fs.join(out, name)))
                with tf.io.TFRecordWriter(tmp) as writer:
                    for path in block:
                        base, data = os.path.basename(path), fs.read_bytes(path)
                        for part in (base.encode(), data):
                            digest.update(len(part).to_bytes(8, "little") + part)
                        writer.write(_example(base, data))
                entries.append({"file": name, "count": len(block)})
            index["splits"][split] = {"count": len(paths), "sha256": digest.hexdigest(),
                                      "shards": entries,
                                      "names": [os.path.basename(p) for p in paths]}
            if log:
                log(f"{split}: {len(paths)} pairs -> {n} shard{'s' * (n > 1)} "
                    f"({sum(sizes) / 1e6:.1f} MB)")
        # Commit: no index while shards are swapped, the new index last.
        fs.remove(fs.join(out, INDEX))
        for tmp, final in written:
            fs.rename(tmp, final)
        index_tmp = fs.join(out, "." + INDEX + tag)
        written.append((index_tmp, None))
        fs.write_bytes(index_tmp, json.dumps(index, indent=1).encode("utf-8"))
        fs.rename(index_tmp, fs.join(out, INDEX))
    except BaseException as exc:
        for tmp, _final in written:
            fs.remove(tmp)
        if isinstance(exc, tf.errors.OpError):
            first_line = str(exc.message).strip().splitlines()[0]
            raise UserError(f"OUT {out}: writing the TFRecords failed ({first_line}); check "
                            "the free space and permissions there") from None
        raise
    new = {e["file"] for info in index["splits"].values() for e in info["shards"]}
    if old:
        for info in old["splits"].values():
            for entry in info["shards"]:
                if entry["file"] not in new:
                    fs.remove(fs.join(out, entry["file"]))
    if log:
        log(f"wrote {fs.join(out, INDEX)}; train with --data {out}")
    return index


def run(args, log):
    write(args.dir, args.out, args.shards, log=log, preprocess=args.preprocess)


def add_command(commands):
    parser = add_tool(
        commands, "to-tfrecord", "write a dataset folder's pairs as sharded TFRecords",
        "Write each split (train/, val/, test/) of DIR as sharded TFRecords in OUT, with an "
        "index.json; --data OUT then trains on the same pairs in the same order. DIR and OUT "
        "may be gs:// or s3:// URLs.", run)
    parser.add_argument("dir", metavar="DIR", help="dataset folder holding train/ (and val/, "
                        "test/) with [A | B] .jpg or .png pairs")
    parser.add_argument("out", metavar="OUT", help="output folder (new, empty, or an earlier "
                        "to-tfrecord output, which is replaced)")
    parser.add_argument("--shards", type=int, default=0, metavar="N",
                        help="shards per split (default 0: about one per 256 MB)")
    parser.add_argument("--preprocess", default=DEFAULT_PREPROCESS, choices=PREPROCESS_MODES,
                        help="the --preprocess you will train with: only resize_and_crop (the "
                             "default) needs every pair twice as wide as high")
    return parser
