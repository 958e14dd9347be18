"""Export a run: ``python -m tfpix2pix.export RUN_DIR [--tflite fp32,fp16,int8] [--onnx]``.

Writes ``exported/<name>/<version>/`` (TF Serving's layout) and any TFLite or ONNX
files beside the version folders, and checks each against the Keras generator.
"""

import sys

from .. import config as C
from ..cli import command_options, report_user_error
from ..errors import UserError, quiet_tensorflow_import, warnings_as_lines

EPILOG = """examples:
  python -m tfpix2pix.export runs/demo
  python -m tfpix2pix.export runs/facades --tflite fp32,fp16,int8,int8_full --onnx
  docker run -p 8501:8501 -v "$PWD/exported/facades:/models/facades" \\
      -e MODEL_NAME=facades tensorflow/serving
"""


def main(argv=None, out=None):
    try:
        opts = command_options("python -m tfpix2pix.export", __doc__, EPILOG, C.ExportConfig,
                               argv)
        if not opts.run_dir:
            raise UserError("RUN_DIR is empty; pass the run folder to export (e.g. runs/demo)")
        warnings_as_lines()  # e.g. a damaged checkpoint passed over: one line
        quiet_tensorflow_import()
        from .command import export
        export(opts, out=out)
    except UserError as exc:
        return report_user_error(exc)
    return 0


def main_entry():
    sys.exit(main())


if __name__ == "__main__":
    main_entry()
