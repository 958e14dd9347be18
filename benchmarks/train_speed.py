"""Training speed of the paper's full pix2pix model, printed as JSON.

One configuration (the default: unet_256 G, 70x70 PatchGAN D, ngf = ndf = 64,
batch norm, batch 1, resize 286 -> random crop 256, float32, XLA as ``--jit auto``
says (off on CPUs), one step per call) under the default strategy; the flags that
change it are the training command's, with its defaults. It is fed by the real
``TrainData`` pipeline: facades train pairs if present (``../shared/data/facades``
from the repo root, BtoA), else ``builtin:shapes``. A call is
``train_step(next(batches))`` (or, with ``--steps-per-call K``,
``train_steps(batches, K)``) plus copying its metrics to the host, timed on its
own with ``time.perf_counter``; its rate is K / seconds. The warm-up calls come
first (the first traces, compiles and fills the data cache). The median of the
per-call rates is the headline number. ``peak_rss_mb`` is the process's peak
resident memory (``ru_maxrss``) at the end.

    python benchmarks/train_speed.py                          # 10 warm-up + 50 timed steps
    python benchmarks/train_speed.py --precision mixed_bf16 --jit on --steps-per-call 8
    python benchmarks/train_speed.py --matrix --output results.jsonl

``--matrix`` runs every combination of precision (fp32, mixed_bf16), XLA (off, on),
steps per call (1, 8) and batch (1 with batch norm, 16 with instance norm), each in
a fresh process (so each has its own dtype policy, compile cache and peak RSS), and
prints one JSON line per configuration as it finishes. Only JSON goes to stdout;
run on an otherwise idle machine.
"""

import argparse
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import machine  # benchmarks/machine.py

machine.quiet_and_importable()

from tfpix2pix import cli  # noqa: E402  (no TensorFlow)

# The training command's flags this benchmark takes (names, help and defaults are its).
CONFIG_FLAGS = ("train.batch_size", "data.crop_size", "data.load_size", "model.norm",
                "train.precision", "train.jit", "train.steps_per_call")
# The matrix: (batch, norm) pairs, and timed / warm-up steps for each batch size.
MATRIX_BATCHES = ((1, "batch"), (16, "instance"))
MATRIX_STEPS = {1: (24, 8), 16: (8, 8)}


def _parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 50, in the "
                   "matrix 24 at batch 1 and 8 at batch 16; rounded up to whole calls)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first, incl. "
                   "tracing (default 10, in the matrix 8; rounded up to whole calls)")
    cli.add_config_flags(p, CONFIG_FLAGS)
    p.add_argument("--data", default=None, help="dataset folder with train/ (default: facades "
                   "at ../shared/data/facades if present, else builtin:shapes)")
    p.add_argument("--matrix", action="store_true", help="run the whole matrix (see above), "
                   "one process and one JSON line per configuration")
    p.add_argument("--only", action="append", default=[], metavar="AXIS=V1,V2",
                   help="with --matrix: keep these values of an axis (precision, jit, "
                   "steps_per_call, batch), e.g. --only precision=fp32 --only batch=1")
    p.add_argument("--output", help="also write the JSON to this file (appended in --matrix)")
    return p


def main(argv=None):
    p = _parser()
    args = p.parse_args(argv)
    if any(v is not None and v < 1 for v in (args.steps, args.warmup)):  # None: the default
        p.error("need --steps >= 1 and --warmup >= 1")
    if args.matrix:
        try:
            return run_matrix(args, _matrix_filter(args.only))
        except ValueError as exc:
            p.error(str(exc))
    args.steps = 50 if args.steps is None else args.steps
    args.warmup = 10 if args.warmup is None else args.warmup
    from tfpix2pix.config import Config, apply_overrides, validate
    from tfpix2pix.errors import UserError

    try:  # before TensorFlow loads
        source, data_path, direction = machine.training_data(args.data)
        cfg = apply_overrides(Config(), {"data": {"path": data_path, "direction": direction},
                                         "train": {"strategy": "default"}}, "train_speed")
        cfg = validate(apply_overrides(cfg, cli.given(args), "command line"))
    except UserError as exc:
        print(f"train_speed: {exc}", file=sys.stderr)
        return 2
    return run_one(args, source, cfg)


def _matrix_filter(only):
    """{axis: set of kept values as strings} from --only AXIS=V1,V2 arguments."""
    axes = {"precision", "jit", "steps_per_call", "batch"}
    kept = {}
    for item in only:
        axis, sep, values = item.partition("=")
        if not sep or axis not in axes:
            raise ValueError(f"--only {item}: expected AXIS=V1,V2 with AXIS one of "
                             f"{', '.join(sorted(axes))}")
        kept[axis] = set(values.split(","))
    return kept


