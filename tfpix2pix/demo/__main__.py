"""Serve a page to draw or upload an input and see it translated:
``python -m tfpix2pix.demo --model RUN_OR_EXPORT [--host 127.0.0.1] [--port 8000]``.

The page draws at the model's crop size with the input domain's colours (``--palette``,
the export's stored palette, or the run's training inputs'), translates uploads of any size
as predict does, and shows a few validation inputs of the run as examples.
"""

import dataclasses
import sys

from .. import config as C
from ..cli import command_options, report_user_error
from ..errors import UserError, warnings_as_lines
from ..inference import import_tensorflow, require_model

EPILOG = """examples:
  python -m tfpix2pix.demo --model runs/facades
  python -m tfpix2pix.demo --model exported/facades --port 8080 --palette facades
"""
EXAMPLES = 6  # validation inputs shown in the page's strip


def run_examples(cfg, count=EXAMPLES):
    """The input side of the run's first ``count`` validation pairs (uint8, at the crop
    size, RGB), or [] when its data is not there."""
    from ..data import folder, pipeline
    from .palette import shown_rgb

    d = cfg.data
    try:
        _train, shown = folder.find_pairs(d.path, count, dataset_mode=d.dataset_mode)
    except UserError:
        return []
    a, _b = pipeline.eval_pairs(shown, d.crop_size, d.direction, preprocess="resize_and_crop",
                                load_size=d.crop_size, input_nc=d.input_nc,
                                output_nc=d.output_nc)
    return [shown_rgb(x) for x in a]


def recorded_data(info):
    """The run's training data as an export's ``tfpix2pix.json`` records it
    (``training_data``, with the model's direction, size and channels), as a
    ``config.DataConfig``; None for an export that does not record it."""
    recorded = info.get("training_data")
    if not recorded:
        return None
    return dataclasses.replace(C.DataConfig(), path=recorded["path"],
                               dataset_mode=recorded["dataset_mode"],
                               direction=info["direction"], crop_size=info["crop_size"],
                               input_nc=info["in_channels"], output_nc=info["out_channels"])


def build_demo(opts, err=None):
    """A ``server.Demo`` for ``opts`` (a ``config.DemoConfig``): the model through
    ``load()``, its palette and, for a run folder with its data, examples."""
    from .. import run_folder
    from ..inference.translator import load
    from .server import Demo

    translator = load(opts.model)
    cfg = run_folder.read_config(opts.model) if run_folder.is_run_folder(opts.model) else None
    data = cfg.data if cfg is not None else recorded_data(translator.info)
    colours = drawing_colours(opts.palette, translator.info, data, err or sys.stderr)
    examples = run_examples(cfg) if cfg is not None else []
    return Demo(translator, colours, examples, tile=opts.tile)


def drawing_colours(spec, info, data, err):
    """The page's palette, the first that applies (docs/demo.md): ``--palette spec``, the
    palette stored in the export's ``info``, the one derived from the training data ``data``
    (a ``config.DataConfig``, or None), free colour. A note on ``err`` says when the data is
    known but not there."""
    from . import palette as P

    if spec:
        return P.from_spec(spec)
    if info.get("palette"):
        return P.check(info["palette"])
    colours = P.from_data(data) if data is not None else P.free()
    if colours is None:
        print(f"note: the run's data ({data.path}) is not here, so the page offers free "
              "colour; pass --palette for label colours", file=err)
        colours = P.free()
    return colours


def main(argv=None, out=None, err=None, ready=None):
    """``ready(server)``, if given, is called once the server listens (tests stop it)."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        opts = require_model(command_options("python -m tfpix2pix.demo", __doc__, EPILOG,
                                             C.DemoConfig, argv))
        if not 0 <= opts.port <= 65535:
            raise UserError(f"--port {opts.port}: use 0 (any free port) to 65535")
        warnings_as_lines(err)  # e.g. a damaged checkpoint passed over: one line
        import_tensorflow()  # oneDNN preferred, the package's logging policy
        from .server import make_server, url
        server = make_server(build_demo(opts, err), opts.host, opts.port)
    except UserError as exc:
        return report_user_error(exc, err)
    print(f"demo of {opts.model}: {url(server)}  (Ctrl+C stops it)", file=out, flush=True)
    if ready:
        ready(server)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main_entry():
    sys.exit(main())


if __name__ == "__main__":
    main_entry()
