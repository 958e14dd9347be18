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
