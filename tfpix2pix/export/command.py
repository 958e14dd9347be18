"""``python -m tfpix2pix.export RUN_DIR``: SavedModel, then TFLite and ONNX, each checked.

Every artifact is run right after it is written, on the run's own images when its data
is available, and compared with the Keras generator (in the same test mode): max |diff|
and PSNR are printed and saved to ``<output>/<name>/checks-<version>.json``.
"""

import json
import os
import sys
import tempfile

import numpy as np
import tensorflow as tf

from ..data import folder, pipeline
from ..errors import UserError, native_stderr_silenced
from ..files import WRITE_FAILURES, failure_reason, write_atomic
from ..inference import serving
from ..inference.images import to_uint8
from ..inference.translator import model_info
from ..models import stride
from ..models.test_mode import inference_model
from ..run_folder import restore_generator
from . import compare, saved_model, tflite

CHECK_IMAGES = 4  # images every artifact is compared on
CALIBRATION_IMAGES = 32  # training images that calibrate int8_full


def tflite_kinds(spec):
    kinds = [k.strip() for k in spec.split(",") if k.strip()]
    for kind in kinds:
        if kind not in tflite.KINDS:
            raise UserError(f"--tflite {spec}: unknown kind {kind!r}; use a comma-separated "
                            f"list of {', '.join(tflite.KINDS)}")
    return kinds


def tflite_size(spec, cfg):
    """``--tflite-size`` as the fixed input side in pixels, or None for any size."""
    spec = spec.strip().lower()
    if spec == "any":
        return None
    if spec == "crop":
        return cfg.data.crop_size
    multiple = stride(cfg.model.netG, cfg.model.num_downs)
    if not spec.isdigit() or int(spec) == 0 or int(spec) % multiple:
        raise UserError(f"--tflite-size {spec}: use crop, any, or a positive multiple of "
                        f"{multiple} (the {cfg.model.netG} generator's stride)")
    return int(spec)


def run_images(cfg, count):
    """Up to ``count`` (check, calibration) images from the run's data, or None if it is gone.

    Check images are val/ pairs (train/ if there is none) resized to the training crop
    size; calibration images are training pairs.
    """
    d = cfg.data
    try:
        train_paths, shown = folder.find_pairs(d.path, CHECK_IMAGES, dataset_mode=d.dataset_mode)
    except UserError:
        return None
    # Every check image at the crop size, whatever --preprocess was: TFLite's input is fixed.
    reading = dict(preprocess="resize_and_crop", load_size=d.crop_size, input_nc=d.input_nc,
                   output_nc=d.output_nc)
    check, _ = pipeline.eval_pairs(shown, d.crop_size, d.direction, **reading)
    calibration, _ = pipeline.eval_pairs(train_paths[:count], d.crop_size, d.direction,
                                         **reading)
    return np.asarray(check), np.asarray(calibration)


def demo_info(cfg, have_data, web):
    """What ``tfpix2pix.json`` holds for the demo: where the run's training data is
    (``training_data``: from it the demo of the export derives its drawing colours) and,
    with ``--web``, those colours (``palette``, see ``demo.palette``), derived here for the
    static page; free colour when the data is not there."""
    extra = {"training_data": {"path": cfg.data.path, "dataset_mode": cfg.data.dataset_mode}}
    if web:  # the derivation reads training images: seconds, so only where the page needs it
        from ..demo import palette

        found = palette.from_run_data(cfg) if have_data else None
        extra["palette"] = found or palette.free()
    return extra


def export(opts, out=None):
    """Export ``opts.run_dir`` as ``opts`` (a ``config.ExportConfig``) says; return the checks.

    A write that fails for lack of space or permission is one UserError; each artifact is
    written under a temporary name, removed on failure, so nothing half-written is left.
    """
    try:
        return _export(opts, out or sys.stdout)
    except (OSError, tf.errors.OpError) as exc:
        reason = failure_reason(exc)
        if reason not in WRITE_FAILURES:
            raise
        raise UserError(f"--output {opts.output}: the export could not be written ({reason}); "
                        "nothing half-written was left; free some space (or fix the "
                        "folder's permissions) and export again") from None


