"""Translate a split and score it: the loop behind ``python -m tfpix2pix.evaluate``.

``evaluate(opts)`` takes the command's options (``model``, ``data``, ``split``, ``out``,
``test_mode``, ``full_size``, ``crop_size``, ``palette``, ``fid``, ``kid``,
``inception``, ``samples``), checks the cheap things first (the split, the palette, the
Inception file), then loads the model, translates every pair once, one at a time, and
writes the report. The model's input side of each pair is translated in the run's test
mode (or ``--test-mode``), and its output is compared with the other side.
"""

import os
import sys

import numpy as np

from .. import run_folder
from ..errors import UserError
from ..progress import Count
from . import metrics, palettes, report, split


def sizes_for(opts, cfg, info):
    """The protocol's ``split.Sizes``: full size, or the crop size (--crop-size, the run's
    config, or the export's record)."""
    if opts.full_size:
        return split.Sizes(None)
    crop = opts.crop_size or (cfg.data.crop_size if cfg is not None else info.get("crop_size"))
    if not crop:
        raise UserError(f"--model {opts.model}: an export does not record the crop size it "
                        "was trained at; pass --crop-size N, or --full-size")
    return split.Sizes(int(crop))


def default_out(info, split_name):
    return os.path.join("evaluation", f"{info['name']}-{split_name}")


def evaluate(opts, err=None):
    """Score ``opts.model`` on ``opts.split`` of ``opts.data``; return (metrics, out folder)."""
    from ..inference import images
    from ..inference.translator import load

    err = err or sys.stderr
    cfg = run_folder.read_config(opts.model) if run_folder.is_run_folder(opts.model) else None
    mode = cfg.data.dataset_mode if cfg is not None else "auto"
    pairs = split.find_split(opts.data, opts.split, mode)
    palette = palettes.load(opts.palette) if opts.palette else None
    features = _feature_sets(opts, err)
    translator = load(opts.model, opts.test_mode or None)
    info = translator.info
    sizes = sizes_for(opts, cfg, info)
    out_dir = opts.out or default_out(info, opts.split)

    rows, samples = [], []
    matrix = np.zeros((len(palette),) * 2, np.int64) if palette is not None else None
    progress = Count(len(pairs), err)
    read = split.read(pairs, sizes, info["direction"], info["in_channels"], info["out_channels"])
    for i, (name, a, b) in enumerate(read, 1):
        output = images.to_uint8(translator.translate_batch(np.asarray(a))[0])
        target = images.to_uint8(b[0])
        row = {"name": name, **metrics.image_scores(output / 255.0, metrics.to_unit_range(b[0]),
                                                    name)}
        if palette is not None:
            counts = palettes.confusion(palettes.quantise(target, palette),
                                        palettes.quantise(output, palette), palette)
            matrix += counts
            row["pixel_accuracy"] = palettes.pixel_accuracy(counts)
        for key, image in (("output", output), ("target", target)):
            if key in features:
                features[key].add(images.to_channels(image, 3))
        if i <= opts.samples:
            samples.append(report.write_sample(out_dir, name, {
                "input": images.to_uint8(a[0]), "output": output, "target": target}))
        rows.append(row)
        progress.update(i)
    progress.close()

    result = metrics.summarise(rows)
    if features:
        result.update(_distances(opts, features))
    if palette is not None:
        result["labels"] = palettes.scores(matrix, palette)
        report.write_confusion(out_dir, matrix, palette)
    result["protocol"] = _protocol(opts, info, sizes, len(rows), palette, features)
    report.write_per_image(out_dir, rows, [*metrics.SCORES] + (
        ["pixel_accuracy"] if palette is not None else []))
    report.write_metrics(out_dir, result)
    if samples:
        report.write_samples_page(out_dir, samples, f"tfpix2pix evaluate: {info['name']} on "
                                                    f"{opts.split} ({info['direction']})")
    return result, out_dir


def _feature_sets(opts, err):
    """{"output": FeatureSet, "target": FeatureSet} for --fid / --kid, else {}."""
    if not (opts.fid or opts.kid):
        return {}
    from . import inception
    network = inception.load(opts.inception, err)
    return {key: inception.FeatureSet(network) for key in ("output", "target")}


def _distances(opts, features):
    from . import distances
    outputs, targets = features["output"].array(), features["target"].array()
    features["output"].network.close()
    if len(outputs) < 2:
        raise UserError(f"--fid and --kid need at least 2 images; the {opts.split} split has "
                        f"{len(outputs)}")
    found = {}
    if opts.fid:
        found["fid"] = {"value": distances.fid(outputs, targets)}
    if opts.kid:
        found["kid"] = distances.kid(outputs, targets)
    return found


def _protocol(opts, info, sizes, count, palette, features):
    """What metrics.json records about how its numbers were made."""
    protocol = {
        "model": opts.model, "name": info["name"], "training_step": info.get("training_step"),
        "code": report.code_version(), "direction": info["direction"],
        "test_mode": info["test_mode"], "data": opts.data, "split": opts.split,
        "images": count, **sizes.describe(), "scores": metrics.PROTOCOL,
    }
    if features:
        from . import distances
        protocol["inception"] = features["output"].network.describe()
        protocol["fid"] = ("Frechet distance between Gaussians fitted to the pool_3 features "
                           "of the outputs and of the targets (covariances with N - 1)")
        protocol["kid"] = (f"unbiased MMD^2, kernel (x.y/2048 + 1)^3, mean over up to "
                           f"{distances.KID_SUBSETS} subsets of min(N, "
                           f"{distances.KID_SUBSET_SIZE}) images, numpy seed "
                           f"{distances.KID_SEED}")
    if palette is not None:
        protocol["palette"] = palette.describe()
        protocol["labels"] = ("output and target quantised to the nearest class colour "
                              "(squared RGB distance); one confusion matrix over the split; "
                              "target pixels of ignored classes not scored")
    return protocol
