"""Numbers for comparing a converted model's output with the reference output."""

import math

import numpy as np


def _pair(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return a, b


def max_abs_diff(a, b):
    """The largest absolute element-wise difference (0.0 for empty arrays)."""
    a, b = _pair(a, b)
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def psnr(a, b, data_range=2.0):
    """Peak signal-to-noise ratio in dB; ``data_range`` 2.0 is for images in [-1, 1].

    Returns ``float('inf')`` when the arrays are equal.
    """
    a, b = _pair(a, b)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return float("inf")
    return 10.0 * math.log10(data_range ** 2 / mse)