def _export(opts, out):
    kinds = tflite_kinds(opts.tflite)
    cfg, generator, step = restore_generator(opts.run_dir)
    lite_size = tflite_size(opts.tflite_size, cfg)
    mode = opts.test_mode or cfg.infer.test_mode
    if mode == "paper" and (kinds or opts.onnx or opts.web):
        raise UserError("--test-mode paper draws dropout masks at random, which TFLite and ONNX "
                        "cannot convert; export paper mode as a SavedModel only")
    data = run_images(cfg, CALIBRATION_IMAGES)
    if data is None and "int8_full" in kinds:
        raise UserError(f"--tflite int8_full calibrates on the run's training images, but "
                        f"--data {cfg.data.path} is not there; make it available or use int8")
    if data is None:
        rng = np.random.default_rng(0)
        size = cfg.data.crop_size
        shape = (CHECK_IMAGES, size, size, cfg.data.input_nc)  # what the generator takes
        check = rng.uniform(-1, 1, shape).astype(np.float32)
        print(f"note: the run's data ({cfg.data.path}) is not available; the checks use random "
              "images", file=out)
    else:
        check, calibration = data

    name = opts.name or cfg.name
    model = inference_model(generator, mode)
    extra = demo_info(cfg, data is not None, opts.web)
    version_dir, float_fn = saved_model.write(model, cfg, mode, step, opts.output, name,
                                              opts.version, extra=extra)
    version = os.path.basename(version_dir)
    print(f"SavedModel  {version_dir}  (step {step}, --test-mode {mode})", file=out)
    reference = float_fn(tf.constant(check))[serving.OUTPUT_KEY].numpy()

    results = {}

    def record(label, path, output, reference=reference):
        diff, psnr = compare.max_abs_diff(output, reference), compare.psnr(output, reference)
        # JSON has no infinity: identical outputs are recorded as "inf".
        results[label] = {"path": path, "max_abs_diff": diff,
                          "psnr_db": psnr if np.isfinite(psnr) else "inf"}
        print(f"  {label:<16} max |diff| {diff:.2e}  PSNR {psnr:.1f} dB vs Keras on "
              f"{len(check)} images", file=out)

    loaded = tf.saved_model.load(version_dir).signatures["serving_default"]
    record("saved_model", version_dir,
           loaded(**{serving.INPUT_KEY: tf.constant(check)})[serving.OUTPUT_KEY].numpy())
    base = os.path.dirname(version_dir)
    multiple = stride(cfg.model.netG, cfg.model.num_downs)
    if kinds:
        lite = _export_tflite(kinds, model, float_fn, multiple, lite_size,
                              os.path.join(base, f"{name}-{version}"), check, reference,
                              calibration if data is not None else None, out)
        for kind, (path, output, lite_reference) in lite.items():
            record(f"tflite_{kind}", path, output, lite_reference)
    if opts.onnx or opts.web:
        from . import onnx
        path = os.path.join(base, f"{name}-{version}.onnx")
        with tempfile.TemporaryDirectory(prefix="tfpix2pix-onnx-") as tmp:
            onnx.convert(saved_model.write_source(model, multiple, tmp, check.shape[-1]), path)
        print(f"ONNX        {path}  ({os.path.getsize(path) / 1e6:.1f} MB)", file=out)
        record("onnx", path, onnx.run(path, check))
    if opts.web:
        from ..demo import server, web
        info = server.page_info(model_info(cfg, mode, step), extra["palette"], 0,
                                web.runs_on())
        examples = [] if data is None else list(to_uint8(check))
        page = web.write(os.path.join(base, "web"), path, info, examples, stream=out)
        print(f"web page    {page}  (serve the folder with any static file server)", file=out)
    checks_path = os.path.join(base, f"checks-{version}.json")
    write_atomic(checks_path, json.dumps(
        {"version": int(version), "test_mode": mode, "training_step": step,
         "tflite_input": _lite_shape(lite_size, check) if kinds else None,
         "images": "run data" if data is not None else "random", "artifacts": results},
        indent=2))
    print(f"checks      {checks_path}", file=out)
    return results


def _lite_shape(size, check):
    channels = check.shape[-1]
    return [None, None, None, channels] if size is None else [1, size, size, channels]


def _export_tflite(kinds, model, float_fn, multiple, size, stem, check, reference,
                   calibration, out):
    """Convert each kind to ``<stem>-<kind>.tflite`` and run it on the check images.

    The source is the export's float translation without its request checks
    (``saved_model.write_source``, in a temporary folder), traced at [1, size, size, C]
    for a fixed ``size``: on a 2-core Zen 3, unet_256 fp32 took 224 ms per image that way
    against 346 ms with dynamic shapes, and dynamic-range int8 83 ms against 14.7 s
    (benchmarks/infer_speed.py); at [N, H, W, C] for ``size`` None. ``multiple`` is the
    generator's stride. Returns kind -> (path, output, reference).
    """
    if size is not None and size != check.shape[1]:  # check images at the TFLite size
        check = tf.image.resize(check, (size, size), method="bicubic").numpy().clip(-1, 1)
        reference = float_fn(tf.constant(check))[serving.OUTPUT_KEY].numpy()
        if calibration is not None:
            calibration = tf.image.resize(calibration, (size, size),
                                          method="bicubic").numpy().clip(-1, 1)
    shape = "x".join("?" if d is None else str(d) for d in _lite_shape(size, check))
    results = {}
    with tempfile.TemporaryDirectory(prefix="tfpix2pix-tflite-") as tmp:
        source = saved_model.write_source(model, multiple, os.path.join(tmp, "source"),
                                          check.shape[-1], size)
        for kind in kinds:
            path = f"{stem}-{kind}.tflite"
            with native_stderr_silenced():  # the converter's and LiteRT's INFO lines
                tflite.convert(source, path, kind,
                               representative=calibration if kind == "int8_full" else None)
                output = tflite.run(path, check)
            print(f"TFLite      {path}  ({os.path.getsize(path) / 1e6:.1f} MB, input {shape})",
                  file=out)
            results[kind] = (path, output, reference)
    return results
