"""Inference latency of the 256x256 generator by the runtimes the docs report, as JSON.

One facades label map (256x256, batch 1) through the U-Net-256 generator in the ``eval``
test mode, by each of these paths (the ones docs/speed.md reports):

- ``keras_tf_function``: the Keras inference model in the package's float ``tf.function``
  (``serving.float_fn``) under TensorFlow's defaults: the path load() took before it was
  made faster, and the reference for speed-ups and for the output checks;
- ``package_load``: ``tfpix2pix.load()`` of the export, called before TensorFlow is
  imported, exactly as predict and the Python API do by default (it sets
  TF_ENABLE_ONEDNN_OPTS=1 unless set, rebuilds the generator from the export and runs
  ``translator.float_function``: frozen weights, large deconvolutions as four convs);
- ``tflite_fp32``, ``tflite_int8``: the generator converted to TFLite (float32, and int8
  dynamic range) with any input size, as ``export --tflite-size any`` writes it, run in
  LiteRT with its default XNNPACK delegate. The any-size signature leaves the TFLite
  tensors' shapes dynamic, which is far slower in LiteRT: as if XNNPACK took none of the
  convolutions (int8 dynamic range then takes seconds per image);
- ``tflite_fp32_static``, ``tflite_int8_static``: the same conversions with the input
  fixed at [1, 256, 256, 3], as ``export --tflite`` writes them by default
  (``--tflite-size crop``);
- ``onnxruntime_package_session``: the generator converted with tf2onnx, as ``export
  --onnx`` does, run by ONNX Runtime with the session that ``export.onnx.run`` opens.

Every variant runs in a fresh subprocess, so an environment variable applies before
TensorFlow is imported and no two runtimes share a thread pool. A timed call is one
numpy image in and one numpy image out (host copies included), as ``Translator`` does;
the images cycle through facades val pairs. After the warm-up calls, the median of
``--calls`` calls is the headline; with ``--rounds R`` the variants run R times in turn
and each figure is the median over rounds, speed-ups taken within a round. Outputs on
the same images are compared with the reference: PSNR (range 2 for [-1, 1]) and
max |diff|. A variant whose max |diff| is at most 1e-4 computes "the same" model and may
serve as a default; quantised ones may not.

Weights: a run folder's latest checkpoint with ``--run-dir``; otherwise random weights
(seeded) whose BatchNorm statistics are calibrated by training-mode calls on facades
train label maps. Random weights make quantisation PSNR pessimistic.

    python benchmarks/infer_speed.py                  # 5 warm-up + 30 timed calls each
    python benchmarks/infer_speed.py --out            # also to benchmarks/results/
    python benchmarks/infer_speed.py --run-dir runs/facades --variants tflite_fp32_static

Only the JSON goes to stdout; run on an otherwise idle machine.
"""

import argparse
import datetime
import glob
import importlib.metadata
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import machine  # benchmarks/machine.py

REPO_ROOT, DEFAULT_DATA = machine.REPO_ROOT, machine.DEFAULT_DATA
machine.quiet_and_importable()
RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results")
SIZE = 256
ONEDNN = "TF_ENABLE_ONEDNN_OPTS"
REFERENCE = "keras_tf_function"
SAME_OUTPUT_TOL = 1e-4  # max |diff| vs the reference for a path that may be the default
TARGETS = {"default_speedup_vs_tf_function": 1.5, "tflite_int8_speedup_vs_fp32": 1.5,
           "tflite_int8_min_psnr_db": 35.0}
TFLITE_KINDS = ("fp32", "int8")  # int8: dynamic-range quantisation
QUANTISED = {f"tflite_int8{s}" for s in ("", "_static")}


def _variants():
    """name -> (environment changes, options). An env value None removes the variable."""
    tf_default = {ONEDNN: None}  # TensorFlow decides (on x86: on only with AVX-512 VNNI/BF16/AMX)
    v = {REFERENCE: (tf_default, {"backend": "keras"}),
         # tfpix2pix.load() of the export, which sets TF_ENABLE_ONEDNN_OPTS=1 unless set
         # and translates through translator.float_function: what predict and load() do
         "package_load": (tf_default, {"backend": "package"})}
    for static in (False, True):
        for kind in TFLITE_KINDS:
            name = f"tflite_{kind}" + ("_static" if static else "")
            v[name] = ({}, {"backend": "tflite", "kind": kind, "static": static})
    v["onnxruntime_package_session"] = ({}, {"backend": "onnx"})
    return v


