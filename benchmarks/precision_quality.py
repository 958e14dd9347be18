"""Does a precision change what is learned? Train the same run in fp32 and in another
precision, then compare their val L1 and SSIM, as JSON.

Each precision trains ``python -m tfpix2pix.train`` in its own process on the same
data, seed and settings (default: facades labels->photo, the paper's full model,
batch 1, 1,500 steps), into ``--work``/<precision>. Then every val pair is
translated by each run's latest checkpoint (its test mode, as predict does), and
the benchmark reports per precision:

- ``val_l1``: mean |G(A) - B| over the val pairs, images in [-1, 1];
- ``val_ssim``: mean SSIM of G(A) against B (``tf.image.ssim`` on [0, 1], max 1);
- ``train_s``: the training process's wall time;

and for each non-reference precision its relative difference to the reference
(``--reference``, default fp32) and whether both stay within ``--tolerance`` (3%).

``--jit`` (default on) is passed to every run: on a CPU without AVX512_BF16 or AMX,
TensorFlow's own bfloat16 kernels are emulated and about 8x slower than fp32, while
XLA's are close to fp32 speed, and XLA does not change what a step computes.

    python benchmarks/precision_quality.py
    python benchmarks/precision_quality.py --steps 300 --precisions fp32,mixed_bf16

Only JSON goes to stdout; run on an otherwise idle machine.
"""

import argparse
import os
import subprocess
import sys
import time

import machine  # benchmarks/machine.py

machine.quiet_and_importable()


def train(precision, args, data_path, direction):
    run_dir = os.path.abspath(os.path.join(args.work, precision))
    cmd = [sys.executable, "-m", "tfpix2pix.train", "--data", data_path, "--direction",
           direction, "--precision", precision, "--jit", args.jit, "--seed", str(args.seed),
           "--max-steps", str(args.steps), "--run-dir", run_dir,
           "--image-every", str(args.steps), "--checkpoint-every", str(args.steps)]
    print(f"precision_quality: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    # From the checkout's root, so that ``-m`` imports this checkout's package.
    done = subprocess.run(cmd, cwd=machine.REPO_ROOT, stdout=sys.stderr)
    return run_dir, round(time.perf_counter() - start, 1), done.returncode


def evaluate(run_dir, val, crop_size, direction, batch=10):
    import numpy as np
    import tensorflow as tf

    from tfpix2pix.data.pipeline import eval_pairs
    from tfpix2pix.inference.translator import from_run

    translator = from_run(run_dir)
    real_a, real_b = eval_pairs(val, crop_size, direction)
    l1, ssim = [], []
    for i in range(0, real_a.shape[0], batch):
        fake = tf.constant(translator.translate_batch(real_a[i:i + batch].numpy()))
        target = real_b[i:i + batch]
        l1.append(tf.reduce_mean(tf.abs(fake - target), axis=[1, 2, 3]).numpy())
        ssim.append(tf.image.ssim((fake + 1) / 2, (target + 1) / 2, max_val=1.0).numpy())
    return {"val_l1": round(float(np.concatenate(l1).mean()), 5),
            "val_ssim": round(float(np.concatenate(ssim).mean()), 5),
            "val_pairs": int(real_a.shape[0]), "training_step": translator.info["training_step"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="dataset folder with train/ and val/ (default: facades at "
                                  "../shared/data/facades if present, else builtin:shapes)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--precisions", default="fp32,mixed_bf16")
    p.add_argument("--reference", default="fp32")
    p.add_argument("--jit", choices=("on", "off"), default="on")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tolerance", type=float, default=0.03)
    p.add_argument("--work", default=os.path.join("runs", "precision_quality"),
                   help="run folders go here, one per precision (reused: a rerun resumes)")
    p.add_argument("--output", help="also write the JSON to this file")
    args = p.parse_args(argv)
    precisions = args.precisions.split(",")
    if args.reference not in precisions:
        p.error(f"--reference {args.reference}: not in --precisions {args.precisions}")

    from tfpix2pix.config import Config
    from tfpix2pix.data import folder
    from tfpix2pix.errors import UserError

    name, data_path, direction = machine.training_data(args.data)
    try:
        _train, val = folder.find_splits(data_path)
    except UserError as exc:
        print(f"precision_quality: {exc}", file=sys.stderr)
        return 2
    if val is None:
        print(f"precision_quality: --data {data_path}: no val/ split to evaluate on",
              file=sys.stderr)
        return 2
    crop_size = Config().data.crop_size
    runs = {}
    for precision in precisions:
        run_dir, train_s, code = train(precision, args, data_path, direction)
        if code:
            print(f"precision_quality: training in {precision} failed (exit {code})",
                  file=sys.stderr)
            return 1
        runs[precision] = {"train_s": train_s, "run_dir": run_dir,
                           **evaluate(run_dir, val, crop_size, direction)}
    ref = runs[args.reference]
    comparison = {}
    for precision, run in runs.items():
        if precision == args.reference:
            continue
        l1 = run["val_l1"] / ref["val_l1"] - 1
        ssim = run["val_ssim"] / ref["val_ssim"] - 1
        comparison[precision] = {
            "val_l1_rel_diff": round(l1, 4), "val_ssim_rel_diff": round(ssim, 4),
            "within_tolerance": abs(l1) <= args.tolerance and abs(ssim) <= args.tolerance}
    machine.emit({
        "benchmark": f"precision quality: val L1 and SSIM after {args.steps} steps",
        "runs": runs, "reference": args.reference, "tolerance": args.tolerance,
        "comparison": comparison,
        "settings": {"data": name, "direction": direction, "crop_size": crop_size,
                     "steps": args.steps, "seed": args.seed, "jit": args.jit,
                     "model": "paper default (unet_256, basic D, batch norm, batch 1)"},
        "machine": machine.describe(), "date_utc": machine.utc_now(),
    }, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
