"""What an evaluation writes: metrics.json, per_image.csv, the confusion matrix, the samples.

::

    <out>/
        metrics.json         the scores and the protocol that produced them
        per_image.csv        one row per image: name, l1, psnr, ssim (and pixel_accuracy)
        confusion.csv        with --palette: pixel counts, rows the target class
        confusion.png        with --palette: the row-normalised matrix as a heatmap
        samples/index.html   with --samples N: input | output | target of the first N pairs

Every file is written atomically (``files.write_atomic``).
"""

import csv
import io
import json
import os
import subprocess

import numpy as np

from ..version import __version__
from ..files import write_atomic

METRICS, PER_IMAGE = "metrics.json", "per_image.csv"
CONFUSION_CSV, CONFUSION_PNG = "confusion.csv", "confusion.png"
SAMPLES = "samples"


def code_version():
    """{"commit": ...} of the tfpix2pix checkout this package runs from (``-dirty`` when it
    has uncommitted changes), else {"version": ...} of the installed package."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    checkout = os.path.dirname(package)
    try:
        top = subprocess.run(["git", "-C", checkout, "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        if os.path.realpath(top.strip()) == os.path.realpath(checkout):
            commit = subprocess.run(["git", "-C", checkout, "describe", "--always", "--dirty",
                                     "--abbrev=40"], capture_output=True, text=True, timeout=10,
                                    check=True).stdout.strip()
            if commit:
                return {"commit": commit}
    except (OSError, subprocess.SubprocessError):
        pass
    return {"version": __version__}


def _csv_text(header, rows):
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue()


def write_metrics(out_dir, metrics):
    return write_atomic(os.path.join(out_dir, METRICS), json.dumps(metrics, indent=1) + "\n")


def write_per_image(out_dir, rows, columns):
    """``rows``: dicts with "name" and ``columns``; floats written with 6 significant digits."""
    def cell(value):
        return f"{value:.6g}" if isinstance(value, float) else value
    return write_atomic(os.path.join(out_dir, PER_IMAGE), _csv_text(
        ["name", *columns], [[row["name"], *(cell(row[c]) for c in columns)] for row in rows]))


def write_confusion(out_dir, matrix, palette):
    """confusion.csv (counts, rows target, columns output) and confusion.png; their paths."""
    names = list(palette.classes)
    table = _csv_text(["target \\ output", *names],
                      [[name, *map(int, row)] for name, row in zip(names, matrix)])
    paths = [write_atomic(os.path.join(out_dir, CONFUSION_CSV), table)]
    paths.append(write_atomic(os.path.join(out_dir, CONFUSION_PNG), heatmap_png(matrix, palette)))
    return paths


def heatmap_png(matrix, palette):
    """PNG bytes: each target class's row as shares of its pixels, classes by name.

    Drawn with matplotlib's Agg canvas directly (no pyplot, so no global backend is set).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = np.asarray(matrix, np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    k = len(palette)
    side = max(4.0, 0.45 * k + 2.0)
    figure = Figure(figsize=(side + 1.2, side), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="viridis", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(k), palette.classes, rotation=90)
    axes.set_yticks(range(k), palette.classes)
    axes.set_xlabel("output class")
    axes.set_ylabel("target class")
    axes.set_title(f"confusion ({palette.name}): share of each target class's pixels")
    for i in range(k):
        for j in range(k):
            if shares[i, j] >= 0.005:
                axes.text(j, i, f"{100 * shares[i, j]:.0f}", ha="center", va="center",
                          fontsize=7, color="black" if shares[i, j] > 0.6 else "white")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_sample(out_dir, name, images):
    """Write one sample row's PNGs (``images``: {"input"|"output"|"target": uint8 array})
    under ``<out>/samples/``; return the row for ``html.write_index``."""
    from ..inference.images import write_png

    stem = os.path.splitext(name)[0]
    row = {"name": name}
    for column, image in images.items():
        row[column] = write_png(os.path.join(out_dir, SAMPLES, f"{column}s", f"{stem}.png"),
                                image)
    return row


def write_samples_page(out_dir, rows, title):
    from ..inference.html import write_index
    return write_index(os.path.join(out_dir, SAMPLES), rows, title)
