"""Speed of the training data pipeline alone, printed as JSON.

Runs ``TrainData.dataset()`` (what the trainer iterates, without a model) at the
full 256x256 settings: resize 286, random crop 256, mirror, batch 1, seed 0, on
facades train pairs if present (``../shared/data/facades`` from the repo root,
BtoA), else ``builtin:shapes``. For each source (the image folder, and the same
pairs converted with ``to-tfrecord`` into a temporary folder) and each
``--cache`` mode (memory, disk into a fresh temporary folder, none) it records:

- ``first_epoch_pairs_per_s``: pairs of epoch 0 / seconds from building the
  ``TrainData`` to its last batch (cache fill included);
- ``pairs_per_s``: the median over the next ``--epochs`` epochs (cache filled),
  each timed on its own with ``time.perf_counter``.

Batches are pulled one by one in Python with ``next()``, as the training loop does.

    python benchmarks/data_speed.py                      # all pairs, 2 timed epochs
    python benchmarks/data_speed.py --step-rate 0.6      # also: ratio to 0.6 train steps/s

The ratio to the train step (target: the pipeline is at least 10x faster, from the
issue) is printed only against a step rate you measured and pass with
``--step-rate`` (e.g. ``median_steps_per_s`` of benchmarks/train_speed.py on the
same machine). Only the JSON goes to stdout; run on an otherwise idle machine.
"""

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

import machine  # benchmarks/machine.py

machine.quiet_and_importable()
TARGET_RATIO = 10.0  # pipeline pairs/s over train steps/s (batch 1), from the issue
from tfpix2pix.names import CACHE_MODES as MODES  # noqa: E402  (no TensorFlow)


