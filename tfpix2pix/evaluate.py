"""Score a model on a split: ``python -m tfpix2pix.evaluate --model RUN_OR_EXPORT --data DIR``.

Translates every pair of the split in the run's test mode and writes metrics.json (L1,
PSNR and SSIM with 95% bootstrap intervals, and the protocol) and per_image.csv; with
--palette, label-map accuracy and IoU; with --fid / --kid, the Inception distances.
docs/evaluate.md describes the protocol.
"""

import sys

from . import config as C
from .cli import build_parser, parse_options, report_user_error
from .errors import UserError, warnings_as_lines
from .inference import import_tensorflow

EPILOG = """examples:
  python -m tfpix2pix.evaluate --model runs/facades --data datasets/facades
  python -m tfpix2pix.evaluate --model runs/facades_photo2label --data datasets/facades \\
      --palette facades --samples 20
  python -m tfpix2pix.evaluate --model exported/maps --crop-size 256 --data datasets/maps \\
      --split val --kid --fid --inception classify_image_graph_def.pb
"""


def check(opts):
    if not opts.model:
        raise UserError("--model is required: a run folder (runs/<name>) or an export "
                        "(exported/<name>)")
    if not opts.data:
        raise UserError("--data is required: the dataset folder whose split is scored")
    if opts.samples < 0:
        raise UserError(f"--samples {opts.samples}: give 0 or more rows")
    if opts.crop_size < 0:
        raise UserError(f"--crop-size {opts.crop_size}: give a positive size")
    if opts.crop_size and opts.full_size:
        raise UserError("--crop-size and --full-size contradict each other; pass one")
    if opts.inception and not (opts.fid or opts.kid):
        raise UserError("--inception is used by --fid and --kid; add one of them")
    return opts


def summary_lines(result, out_dir):
    p = result["protocol"]
    lines = [f"{p['split']} split of {p['data']}: {p['images']} images; model {p['name']} "
             f"(step {p['training_step']}, {p['test_mode']} mode)"]
    for key, label, unit in (("l1", "L1  ", ""), ("psnr", "PSNR", " dB"), ("ssim", "SSIM", "")):
        lo, hi = result[key]["ci95"]
        lines.append(f"{label} {result[key]['mean']:.4f}{unit}  (95% CI {lo:.4f} to {hi:.4f})")
    if "fid" in result:
        lines.append(f"FID  {result['fid']['value']:.3f}")
    if "kid" in result:
        lines.append(f"KID  {result['kid']['mean']:.5f}")
    if "labels" in result:
        labels = result["labels"]
        lines.append("labels: " + ", ".join(
            f"{key.replace('_', ' ')} {labels[key]:.4f}" for key in
            ("pixel_accuracy", "mean_class_accuracy", "mean_iou") if labels[key] is not None))
    lines.append(f"written to {out_dir}")
    return lines


def main(argv=None, out=None, err=None):
    parser = build_parser("python -m tfpix2pix.evaluate", __doc__.splitlines()[0], EPILOG,
                          tree=C.EvaluateConfig)
    args = parser.parse_args(argv)
    out, err = out or sys.stdout, err or sys.stderr
    try:
        opts = check(parse_options(C.EvaluateConfig, args))
        warnings_as_lines(err)  # e.g. a damaged checkpoint passed over: one line
        import_tensorflow()  # oneDNN preferred, the package's logging policy
        from .evaluation.runner import evaluate
        result, out_dir = evaluate(opts, err=err)
    except UserError as exc:
        return report_user_error(exc, err)
    for line in summary_lines(result, out_dir):
        print(line, file=out)
    return 0


def main_entry():
    sys.exit(main())


if __name__ == "__main__":
    main_entry()