def run_matrix(args, kept):
    """Each configuration in its own process; a JSON line for each as it finishes."""
    failures = 0
    configs = itertools.product(MATRIX_BATCHES, ("fp32", "mixed_bf16"), ("off", "on"), (1, 8))
    for (batch, norm), precision, jit, per_call in configs:
        values = {"batch": batch, "precision": precision, "jit": jit, "steps_per_call": per_call}
        if any(str(values[axis]) not in allowed for axis, allowed in kept.items()):
            continue
        steps, warmup = MATRIX_STEPS[batch]
        steps = steps if args.steps is None else args.steps
        warmup = warmup if args.warmup is None else args.warmup
        cmd = [sys.executable, os.path.abspath(__file__), "--batch-size", str(batch),
               "--norm", norm, "--precision", precision, "--jit", jit,
               "--steps-per-call", str(per_call), "--steps", str(steps),
               "--warmup", str(warmup)]
        if args.data:
            cmd += ["--data", args.data]
        print(f"matrix: {' '.join(cmd[2:])}", file=sys.stderr)
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        if done.returncode:
            failures += 1
            line = json.dumps({"benchmark": "pix2pix train step, full 256x256 model",
                               "failed": done.returncode, "command": cmd[1:],
                               "machine": machine.describe()})
        else:
            line = json.dumps(json.loads(done.stdout))
        print(line, flush=True)
        if args.output:
            with open(args.output, "a") as fh:
                fh.write(line + "\n")
    return 1 if failures else 0


def run_one(args, source, cfg):
    import keras
    import tensorflow as tf

    import tfpix2pix
    from tfpix2pix.data import folder, pipeline
    from tfpix2pix.errors import UserError
    from tfpix2pix.training.step import Pix2Pix
    from tfpix2pix.training.strategy import make_strategy

    try:
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
    batches = data.distribute(strategy, 0)
    per_call = cfg.train.steps_per_call
    count = tf.constant(per_call)

    def one_call():
        t0 = time.perf_counter()
        if per_call == 1:
            out = model.train_step(next(batches))
        else:
            out = model.train_steps(batches, count)
        metrics = {k: float(v) for k, v in out.items()}
        return time.perf_counter() - t0, metrics

    calls = lambda steps: -(-steps // per_call)  # noqa: E731 - whole calls, rounded up
    first_call_s, _ = one_call()
    print(f"first call (trace{' + XLA compile' * model.jit} + data cache fill): "
          f"{first_call_s:.1f} s", file=sys.stderr)
    for _ in range(calls(args.warmup) - 1):
        one_call()
    timed = [one_call() for _ in range(calls(args.steps))]
    times, metrics = [t for t, _ in timed], timed[-1][1]
    print(f"{len(times) * per_call} timed steps: {sum(times):.1f} s", file=sys.stderr)

    rates = [per_call / t for t in times]
    median = statistics.median(rates)
    deciles = (statistics.quantiles(rates, n=10, method="inclusive") if len(rates) > 1
               else [rates[0], rates[0]])
    onednn_env = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    g, d, m = model.generator, model.discriminator, cfg.model
    trainable = lambda m: sum(int(tf.size(v)) for v in m.trainable_variables)  # noqa: E731
    result = {
        "benchmark": "pix2pix train step, full 256x256 model",
        "median_steps_per_s": round(median, 4),
        "mean_steps_per_s": round(len(times) * per_call / sum(times), 4),
        "p10_steps_per_s": round(deciles[0], 4),
        "p90_steps_per_s": round(deciles[-1], 4),
        "images_per_s": round(median * cfg.train.batch_size, 4),
        "timed_steps": len(times) * per_call, "timed_calls": len(times),
        "warmup_steps": calls(args.warmup) * per_call,
        "total_timed_s": round(sum(times), 3),
        "first_call_s": round(first_call_s, 3),  # tracing (+ XLA) + filling the data cache
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "final_metrics": {k: round(v, 4) for k, v in metrics.items()},
        "settings": dict(batch_size=cfg.train.batch_size, load_size=cfg.data.load_size,
                         crop_size=cfg.data.crop_size, netG=m.netG, netD=m.netD, ngf=m.ngf,
                         ndf=m.ndf, norm=m.norm, dropout=not m.no_dropout, flip=not
                         cfg.data.no_flip, strategy=type(strategy).__name__.lstrip("_"),
                         replicas=strategy.num_replicas_in_sync, precision=model.precision,
                         xla=model.jit, steps_per_call=per_call, data_cache=cfg.data.cache),
        "params": {"generator": g.count_params(), "discriminator": d.count_params(),
                   "generator_trainable": trainable(g), "discriminator_trainable": trainable(d)},
        "data": {"source": source, "root": os.path.abspath(root), "train_pairs": len(paths),
                 "direction": cfg.data.direction},
        "machine": machine.describe(),
        "gpus": [dev.name for dev in tf.config.list_physical_devices("GPU")],
        "software": {"python": platform.python_version(), "tensorflow": tf.__version__,
                     "keras": keras.__version__, "tfpix2pix": os.path.dirname(tfpix2pix.__file__),
                     "onednn": machine.onednn_enabled(onednn_env),
                     "TF_ENABLE_ONEDNN_OPTS": onednn_env,
                     "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
                     "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()},
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "date_utc": machine.utc_now(),
    }
    machine.emit(result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