def _time_source(pairs, mode, args, cfg, scratch):
    """(first-epoch rate, per-epoch rates after it, fill seconds) for one source and mode."""
    from tfpix2pix.data import pipeline
    cache_dir = tempfile.mkdtemp(prefix=f"cache-{mode}-", dir=scratch)
    t0 = time.perf_counter()
    data = pipeline.TrainData(pairs, load_size=cfg.data.load_size, crop_size=cfg.data.crop_size,
                              direction=cfg.data.direction, flip=not cfg.data.no_flip,
                              seed=cfg.train.seed, global_batch=cfg.train.batch_size,
                              cache=mode, cache_dir=cache_dir)
    data.reader()  # the cache fill (memory, disk) or nothing (none)
    fill_s = time.perf_counter() - t0
    batches = iter(data.dataset())
    per_epoch, pairs_per_epoch = data.steps_per_epoch, data.steps_per_epoch * data.global_batch
    for _ in range(per_epoch):
        next(batches)
    first = pairs_per_epoch / (time.perf_counter() - t0)
    rates = []
    for _ in range(args.epochs):
        t = time.perf_counter()
        for _ in range(per_epoch):
            next(batches)
        rates.append(pairs_per_epoch / (time.perf_counter() - t))
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(cache_dir) for f in fs)
    shutil.rmtree(cache_dir, ignore_errors=True)
    return first, rates, fill_s, size


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=2, help="timed epochs after the first "
                   "(default 2)")
    p.add_argument("--pairs", type=int, default=0, help="use only the first N training pairs "
                   "(default: all)")
    p.add_argument("--step-rate", type=float, default=None, help="train steps/s measured on "
                   "this machine (benchmarks/train_speed.py): report pipeline/step ratios")
    for flag, default in (("--batch-size", 1), ("--crop-size", 256), ("--load-size", 286)):
        p.add_argument(flag, type=int, default=default)
    p.add_argument("--data", default=None, help="dataset folder with train/ (default: facades "
                   "at ../shared/data/facades if present, else builtin:shapes)")
    p.add_argument("--output", help="also write the JSON to this file")
    args = p.parse_args(argv)
    if args.epochs < 1 or (args.step_rate is not None and args.step_rate <= 0):
        p.error("need --epochs >= 1 and a positive --step-rate")

    import tensorflow as tf

    import tfpix2pix
    from tfpix2pix.config import Config, apply_overrides
    from tfpix2pix.data import folder, source, to_tfrecord
    from tfpix2pix.errors import UserError

    try:
        name, data_path, direction = machine.training_data(args.data)
        cfg = apply_overrides(Config(), {
            "data": {"path": data_path, "direction": direction, "load_size": args.load_size,
                     "crop_size": args.crop_size},
            "train": {"batch_size": args.batch_size}}, "data_speed")
        if not 0 < cfg.data.crop_size <= cfg.data.load_size or cfg.train.batch_size < 1:
            raise UserError("need 0 < --crop-size <= --load-size and --batch-size >= 1")
        root = folder.resolve_root(cfg.data.path)
        paths = folder.train_images(root, cfg.data.path)[:args.pairs or None]
        if len(paths) < cfg.train.batch_size:
            raise UserError(f"--batch-size {cfg.train.batch_size}: only {len(paths)} pairs")
    except UserError as exc:
        print(f"data_speed: {exc}", file=sys.stderr)
        return 2

    scratch = tempfile.mkdtemp(prefix="tfpix2pix-data-speed-")
    try:
        # The TFRecord form of the same pairs: only train/, the benchmarked split.
        src = os.path.join(scratch, "folder")
        os.makedirs(os.path.join(src, "train"))
        for path in paths:
            os.symlink(os.path.abspath(path), os.path.join(src, "train", os.path.basename(path)))
        t = time.perf_counter()
        to_tfrecord.write(src, os.path.join(scratch, "records"))
        convert_s = time.perf_counter() - t
        sources = {"folder": source.Pairs.of_files(paths),
                   "tfrecord": folder.find_pairs(os.path.join(scratch, "records"), 1)[0]}
        results = {}
        for source_name, pairs in sources.items():
            for mode in MODES:
                first, rates, fill_s, size = _time_source(pairs, mode, args, cfg, scratch)
                median = statistics.median(rates)
                entry = {"pairs_per_s": round(median, 2),
                         "epoch_pairs_per_s": [round(r, 2) for r in rates],
                         "first_epoch_pairs_per_s": round(first, 2),
                         "cache_fill_s": round(fill_s, 2)}
                if mode == "disk":
                    entry["disk_cache_mb"] = round(size / 1e6, 1)
                if args.step_rate:
                    ratio = median / (args.step_rate * cfg.train.batch_size)
                    entry["ratio_to_train_step"] = round(ratio, 1)
                    entry["first_epoch_ratio_to_train_step"] = round(
                        first / (args.step_rate * cfg.train.batch_size), 1)
                    entry["meets_target"] = ratio >= TARGET_RATIO
                results[f"{source_name}/{mode}"] = entry
                print(f"{source_name:8} --cache {mode:6}: {median:7.1f} pairs/s after the first "
                      f"epoch, {first:6.1f} in it", file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    onednn_env = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    result = {
        "benchmark": "pix2pix training data pipeline alone (TrainData.dataset), 256x256 settings",
        "results": results,
        "slowest_after_first_epoch_pairs_per_s": min(r["pairs_per_s"] for r in results.values()),
        "settings": dict(batch_size=cfg.train.batch_size, load_size=cfg.data.load_size,
                         crop_size=cfg.data.crop_size, flip=not cfg.data.no_flip,
                         seed=cfg.train.seed, timed_epochs=args.epochs,
                         pairs_per_epoch=len(paths) // cfg.train.batch_size
                         * cfg.train.batch_size, consumer="next() in Python, one batch at a "
                         "time"),
        "data": {"source": name, "root": os.path.abspath(root), "train_pairs": len(paths),
                 "direction": cfg.data.direction, "to_tfrecord_s": round(convert_s, 2)},
        "train_step_rate_given": args.step_rate,
        "target": f"pipeline pairs/s >= {TARGET_RATIO:g} x train steps/s (batch 1), from the "
                  "issue; ratios only against --step-rate",
        "machine": machine.describe(),
        "software": {"python": platform.python_version(), "tensorflow": tf.__version__,
                     "tfpix2pix": os.path.dirname(tfpix2pix.__file__),
                     "TF_ENABLE_ONEDNN_OPTS": onednn_env,
                     "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
                     "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()},
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "date_utc": machine.utc_now(),
    }
    if args.step_rate:
        result["meets_target"] = all(r["meets_target"] for r in results.values())
    machine.emit(result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
