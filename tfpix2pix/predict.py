"""Translate images: ``python -m tfpix2pix.predict --model RUN_OR_EXPORT --input ...``.

Images of any size are translated whole (reflect-padded to the generator's stride and
cropped back) or, with ``--tile N``, in overlapping tiles. Grayscale and RGBA inputs are
converted to RGB. With ``--aligned`` each input is an [A | B] pair, split in the run's
direction, and the other half is shown as the target.
"""

import os
import sys

from . import config as C
from .cli import command_options, report_user_error
from .errors import UserError, warnings_as_lines
from .inference import import_tensorflow, require_model
from .progress import Count

EPILOG = """examples:
  python -m tfpix2pix.predict --model runs/demo --input photos/ --output results
  python -m tfpix2pix.predict --model exported/facades --input 'val/*.jpg' --aligned --html
  python -m tfpix2pix.predict --model runs/maps --input huge.png --tile 1024
"""


def output_names(paths):
    """A unique file stem per input: its own, or parent_stem where two inputs share one."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    names = []
    for path, stem in zip(paths, stems):
        if stems.count(stem) > 1:
            stem = f"{os.path.basename(os.path.dirname(os.path.abspath(path)))}_{stem}"
        while stem in names:
            stem += "_"
        names.append(stem)
    return names


def predict(opts, err=None):
    """Translate ``opts.input`` into ``opts.output``; return (written rows, failures).

    An input that cannot be read is skipped; its one-line error is printed after the
    progress bar has finished.
    """
    from .inference import html, images
    from .inference.translator import load

    err = err or sys.stderr
    paths = images.list_inputs(opts.input)
    translator = load(opts.model, opts.test_mode or None)
    direction, channels = translator.info["direction"], translator.info["in_channels"]
    rows, errors = [], []
    progress = Count(len(paths), err)
    for i, (path, name) in enumerate(zip(paths, output_names(paths)), 1):
        try:  # a bad file is reported and skipped; the others are translated
            image = images.read_image(path)
            source, target = images.split_pair(image, direction, path) if opts.aligned else (
                image, None)
        except UserError as exc:
            errors.append(f"error: {exc}")
            progress.update(i)
            continue
        source = images.to_channels(source, channels)
        row = {"name": os.path.basename(path),
               "output": os.path.join(opts.output, f"{name}.png")}
        images.write_png(row["output"], translator(source, tile=opts.tile or None))
        if opts.html or opts.aligned:
            row["input"] = os.path.join(opts.output, "inputs", f"{name}.png")
            images.write_png(row["input"], source)
        row["target"] = None
        if target is not None:
            row["target"] = os.path.join(opts.output, "targets", f"{name}.png")
            images.write_png(row["target"], target)
        rows.append(row)
        progress.update(i)
    progress.close()
    for line in errors:  # after the finished bar, which they would otherwise cut in two
        print(line, file=err)
    if opts.html and rows:
        page = html.write_index(opts.output, rows,
                                f"tfpix2pix: {translator.info['name']} ({direction})")
        print(f"page: {page}", file=err)
    return rows, len(errors)


def main(argv=None, out=None, err=None):
    out, err = out or sys.stdout, err or sys.stderr
    try:
        opts = require_model(command_options("python -m tfpix2pix.predict", __doc__, EPILOG,
                                             C.PredictConfig, argv))
        if not opts.input:
            raise UserError("--input is required: image files, folders or glob patterns")
        warnings_as_lines(err)  # e.g. a damaged checkpoint passed over: one line
        import_tensorflow()  # oneDNN preferred, the package's logging policy
        rows, failures = predict(opts, err=err)
    except UserError as exc:
        return report_user_error(exc, err)
    if rows:
        print(f"{len(rows)} image(s) translated into {opts.output}", file=out)
    else:
        print(f"No image translated: none of the {failures} input(s) could be read; "
              "nothing was written", file=out)
    if failures:
        print(f"error: {failures} input(s) could not be read (named above)", file=err)
        return 1
    return 0


def main_entry():
    sys.exit(main())


if __name__ == "__main__":
    main_entry()