VARIANTS = _variants()


# ----------------------------------------------------------------------------- images

def _label_maps(folder, count, offset=0):
    """Facades pairs are [photo | labels]: the right half, 256x256, as float32 in [-1, 1]."""
    import numpy as np
    from PIL import Image

    def number(path):
        stem = os.path.splitext(os.path.basename(path))[0]
        return (0, int(stem), "") if stem.isdigit() else (1, 0, stem)

    paths = sorted(glob.glob(os.path.join(folder, "*.jpg")) +
                   glob.glob(os.path.join(folder, "*.png")), key=number)[offset:offset + count]
    if len(paths) < count:
        raise SystemExit(f"infer_speed: need {count} images in {folder}, found {len(paths)}")
    out = []
    for path in paths:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            labels = im.crop((w // 2, 0, w, h))
            if labels.size != (SIZE, SIZE):
                labels = labels.resize((SIZE, SIZE), Image.BICUBIC)
            out.append(np.asarray(labels, dtype=np.float32) / 127.5 - 1.0)
    return np.stack(out), [os.path.basename(p) for p in paths]


# ----------------------------------------------------------------------------- preparation

def prepare(work, opts):
    """In a subprocess: weights, inputs, the SavedModel, TFLite and ONNX files in ``work``."""
    import numpy as np

    t_start = time.perf_counter()
    eval_x, eval_names = _label_maps(os.path.join(opts["data"], "val"), opts["images"])
    calib_x, _ = _label_maps(os.path.join(opts["data"], "train"), opts["bn_calls"])
    np.save(os.path.join(work, "inputs.npy"), eval_x)

    import keras
    import tensorflow as tf

    from tfpix2pix import config as C
    from tfpix2pix.export import onnx as onnx_export
    from tfpix2pix.export import saved_model, tflite
    from tfpix2pix.models import build_generator, generator_kwargs, stride
    from tfpix2pix.models.test_mode import inference_model
    from tfpix2pix.run_folder import restore_generator

    if opts["run_dir"]:
        cfg, generator, step = restore_generator(opts["run_dir"])
        weights = {"source": "checkpoint", "run_dir": os.path.abspath(opts["run_dir"]),
                   "training_step": step, "bn_statistics": "from training"}
    else:
        keras.utils.set_random_seed(opts["seed"])
        cfg, step = C.Config(), 0
        generator = build_generator(**generator_kwargs(cfg.model))
        calibrate = tf.function(lambda x: generator(x, training=True))
        for i in range(len(calib_x)):
            calibrate(tf.constant(calib_x[i:i + 1]))
        weights = {"source": "random", "seed": opts["seed"],
                   "bn_statistics": f"calibrated by {len(calib_x)} training-mode calls on "
                                    f"facades train label maps (momentum 0.9)",
                   "note": "random weights: quantised PSNR is pessimistic vs a trained model"}
    if (cfg.model.netG, cfg.model.ngf) != ("unet_256", 64):
        raise SystemExit(f"infer_speed: the run's generator is {cfg.model.netG} with ngf "
                         f"{cfg.model.ngf}; this benchmark is for unet_256, ngf 64")
    generator.save_weights(os.path.join(work, "generator.weights.h5"))
    meta = {"run_dir": opts["run_dir"], "weights": weights, "eval_images": eval_names,
            "generator_params": generator.count_params(), "netG": cfg.model.netG,
            "norm": cfg.model.norm, "files": {}, "prepare_s": {}}

    def timed(key, fn, *args, **kwargs):
        t0 = time.perf_counter()
        path = fn(*args, **kwargs)
        meta["prepare_s"][key] = round(time.perf_counter() - t0, 1)
        return path

    model = inference_model(generator, "eval")
    version_dir, float_fn = timed("saved_model", saved_model.write, model, cfg, "eval", step,
                                  os.path.join(work, "exported"), "bench")
    meta["files"]["saved_model"] = version_dir
    # The converters read a SavedModel of the float translation without the request checks,
    # as the export writes it: any N, H, W (every tensor's shape known only at run time), or
    # "_static", fixed at [1, 256, 256, 3] (the padding then folds away).
    multiple = stride(cfg.model.netG, cfg.model.num_downs)
    for suffix, size in (("", None), ("_static", SIZE)):
        source = timed(f"converter_source{suffix}", saved_model.write_source, model, multiple,
                       os.path.join(work, f"source{suffix}"), 3, size)
        for kind in TFLITE_KINDS:
            meta["files"][f"tflite_{kind}{suffix}"] = timed(
                f"tflite_{kind}{suffix}", tflite.convert, source,
                os.path.join(work, f"g_{kind}{suffix}.tflite"), kind)
        if not suffix:  # export --onnx converts the any-size source
            meta["files"]["onnx"] = timed("onnx", onnx_export.convert, source,
                                          os.path.join(work, "g.onnx"))
    meta["file_mib"] = {k: round(_size(p) / 2**20, 1) for k, p in meta["files"].items()}
    meta["prepare_s"]["total"] = round(time.perf_counter() - t_start, 1)
    with open(os.path.join(work, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=2)


def _size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


# ----------------------------------------------------------------------------- one variant

def _keras_runner(work, meta):
    """The reference: the Keras inference model in the package's float tf.function."""
    import numpy as np
    import tensorflow as tf

    from tfpix2pix import config as C
    from tfpix2pix.inference import serving
    from tfpix2pix.models import build_generator, generator_kwargs, stride
    from tfpix2pix.models.test_mode import inference_model
    from tfpix2pix.run_folder import read_config

    cfg = read_config(meta["run_dir"]) if meta["run_dir"] else C.Config()
    generator = build_generator(**generator_kwargs(cfg.model))
    generator.load_weights(os.path.join(work, "generator.weights.h5"))
    model = inference_model(generator, "eval")
    fn = serving.float_fn(model, stride(cfg.model.netG, cfg.model.num_downs), 3)
    settings = {"onednn_enabled": _onednn_enabled(),
                "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
                "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()}

    def run(x):
        return np.asarray(fn(tf.constant(x))["output"])
    return run, settings, (generator, model, fn)


def _package_runner(meta):
    """What predict and load() do: tfpix2pix.load before TensorFlow is imported."""
    import numpy as np

    import tfpix2pix

    translator = tfpix2pix.load(meta["files"]["saved_model"])  # the eval-mode export

    def run(x):
        return translator.translate_batch(np.asarray(x))
    settings = {"onednn_enabled": _onednn_enabled(),
                "TF_ENABLE_ONEDNN_OPTS": os.environ.get(ONEDNN)}
    return run, settings, translator


def _onednn_enabled():
    try:
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def _tflite_runner(meta, options, threads):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    static = "_static" if options.get("static") else ""
    interpreter = Interpreter(model_path=meta["files"][f"tflite_{options['kind']}{static}"],
                              num_threads=threads)
    inp, = interpreter.get_input_details()
    interpreter.resize_tensor_input(inp["index"], [1, SIZE, SIZE, 3], strict=False)
    interpreter.allocate_tensors()
    outputs = interpreter.get_output_details()
    out = next((d for d in outputs if "output" in d["name"]), outputs[0])["index"]

    def run(x):
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return np.array(interpreter.get_tensor(out), dtype=np.float32)

    return run, {"num_threads": threads, "delegate": "XNNPACK (LiteRT default)"}, interpreter


def _onnx_runner(meta):
    """The session that export.onnx.run opens: ONNX Runtime's defaults, on the CPU."""
    import numpy as np
    import onnxruntime as ort

    settings = {"onnxruntime": ort.__version__,
                "session": "onnxruntime defaults (as tfpix2pix.export.onnx.run)"}
    session = ort.InferenceSession(meta["files"]["onnx"], providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    names = [o.name for o in session.get_outputs()]
    output = "output" if "output" in names else names[0]

    def run(x):
        return np.asarray(session.run([output], {name: x})[0], dtype=np.float32)
    return run, settings, session


def run_variant(work, name, calls, warmup, threads, budget_s):
    """In a subprocess: time one variant, save its outputs, write its JSON to ``work``."""
    import numpy as np

    _, options = VARIANTS[name]
    with open(os.path.join(work, "meta.json")) as fh:
        meta = json.load(fh)
    images = np.load(os.path.join(work, "inputs.npy"))
    t0 = time.perf_counter()
    if options["backend"] == "package":
        run, settings, keep = _package_runner(meta)
    elif options["backend"] == "keras":
        run, settings, keep = _keras_runner(work, meta)
    elif options["backend"] == "tflite":
        run, settings, keep = _tflite_runner(meta, options, threads)
    else:
        run, settings, keep = _onnx_runner(meta)
    load_s = time.perf_counter() - t0
    def one(i):
        return run(images[i % len(images)][None])

    def timed_call(i):
        t0 = time.perf_counter()
        one(i)
        return (time.perf_counter() - t0) * 1e3

    t_warm = time.perf_counter()
    first_ms = last_ms = timed_call(0)
    done = 1
    while done < warmup and time.perf_counter() - t_warm < budget_s / 4:
        last_ms, done = timed_call(done), done + 1
    # A variant far slower than the rest (a reference kernel) gets fewer calls and images.
    n_calls = calls if last_ms * calls <= budget_s * 1e3 else \
        min(calls, max(3, int(budget_s * 1e3 / last_ms)))
    n_images = len(images) if last_ms * len(images) <= budget_s * 500 else \
        max(1, int(budget_s * 500 / last_ms))
    times = [timed_call(i) for i in range(n_calls)]
    outputs = np.concatenate([one(i) for i in range(n_images)])
    np.save(os.path.join(work, f"out-{name}.npy"), outputs)
    deciles = statistics.quantiles(times, n=10, method="inclusive")
    result = {"variant": name, "median_ms": round(statistics.median(times), 2),
              "p10_ms": round(deciles[0], 2), "p90_ms": round(deciles[-1], 2),
              "mean_ms": round(statistics.fmean(times), 2), "first_call_ms": round(first_ms, 1),
              "timed_calls": n_calls, "warmup_calls": done, "compared_images": n_images,
              "load_s": round(load_s, 2), "env": {k: v for k, v in VARIANTS[name][0].items()},
              "options": options, "settings": settings}
    with open(os.path.join(work, f"result-{name}.json"), "w") as fh:
        json.dump(result, fh)
    del keep


# ----------------------------------------------------------------------------- driver

def _child(work, args, env_changes=None, log=None):
    env = dict(os.environ)
    for key, value in (env_changes or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    cmd = [sys.executable, os.path.abspath(__file__), "--_work", work] + args
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if proc.returncode:
        with open(log) as fh:
            tail = fh.read()[-3000:]
        print(tail, file=sys.stderr)
    return proc.returncode


def _compare(ref, out):
    import numpy as np

    diff = out.astype(np.float64) - ref.astype(np.float64)
    mse = float(np.mean(diff ** 2))
    psnr = math.inf if mse == 0 else 10 * math.log10(4.0 / mse)  # range 2 for [-1, 1]
    return (None if math.isinf(psnr) else round(psnr, 2)), float(np.max(np.abs(diff)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=30, help="timed calls per variant (default 30)")
    p.add_argument("--rounds", type=int, default=1,
                   help="run the variants this many times in turn; medians and speed-ups "
                        "are taken over rounds (default 1)")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls first, incl. tracing")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="LiteRT threads (default: all logical cores)")
    p.add_argument("--budget-s", type=float, default=120,
                   help="a variant slower than this for its calls gets fewer (at least 3) "
                        "and is compared on fewer images (default 120 s)")
    p.add_argument("--images", type=int, default=8,
                   help="facades val label maps to cycle through and compare on (default 8)")
    p.add_argument("--bn-calls", type=int, default=32,
                   help="training-mode calls that calibrate BatchNorm of random weights")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    p.add_argument("--run-dir", help="use this unet_256 run folder's latest checkpoint "
                   "instead of random weights")
    p.add_argument("--data", default=os.path.normpath(DEFAULT_DATA),
                   help="facades folder with train/ and val/ (default ../shared/data/facades)")
    p.add_argument("--variants", help=f"comma-separated subset of: {', '.join(VARIANTS)} "
                   f"({REFERENCE} is always run)")
    p.add_argument("--workdir", help="keep the exported models here (default: a temporary "
                   "folder, removed afterwards)")
    p.add_argument("--out", nargs="?", const="", metavar="PATH",
                   help="also write the JSON to PATH; without PATH to "
                        "benchmarks/results/infer_speed-<date>-<cpu>.json")
    p.add_argument("--_work", help=argparse.SUPPRESS)
    p.add_argument("--_prepare", default=None, help=argparse.SUPPRESS)
    p.add_argument("--_variant", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args._variant:
        run_variant(args._work, args._variant, args.calls, args.warmup, args.threads,
                    args.budget_s)
        return 0
    if args._prepare:
        prepare(args._work, json.loads(args._prepare))
        return 0
    if args.calls < 2 or args.warmup < 1:
        p.error("need --calls >= 2 and --warmup >= 1 (the first call traces the graph)")
    names = list(VARIANTS)
    if args.variants:
        wanted = [v.strip() for v in args.variants.split(",") if v.strip()]
        unknown = [v for v in wanted if v not in VARIANTS]
        if unknown:
            p.error(f"unknown variant(s) {', '.join(unknown)}: use {', '.join(VARIANTS)}")
        names = [REFERENCE] + [v for v in wanted if v != REFERENCE]

    t_start = time.perf_counter()
    work = os.path.abspath(args.workdir) if args.workdir else tempfile.mkdtemp(prefix="infer_")
    os.makedirs(work, exist_ok=True)
    try:
        return _drive(args, names, work, t_start)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def _drive(args, names, work, t_start):
    import numpy as np

    opts = {"data": args.data, "images": args.images, "bn_calls": args.bn_calls,
            "seed": args.seed, "run_dir": args.run_dir}
    print("preparing: weights, SavedModel, TFLite x4, ONNX ...", file=sys.stderr)
    if _child(work, ["--_prepare", json.dumps(opts)], log=os.path.join(work, "prepare.log")):
        print("infer_speed: preparation failed (log above)", file=sys.stderr)
        return 1
    with open(os.path.join(work, "meta.json")) as fh:
        meta = json.load(fh)

    results, failed = [], {}
    common = ["--calls", str(args.calls), "--warmup", str(args.warmup),
              "--threads", str(args.threads), "--budget-s", str(args.budget_s)]
    rounds = {}  # name -> one result per round
    for round_ in range(args.rounds):
        for name in names:
            if name in failed:
                continue
            env, _ = VARIANTS[name]
            code = _child(work, ["--_variant", name] + common, env,
                          log=os.path.join(work, f"log-{name}.txt"))
            if code:
                failed[name] = f"exit status {code}"
                print(f"{name}: failed", file=sys.stderr)
                continue
            with open(os.path.join(work, f"result-{name}.json")) as fh:
                rounds.setdefault(name, []).append(json.load(fh))
            print(f"round {round_ + 1}/{args.rounds} {name}: "
                  f"{rounds[name][-1]['median_ms']:.1f} ms", file=sys.stderr)
    if REFERENCE not in rounds or len(rounds[REFERENCE]) < args.rounds:
        print(f"infer_speed: the reference {REFERENCE} failed", file=sys.stderr)
        return 1
    results = []
    for name, per_round in rounds.items():
        # Ratios are taken within a round (the variant right after its reference), and
        # the median over rounds is reported: drift of the machine's speed over minutes
        # then cancels out instead of landing on whichever variant ran in a slow minute.
        r = dict(per_round[-1])
        r["round_median_ms"] = [x["median_ms"] for x in per_round]
        r["median_ms"] = round(statistics.median(r["round_median_ms"]), 2)
        r["round_speedup_vs_tf_function"] = [
            round(ref["median_ms"] / x["median_ms"], 3)
            for ref, x in zip(rounds[REFERENCE], per_round)]
        results.append(r)

    ref_out = np.load(os.path.join(work, f"out-{REFERENCE}.npy"))
    for r in results:
        out = np.load(os.path.join(work, f"out-{r['variant']}.npy"))
        psnr, max_diff = _compare(ref_out[:len(out)], out)
        r["psnr_db_vs_keras"] = psnr  # null: identical to the reference (infinite PSNR)
        r["max_abs_diff"] = float(f"{max_diff:.3g}")
        r["speedup_vs_tf_function"] = round(statistics.median(
            r["round_speedup_vs_tf_function"]), 3)
        r["same_output"] = max_diff <= SAME_OUTPUT_TOL
        r["quantised"] = r["variant"] in QUANTISED
    by_name = {r["variant"]: r for r in results}

    m = machine.describe()
    exact = [r for r in results if r["same_output"] and not r["quantised"]]
    best = min(exact, key=lambda r: r["median_ms"])
    verdict = {"reference": REFERENCE, "same_output_tolerance": SAME_OUTPUT_TOL,
               "fastest_same_output_variant": best["variant"],
               "its_speedup_vs_tf_function": best["speedup_vs_tf_function"],
               "package_default": None}
    if "package_load" in by_name:
        package = by_name["package_load"]
        verdict["package_default"] = {
            "variant": "package_load", "median_ms": package["median_ms"],
            "speedup_vs_tf_function": package["speedup_vs_tf_function"],
            "same_output": package["same_output"],
            "target_met": package["same_output"] and package["speedup_vs_tf_function"]
            >= TARGETS["default_speedup_vs_tf_function"]}
    for suffix in ("", "_static"):
        fp32 = by_name.get(f"tflite_fp32{suffix}")
        for kind in ("int8",):
            q = by_name.get(f"tflite_{kind}{suffix}")
            if fp32 and q:
                speedup = round(fp32["median_ms"] / q["median_ms"], 3)
                psnr_ok = q["psnr_db_vs_keras"] is None or \
                    q["psnr_db_vs_keras"] >= TARGETS["tflite_int8_min_psnr_db"]
                verdict[f"tflite_{kind}{suffix}"] = {
                    "speedup_vs_tflite_fp32" + suffix: speedup,
                    "psnr_db_vs_keras": q["psnr_db_vs_keras"],
                    "target_met": speedup >= TARGETS["tflite_int8_speedup_vs_fp32"] and psnr_ok}

    versions = {"python": platform.python_version()}
    for dist in ("tensorflow", "tensorflow-cpu", "keras", "ai-edge-litert", "onnxruntime",
                 "tf2onnx", "onnx"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    total_s = round(time.perf_counter() - t_start, 1)
    doc = {
        "benchmark": "pix2pix generator inference latency, one 256x256 image, batch 1",
        "results": results,
        "failed": failed,
        "verdict": verdict,
        "targets": TARGETS,
        "settings": {"calls": args.calls, "warmup": args.warmup, "rounds": args.rounds,
                     "threads": args.threads,
                     "eval_images": meta["eval_images"], "test_mode": "eval",
                     "netG": meta["netG"], "norm": meta["norm"], "batch": 1,
                     "input": "facades val label maps (right half), 256x256, [-1, 1]",
                     "timed_call": "numpy in -> numpy out, one image; median of calls",
                     "precision": "float32 unless the variant is quantised",
                     "subprocess_per_variant": True,
                     "caller_env_TF_ENABLE_ONEDNN_OPTS": os.environ.get(ONEDNN)},
        "weights": meta["weights"],
        "params": {"generator": meta["generator_params"]},
        "files_mib": meta["file_mib"],
        "prepare_s": meta["prepare_s"],
        "machine": m,
        "software": versions,
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "total_run_s": total_s,
        "reference_points_quoted_from_issue_not_measured_here": {
            "cpu": "AMD Zen 1 (AVX2)", "keras_tf_function_ms": 400,
            "keras_tf_function_onednn1_ms": 305, "tflite_fp32_ms": 479,
            "tflite_int8_dynamic_ms": 241, "pytorch_reference_eager_ms": 267},
    }
    text = json.dumps(doc, indent=2)
    print(text)
    if args.out is not None:
        path = args.out or os.path.join(
            RESULTS, f"infer_speed-{datetime.date.today().isoformat()}-{machine.slug(m)}.json")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(text + "\n")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
