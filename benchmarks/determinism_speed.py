"""What ``--deterministic`` and the NaN guard cost in training speed on this CPU, as JSON.

Three variants of one configuration (``train_speed.py``'s defaults: the paper's unet_256
G, 70x70 PatchGAN D, batch 1, fp32, one step per call; arguments after ``--`` change it,
and ``--netG`` may too), each timed by ``train_speed.py`` in a fresh process, because
TensorFlow's op determinism is a process-wide switch that kernels read when they are
created:

- ``default``: what a run does without ``--deterministic``, NaN guard included;
- ``deterministic``: the same with ``tf.config.experimental.enable_op_determinism()``;
- ``no_guard``: without ``--deterministic`` and with ``--nan-policy off`` (each update
  applied unconditionally, no BatchNorm roll-back), as before the guard.

The variants run interleaved, round after round (the order rotates each round), for each
oneDNN setting asked for (``TF_ENABLE_ONEDNN_OPTS`` 1 and 0 by default), so that a
machine whose load drifts affects them alike. Each round compares the variants' median
steps/s within the round; the summary gives the median over rounds of those ratios. On a
machine shared with other work, say so with ``--shared`` (recorded in the JSON): only the
ratios within this run mean anything then, not the absolute rates.

    python benchmarks/determinism_speed.py --rounds 3
    python benchmarks/determinism_speed.py --shared --onednn 1 -- --netG unet_128 \
        --crop-size 128 --load-size 143

Only JSON goes to stdout; progress goes to stderr.
"""

import argparse
import os
import statistics
import sys

import machine  # benchmarks/machine.py

HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = ("default", "deterministic", "no_guard")


def child(variant, train_speed_args):
    """Run train_speed.py in this process, as ``variant``."""
    machine.quiet_and_importable()
    sys.path.insert(0, HERE)
    import train_speed

    # The generator may be chosen too (a smaller one when the machine is busy).
    train_speed.CONFIG_FLAGS += ("model.netG",)
    import tensorflow as tf

    train_speed.CONFIG_FLAGS += ("train.nan_policy",)
    if variant == "deterministic":
        tf.config.experimental.enable_op_determinism()
    elif variant == "no_guard":
        train_speed_args = [*train_speed_args, "--nan-policy", "off"]
    return train_speed.main(train_speed_args)


def _run(variant, onednn, train_speed_args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": onednn}
    cmd = [sys.executable, os.path.abspath(__file__), "--child", variant, "--",
           *train_speed_args]
    return machine.run_json(cmd, env, f"determinism_speed: {variant} (oneDNN {onednn})")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    argv, extra = machine.split_at_dashes(argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=20, help="timed steps per process")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first, per process")
    p.add_argument("--onednn", default="1,0", help="TF_ENABLE_ONEDNN_OPTS values to run")
    p.add_argument("--shared", action="store_true", help="the machine is shared with other "
                   "work: recorded, so that only the ratios are read")
    p.add_argument("--output", help="also write the JSON to this file")
    p.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args.child, extra)
    train_speed_args = ["--steps", str(args.steps), "--warmup", str(args.warmup), *extra]

    results, last = {}, {}
    for onednn in args.onednn.split(","):
        def measure(variant, round_number):
            out = last["out"] = _run(variant, onednn, train_speed_args)
            print(f"oneDNN {onednn} round {round_number} {variant}: "
                  f"{out['median_steps_per_s']} steps/s (load {out['load_average_at_end'][0]})",
                  file=sys.stderr)
            return out["median_steps_per_s"]

        rounds = machine.interleaved(args.rounds, VARIANTS, measure)
        out = last["out"]
        ratio = lambda v: statistics.median(e[v] / e["default"] for e in rounds)  # noqa: E731
        results[f"onednn_{onednn}"] = {
            "median_steps_per_s": {v: statistics.median(e[v] for e in rounds)
                                   for v in VARIANTS},
            "deterministic_over_default": round(ratio("deterministic"), 4),
            "no_guard_over_default": round(ratio("no_guard"), 4),
            "rounds": rounds, "settings": out["settings"], "software": out["software"]}
    s = out["settings"]
    result = {"benchmark": f"--deterministic and NaN guard speed cost, {s['netG']} at "
                           f"{s['crop_size']}x{s['crop_size']}",
              "machine_shared": bool(args.shared),
              "note": ("machine shared with a background training run: absolute rates are "
                       "disturbed; compare only the ratios, measured within each round")
              if args.shared else "otherwise idle machine",
              "timed_steps_per_process": args.steps, "warmup_steps": args.warmup,
              "rounds": args.rounds, "results": results, "train_speed_args": train_speed_args,
              "machine": machine.describe(), "date_utc": machine.utc_now()}
    machine.emit(result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
