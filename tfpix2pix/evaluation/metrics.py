"""Per-image L1, PSNR and SSIM on images in [0, 1], and their means with bootstrap intervals.

Values: the target as decoded (8-bit pixels / 255, 16-bit / 65535); the output rounded
to 8 bits first (the pixels predict writes, so that a score computed from predict's PNGs
is the same).

* L1: the mean of |output - target| over pixels and channels.
* PSNR: 10 log10(1 / MSE) per image (peak 1). Identical images have an infinite PSNR;
  it is capped at ``PSNR_CAP`` dB (MSE floor 1e-10), so the mean stays finite, and the
  number of capped images is reported beside it.
* SSIM: ``tf.image.ssim`` with the standard settings of Wang et al. (``SSIM``: an 11 x 11
  Gaussian window of sigma 1.5, K1 0.01, K2 0.03, peak 1), averaged over the image and
  its channels. Images must be at least 11 pixels high and wide.

Each score's mean has a 95 % percentile bootstrap interval: ``BOOTSTRAP_RESAMPLES``
resamples of the images with replacement, seeded (``BOOTSTRAP_SEED``), so the same
scores give the same interval.
"""

import numpy as np
import tensorflow as tf

from ..errors import UserError

SCORES = ("l1", "psnr", "ssim")
PSNR_CAP = 100.0
SSIM = {"filter_size": 11, "filter_sigma": 1.5, "k1": 0.01, "k2": 0.03}
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0

PROTOCOL = {
    "values": "images in [0, 1]: the target as decoded, the output rounded to 8 bits (the "
              "pixels predict writes)",
    "l1": "mean |output - target| over pixels and channels, per image",
    "psnr": f"10 log10(1 / MSE) per image, capped at {PSNR_CAP:g} dB (identical images)",
    "ssim": "tf.image.ssim per image (11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, "
            "max_val 1), mean over pixels and channels",
    "ci95": f"percentile bootstrap of the mean over images: {BOOTSTRAP_RESAMPLES} resamples "
            f"with replacement, numpy seed {BOOTSTRAP_SEED}, 2.5th and 97.5th percentiles",
}


def to_unit_range(x):
    """float in [-1, 1] -> float32 in [0, 1]."""
    return (np.asarray(x, np.float32) + 1.0) / 2.0


def psnr(mse):
    """10 log10(1 / mse), capped at ``PSNR_CAP``."""
    return float(min(PSNR_CAP, 10.0 * np.log10(1.0 / max(float(mse), 10.0 ** (-PSNR_CAP / 10)))))


def image_scores(output, target, name="image"):
    """{"l1", "psnr", "ssim"} of one H x W x C output against its target, both in [0, 1].

    A pair of other shapes, or smaller than SSIM's window, is a UserError naming ``name``.
    """
    output, target = np.asarray(output, np.float32), np.asarray(target, np.float32)
    if output.shape != target.shape:
        raise UserError(f"{name}: the prediction is {_shape(output)} but the target is "
                        f"{_shape(target)}; evaluate compares images of one size and channel "
                        "count (check --output-nc and the pair's halves)")
    size = SSIM["filter_size"]
    if min(output.shape[:2]) < size:
        raise UserError(f"{name}: {_shape(target)} is smaller than SSIM's {size}x{size} "
                        "window; evaluate larger images (or drop --full-size)")
    diff = output.astype(np.float64) - target
    ssim = tf.image.ssim(tf.constant(output), tf.constant(target), max_val=1.0, **SSIM)
    return {"l1": float(np.abs(diff).mean()), "psnr": psnr(np.square(diff).mean()),
            "ssim": float(ssim)}


def _shape(x):
    h, w, c = x.shape
    return f"{w}x{h} with {c} channel{'s' * (c != 1)}"


def bootstrap_interval(values, resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED):
    """[lo, hi]: the 2.5th and 97.5th percentiles of the means of ``resamples`` resamples
    (with replacement, seeded) of ``values``."""
    values = np.asarray(values, np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), (resamples, len(values)))
    lo, hi = np.percentile(values[picks].mean(axis=1), [2.5, 97.5])
    return [float(lo), float(hi)]


def summary(values):
    """{"mean": ..., "ci95": [lo, hi]} of one score over the images."""
    return {"mean": float(np.mean(values)), "ci95": bootstrap_interval(values)}


def summarise(rows):
    """The scores of every image (dicts with SCORES) -> metrics.json's l1, psnr and ssim,
    and ``psnr_capped``: how many images hit the PSNR cap."""
    out = {key: summary([row[key] for row in rows]) for key in SCORES}
    out["psnr_capped"] = sum(row["psnr"] >= PSNR_CAP for row in rows)
    return out
