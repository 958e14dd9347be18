"""Inference building blocks: image I/O and conversion, padded and tiled translation, HTML."""

import os
import sys

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn():
    """Ask for TensorFlow's oneDNN CPU kernels, unless TensorFlow is already imported or
    the user set TF_ENABLE_ONEDNN_OPTS (0 keeps them off).

    TensorFlow turns them on by default only on CPUs with AVX-512 VNNI/BF16 or AMX; on
    AVX2 CPUs they make the generator's inference ~1.9x faster (``translator.float_function``).
    The variable is read once, when TensorFlow is imported.
    """
    if "tensorflow" not in sys.modules:
        os.environ.setdefault(ONEDNN_VARIABLE, "1")


def require_model(opts):
    """``opts`` of a command that translates with ``--model`` (predict, the demo), or a
    UserError when it names no model."""
    from ..errors import UserError

    if not opts.model:
        raise UserError("--model is required: a run folder (runs/<name>) or an export "
                        "(exported/<name>)")
    return opts


def import_tensorflow():
    """TensorFlow for a command or ``load()`` that runs a generator: oneDNN preferred
    (``prefer_onednn``) and the package's logging policy (``errors.quiet_tensorflow_import``).
    If TensorFlow is already imported, its settings are the user's and it is returned as is."""
    from ..errors import quiet_tensorflow_import

    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    prefer_onednn()
    return quiet_tensorflow_import()
