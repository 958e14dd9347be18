"""Training speed of the paper's full pix2pix model, printed as JSON.

Measures steps per second of ``Pix2Pix.train_step`` for the default ``Config()``
(unet_256 G, basic 70x70 PatchGAN D, ngf = ndf = 64, batch norm, batch 1,
resize 286 -> random crop 256, float32, no XLA) under the default strategy, fed
by the real ``TrainData`` pipeline: facades train pairs if present
(``../shared/data/facades`` from the repo root, BtoA), else ``builtin:shapes``.
After the warm-up steps (the first of which traces the step and fills the data
cache and shuffle buffer), each timed step is ``train_step(next(batches))`` plus
copying its metrics to the host, timed on its own with ``time.perf_counter``.
The median of the per-step rates is the headline number.

    python benchmarks/train_speed.py                        # 10 warm-up + 50 timed steps
    python benchmarks/train_speed.py --steps 200 --output speed.json

Only the JSON goes to stdout; run on an otherwise idle machine.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

import machine  # benchmarks/machine.py

REPO_ROOT, DEFAULT_DATA = machine.REPO_ROOT, machine.DEFAULT_DATA
machine.quiet_and_importable()
TARGET = 1.9  # steps/s, from the issue


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=50, help="timed steps (default 50)")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first, incl. tracing")
    for flag, default in (("--batch-size", 1), ("--crop-size", 256), ("--load-size", 286)):
        p.add_argument(flag, type=int, default=default)
    p.add_argument("--data", default=None, help="dataset folder with train/ (default: facades "
                   "at ../shared/data/facades if present, else builtin:shapes)")
    p.add_argument("--output", help="also write the JSON to this file")
    args = p.parse_args(argv)
    if args.steps < 2 or args.warmup < 1:
        p.error("need --steps >= 2 and --warmup >= 1 (the first step traces the graph)")

    import keras
    import tensorflow as tf

    import tfpix2pix
    from tfpix2pix.config import Config, apply_overrides, validate
    from tfpix2pix.data import folder, pipeline
    from tfpix2pix.errors import UserError
    from tfpix2pix.training.step import Pix2Pix, make_strategy

    try:
        if args.data:
            source, data_path, direction = "user", args.data, "BtoA"
        elif folder.list_images(DEFAULT_DATA, "train"):
            source, data_path, direction = "facades", os.path.normpath(DEFAULT_DATA), "BtoA"
        else:  # the built-in set draws label map (A) -> rendering (B)
            source, data_path, direction = "builtin:shapes", "builtin:shapes", "AtoB"
        cfg = validate(apply_overrides(Config(), {
            "data": {"path": data_path, "direction": direction, "load_size": args.load_size,
                     "crop_size": args.crop_size},
            "train": {"batch_size": args.batch_size, "strategy": "default"}}, "train_speed"))
        root = folder.resolve_root(cfg.data.path)
        paths = folder.train_images(root, cfg.data.path)
        if len(paths) < cfg.train.batch_size:
            raise UserError(f"--batch-size {cfg.train.batch_size}: only {len(paths)} pairs")
    except UserError as exc:
        print(f"train_speed: {exc}", file=sys.stderr)
        return 2

    keras.utils.set_random_seed(cfg.train.seed)
    strategy = make_strategy(cfg.train.strategy)
    data = pipeline.TrainData(paths, load_size=cfg.data.load_size, crop_size=cfg.data.crop_size,
                              direction=cfg.data.direction, flip=not cfg.data.no_flip,
                              seed=cfg.train.seed, global_batch=cfg.train.batch_size,
                              cache=cfg.data.cache)
    model = Pix2Pix(cfg, strategy, data.steps_per_epoch)
    batches = data.stream(0, distribute=strategy.experimental_distribute_dataset)

    def one_step():
        t0 = time.perf_counter()
        metrics = {k: float(v) for k, v in model.train_step(next(batches)).items()}
        return time.perf_counter() - t0, metrics

    first_step_s, _ = one_step()
    print(f"first step (trace + data cache fill): {first_step_s:.1f} s", file=sys.stderr)
    for _ in range(args.warmup - 1):
        one_step()
    timed = [one_step() for _ in range(args.steps)]
    times, metrics = [t for t, _ in timed], timed[-1][1]
    print(f"{args.steps} timed steps: {sum(times):.1f} s", file=sys.stderr)

    rates = [1.0 / t for t in times]
    deciles = statistics.quantiles(rates, n=10, method="inclusive")
    median = statistics.median(rates)
    onednn_env = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    g, d, m = model.generator, model.discriminator, cfg.model
    trainable = lambda m: sum(int(tf.size(v)) for v in m.trainable_variables)  # noqa: E731
    result = {
        "benchmark": "pix2pix train_step, full 256x256 model",
        "median_steps_per_s": round(median, 4),
        "mean_steps_per_s": round(len(times) / sum(times), 4),  # timed steps / timed seconds
        "p10_steps_per_s": round(deciles[0], 4),
        "p90_steps_per_s": round(deciles[-1], 4),
        "images_per_s": round(median * cfg.train.batch_size, 4),
        "timed_steps": len(times), "warmup_steps": args.warmup,
        "total_timed_s": round(sum(times), 3),
        "first_step_s": round(first_step_s, 3),  # tracing + decoding the shuffle buffer
        "final_metrics": {k: round(v, 4) for k, v in metrics.items()},
        "settings": dict(batch_size=cfg.train.batch_size, load_size=cfg.data.load_size,
                         crop_size=cfg.data.crop_size, netG=m.netG, netD=m.netD, ngf=m.ngf,
                         ndf=m.ndf, norm=m.norm, dropout=not m.no_dropout, flip=not
                         cfg.data.no_flip, strategy=type(strategy).__name__.lstrip("_"),
                         replicas=strategy.num_replicas_in_sync, precision="float32", xla=False),
        "params": {"generator": g.count_params(), "discriminator": d.count_params(),
                   "generator_trainable": trainable(g), "discriminator_trainable": trainable(d)},
        "data": {"source": source, "root": os.path.abspath(root), "train_pairs": len(paths),
                 "direction": cfg.data.direction},
        "machine": machine.describe(),
        "software": {"python": platform.python_version(), "tensorflow": tf.__version__,
                     "keras": keras.__version__, "tfpix2pix": os.path.dirname(tfpix2pix.__file__),
                     "onednn": (onednn_env or "1").strip().lower() not in ("0", "false", "off"),
                     "TF_ENABLE_ONEDNN_OPTS": onednn_env,
                     "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
                     "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()},
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "reference_points_quoted_from_issue_not_measured_here": {
            "tf_tutorial_steps_per_s_reported_zen4": 1.46,
            "pytorch_reference_steps_per_s_reported_zen4": 1.31,
            "target_steps_per_s": TARGET},
        "meets_target": median >= TARGET,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
