"""The float batch that every way of running a generator takes, and its one rule.

A batch is float32 [N, H, W, C] in [-1, 1], with C the model's input channels and
H, W >= 1; N may be 0 (the answer is then an empty batch). The exported float
signature checks the same rule inside its graph (``serving.checked``); ``load()``,
``tflite.run`` and ``onnx.run`` check it here, before any TensorFlow, LiteRT or
onnxruntime call, so that a wrong request is one UserError on every CPU.
"""

import numpy as np

from ..errors import UserError

_RANGE_SLACK = 1e-3  # rounding may overshoot [-1, 1] by this much, not more


def rule(channels):
    """What a float request must be, in the words every refusal uses."""
    return f"image must be a batch [N, H, W, {channels}] of float32 in [-1, 1] with H, W >= 1"


def checked(batch, channels):
    """``batch`` as a float32 array if it follows the rule, else a one-line UserError.

    Float arrays of other precisions are converted; integer, boolean, string and object
    arrays are refused (8-bit pixels go through ``Translator(image)`` or ``x / 127.5 - 1``).
    """
    try:
        array = np.asarray(batch)
    except (TypeError, ValueError) as exc:  # ragged nested lists, for example
        raise UserError(f"{rule(channels)}; got something that is not an array ({exc})") from None
    if not np.issubdtype(array.dtype, np.floating):
        raise UserError(f"{rule(channels)}; got dtype {array.dtype} (scale 8-bit pixels as "
                        "x / 127.5 - 1, or pass one image to the translator itself)")
    shape = "x".join(map(str, array.shape)) or "a scalar"
    if array.ndim != 4:
        raise UserError(f"{rule(channels)}; got rank {array.ndim} ({shape})")
    if array.shape[3] != channels:
        raise UserError(f"{rule(channels)}; got {array.shape[3]} channels ({shape})")
    if array.shape[1] == 0 or array.shape[2] == 0:
        raise UserError(f"{rule(channels)}; got an empty image ({shape})")
    array = array.astype(np.float32, copy=False)
    if array.size:
        if not np.isfinite(array).all():
            raise UserError(f"{rule(channels)}; got NaN or infinite values")
        low, high = float(array.min()), float(array.max())
        if low < -1 - _RANGE_SLACK or high > 1 + _RANGE_SLACK:
            raise UserError(f"{rule(channels)}; got values in [{low:.4g}, {high:.4g}]")
    return array


def empty_output(batch, channels):
    """The answer to an empty batch: [0, H, W, ``channels``] float32."""
    return np.zeros((0, *batch.shape[1:3], int(channels)), np.float32)
