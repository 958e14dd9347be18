"""Time README command 1's training (the built-in demo) and measure what it learned, as JSON.

Trains the demo preset (``config.DEMO_PRESET``: the built-in ``shapes`` set, 64 px)
in this process into a temporary run folder, exactly as
``python -m tfpix2pix.train`` without arguments does, and reports:

- ``train_s``: seconds from the start of ``loop.train`` to its end (model build,
  tracing, the steps, grids and checkpoints; not the TensorFlow import or the
  one-off generation of the dataset, which are timed apart);
- ``val_l1``: the mean |G(A) - B| (images in [-1, 1]) over the built-in val pairs,
  with the trained generator in the run's test mode, and ``val_l1_untrained`` for
  the same generator before its first step; and the L1 of answering with A itself
  (``val_l1_identity``) as a floor for "learned nothing".

``--set key=value`` changes the preset (``--set model.ngf=16``), to compare
lighter demos with the same measurements.

    python benchmarks/demo_speed.py
    python benchmarks/demo_speed.py --set model.ngf=16 --set train.n_epochs=6

Only JSON goes to stdout; run on an otherwise idle machine.
"""

import argparse
import io
import os
import platform
import shutil
import sys
import tempfile
import time

import machine  # benchmarks/machine.py

machine.quiet_and_importable()


def _value(text):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a demo preset value (dotted config key)")
    p.add_argument("--keep", metavar="DIR", help="copy the run folder here at the end")
    p.add_argument("--output", help="also append the JSON line to this file")
    args = p.parse_args(argv)

    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--set {item}: expected KEY=VALUE")
        *parents, leaf = key.split(".")
        node = overrides
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _value(value)

    t = time.perf_counter()
    import keras
    import numpy as np
    import tensorflow as tf
    import_s = time.perf_counter() - t

    from tfpix2pix import config as C
    from tfpix2pix import run_folder
    from tfpix2pix.data import folder, pipeline, synthetic
    from tfpix2pix.training import loop
    from tfpix2pix.training.step import Pix2Pix

    t = time.perf_counter()
    root = synthetic.ensure_builtin_dataset()
    dataset_s = time.perf_counter() - t

    scratch = tempfile.mkdtemp(prefix="tfpix2pix-demo-speed-")
    try:
        cfg = C.apply_overrides(C.Config(), C.DEMO_PRESET, "demo preset")
        cfg = C.apply_overrides(cfg, overrides, "--set")
        cfg = C.apply_overrides(cfg, {"log": {"run_dir": os.path.join(scratch, "demo")}},
                                "demo_speed")
        C.validate(cfg)
        val = folder.list_images(root, "val")
        real_a, real_b = pipeline.eval_pairs(val, cfg.data.crop_size, cfg.data.direction)

        def generator_output(checkpoint=None):
            # Built as the loop builds it (same seed, so the same initial weights).
            keras.utils.set_random_seed(cfg.train.seed)
            model = Pix2Pix(cfg, tf.distribute.get_strategy(), steps_per_epoch=1)
            if checkpoint:
                model.restore(checkpoint)
            return model, model.translate(real_a).numpy()

        _model, untrained = generator_output()
        t = time.perf_counter()
        summary = loop.train(cfg, out=io.StringIO(), err=io.StringIO())
        train_s = time.perf_counter() - t
        model, trained = generator_output(
            run_folder.latest_checkpoint(cfg.run_dir))
        l1 = lambda x: float(np.mean(np.abs(x - real_b.numpy())))  # noqa: E731
        steps = summary["step"] - summary["start_step"]
        if args.keep:
            shutil.copytree(cfg.run_dir, args.keep, dirs_exist_ok=True)
        result = {
            "benchmark": "README command 1: the built-in demo's training",
            "train_s": round(train_s, 1),
            "steps": steps,
            "images_per_s": round(steps * cfg.train.batch_size / train_s, 2),
            "val_l1": round(l1(trained), 4),
            "val_l1_untrained": round(l1(untrained), 4),
            "val_l1_identity": round(l1(real_a.numpy()), 4),
            "val_pairs": len(val),
            "tensorflow_import_s": round(import_s, 1),
            "dataset_generation_s": round(dataset_s, 1),
            "settings": {"overrides": overrides, "data": C.to_dict(cfg)["data"],
                         "model": C.to_dict(cfg)["model"], "train": C.to_dict(cfg)["train"]},
            "params": {"generator": model.generator.count_params(),
                       "discriminator": model.discriminator.count_params()},
            "machine": machine.describe(),
            "software": {"python": platform.python_version(), "tensorflow": tf.__version__,
                         "keras": keras.__version__},
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "date_utc": machine.utc_now(),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    machine.emit(result, args.output, lines=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
