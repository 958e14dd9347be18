"""Built-in paired dataset "shapes": toy street scenes, label map -> rendering.

Each sample is a procedurally drawn scene of houses and trees on a horizon.
Side A is a flat-colour label map (sky, ground, wall, roof, window, door, tree);
side B renders it deterministically: sky gradient, grass, brick walls, tiled
roofs, glassy windows in light frames, wooden doors and leafy trees, plus
effects that need spatial context (long shadows cast down-right onto the
ground and walls, recessed window shadows, dark object outlines). Nothing is
downloaded, and a U-Net learns the mapping visibly within minutes at 64x64.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile

import numpy as np

from .. import files

BUILTIN_NAME = "shapes"
VERSION = 1
SKY, GROUND, WALL, ROOF, WINDOW, DOOR, TREE = range(7)
PALETTE = np.array([(30, 70, 200), (110, 170, 40), (230, 110, 20), (150, 30, 120),
                    (0, 220, 220), (240, 220, 0), (20, 100, 40)], dtype=np.uint8)
_SPLITS = {"train": 0, "val": 1}
_DEFAULTS = dict(n_train=400, n_val=8, size=64, seed=0)
_MARKER = "dataset.json"


def _shift(a, dy, dx):
    """a moved by (dy, dx) pixels, zero-filled."""
    out = np.zeros_like(a)
    h, w = a.shape[:2]
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        a[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _blur(a):
    """3x3 box blur with edge replication."""
    h, w = a.shape
    p = np.pad(a, 1, mode="edge")
    return sum(p[i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0


def _value_noise(rng, size, cells):
    """Smooth noise in [0, 1]: a random (cells+1)^2 grid, smoothstep-interpolated."""
    g = rng.random((cells + 1, cells + 1))
    t = np.arange(size) * (cells / size)
    i, f = t.astype(int), t % 1
    f = f * f * (3 - 2 * f)
    top = g[i][:, i] * (1 - f) + g[i][:, i + 1] * f
    bot = g[i + 1][:, i] * (1 - f) + g[i + 1][:, i + 1] * f
    return top * (1 - f[:, None]) + bot * f[:, None]


def _draw_labels(rng, size):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    lab = np.full((size, size), SKY, np.uint8)
    horizon = size * rng.uniform(0.6, 0.78)
    lab[yy >= horizon] = GROUND

    def rect(x0, y0, x1, y1):
        return (xx >= x0) & (xx < x1) & (yy >= y0) & (yy < y1)

    def tree():
        base = horizon + size * rng.uniform(0.0, 0.2)
        cx, r = size * rng.uniform(0, 1), size * rng.uniform(0.07, 0.14)
        for k in range(3):  # the first blob rests on the ground, the others sit above it
            ex = cx + r * rng.uniform(-0.8, 0.8) * k
            ey = base - r * (0.9 + k * rng.uniform(0.4, 0.8))
            rx, ry = r * rng.uniform(0.8, 1.2), r * rng.uniform(0.8, 1.1)
            lab[((xx - ex) / rx) ** 2 + ((yy - ey) / ry) ** 2 <= 1] = TREE

    def house():
        w, hw = size * rng.uniform(0.3, 0.5), size * rng.uniform(0.22, 0.38)
        x0 = rng.uniform(-0.1 * size, 1.05 * size - w)
        bottom = horizon + size * rng.uniform(0.02, 0.16)
        top, cx = bottom - hw, x0 + w / 2
        roof_h, over = size * rng.uniform(0.1, 0.2), size * 0.04
        lab[(yy < top) & (yy >= top - roof_h + np.abs(xx - cx) * roof_h / (w / 2 + over))] = ROOF
        lab[rect(x0, top, x0 + w, bottom)] = WALL
        cols, rows = int(rng.integers(2, 4)), max(1, int(hw / (0.14 * size)))
        cw, ch = w / cols, hw / rows
        ww, wh = cw * rng.uniform(0.4, 0.6), ch * rng.uniform(0.45, 0.6)
        door_col = int(rng.integers(cols))
        for r in range(rows):
            for c in range(cols):
                mx, my = x0 + (c + 0.5) * cw, top + (r + 0.5) * ch
                if r == rows - 1 and c == door_col:
                    lab[rect(mx - 0.6 * ww, bottom - 0.8 * ch, mx + 0.6 * ww, bottom)] = DOOR
                else:
                    lab[rect(mx - ww / 2, my - wh / 2, mx + ww / 2, my + wh / 2)] = WINDOW

    n_back, n_houses, n_front = (int(n) for n in rng.integers((0, 1, 0), (3, 3, 2)))
    for draw in [tree] * n_back + [house] * n_houses + [tree] * n_front:  # later ones occlude
        draw()
    return lab


def _render(lab, rng):
    size = lab.shape[0]
    s = size / 64.0  # texture scale relative to 64 px
    y, x = np.mgrid[0:size, 0:size]
    yf = (y / size)[..., None]

    def lerp(c0, c1, t):
        t = np.clip(t, 0, 1)
        return np.asarray(c0) * (1 - t) + np.asarray(c1) * t

    # Distance below the top edge of each region (per column), for per-object gradients.
    region_top = np.maximum.accumulate(np.where(_shift(lab, 1, 0) != lab, y, 0), axis=0)
    depth = (y - region_top)[..., None] / (8 * s)
    noise = _value_noise(rng, size, 8)[..., None]
    fine = _value_noise(rng, size, 20)[..., None]

    sky = lerp((0.15, 0.35, 0.80), (0.80, 0.90, 1.0), yf / 0.75)
    grass = lerp((0.55, 0.72, 0.30), (0.20, 0.42, 0.10), (yf - 0.6) / 0.4) * (0.8 + 0.4 * fine)
    bh = max(2, round(4 * s))  # brick height; bricks are 2*bh wide, odd rows offset by half
    row, xo = y // bh, x + (y // bh % 2) * bh
    tone = rng.uniform(0.8, 1.1, (size // bh + 1, size // (2 * bh) + 2))[row, xo // (2 * bh)]
    mortar = ((y % bh == 0) | (xo % (2 * bh) == 0))[..., None]
    brick = np.where(mortar, (0.86, 0.82, 0.74), np.array([0.75, 0.38, 0.25]) * tone[..., None])
    th = max(2, round(3 * s))
    tiles = 1.25 - 0.5 * ((y % th) / th)[..., None]
    roof = np.array([0.30, 0.32, 0.42]) * tiles * lerp(1.1, 0.8, depth)
    streak = (((x + y) / (10 * s)) % 1 < 0.25)[..., None]
    glass = lerp((0.70, 0.88, 1.0), (0.10, 0.22, 0.50), depth * 1.2) + 0.18 * streak
    grain = 0.8 + 0.2 * np.sin(x * 2.4 / s + 4 * noise[..., 0])
    wood = np.array([0.55, 0.32, 0.14]) * grain[..., None]
    leaves = lerp((0.08, 0.28, 0.08), (0.50, 0.75, 0.25), 0.7 * noise + 0.8 * fine - 0.35)
    layers = np.stack([sky, grass, brick, roof, glass, wood, leaves])
    img = layers[lab, y, x]

    is_obj = lab >= WALL
    p = np.pad(lab, 1, mode="edge")
    edge = ((p[:-2, 1:-1] != lab) | (p[2:, 1:-1] != lab)
            | (p[1:-1, :-2] != lab) | (p[1:-1, 2:] != lab))
    img[edge & (lab == WINDOW)] = (0.95, 0.95, 0.92)
    img[((lab == WINDOW) | (lab == DOOR)) & (_shift(lab, 1, 1) == WALL)] *= 0.55  # recessed
    img[edge & is_obj & (lab != WINDOW)] *= 0.4
    # Long shadows, light from the upper left: objects darken ground, trees darken walls.
    length = max(2, round(7 * s))
    on_ground, on_wall = np.zeros((2,) + lab.shape, bool)
    for k in range(1, length + 1):
        on_ground |= _shift(is_obj, k, k)
        on_wall |= (k <= length // 2) & _shift(lab == TREE, k, k)
    shade = _blur(on_ground & (lab == GROUND)) + _blur(on_wall & (lab == WALL))
    img *= 1 - 0.5 * np.clip(shade, 0, 1)[..., None] * ((lab == GROUND) | (lab == WALL))[..., None]
    img += rng.normal(0, 0.012, img.shape)
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def make_pair(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One (label_map, rendered) pair, each uint8 HxWx3."""
    lab = _draw_labels(rng, size)
    return PALETTE[lab], _render(lab, rng)


def builtin_dataset_dir(cache_root: str | None = None) -> str:
    """Folder where the built-in set lives: <cache_root>/datasets/shapes-v1."""
    if cache_root is None:
        cache_root = files.cache_root()
    return os.path.join(os.path.expanduser(cache_root), "datasets", f"{BUILTIN_NAME}-v{VERSION}")


def _is_complete(folder, params):
    try:
        with open(os.path.join(folder, _MARKER)) as f:
            return json.load(f) == params
    except (OSError, ValueError):
        return False


def _write_dataset(folder, params):
    import tensorflow as tf  # lazy: keeps CLI start-up fast

    for split, split_id in _SPLITS.items():
        n = params[f"n_{split}"]
        os.makedirs(os.path.join(folder, split))
        for i in range(n):  # each image's rng depends only on (seed, split, index)
            a, b = make_pair(np.random.default_rng([params["seed"], split_id, i]), params["size"])
            png = tf.io.encode_png(np.concatenate([a, b], axis=1))
            name = f"{i + 1:0{max(4, len(str(n)))}d}.png"
            tf.io.write_file(os.path.join(folder, split, name), png)
    with open(os.path.join(folder, _MARKER), "w") as f:
        json.dump(params, f, indent=1)


def ensure_builtin_dataset(cache_root: str | None = None, *, n_train: int = 400, n_val: int = 8,
                           size: int = 64, seed: int = 0) -> str:
    """Return the dataset folder, generating it (atomically) first if it is not complete.

    Default parameters live in builtin_dataset_dir(); others in a sibling folder whose name
    carries the parameters. Each PNG is RGB, size x 2*size: [A label map | B rendering].
    """
    if n_train < 1 or n_val < 0 or size < 16 or seed < 0:
        raise ValueError("need n_train >= 1, n_val >= 0, size >= 16, seed >= 0")
    params = dict(name=BUILTIN_NAME, version=VERSION, n_train=n_train, n_val=n_val, size=size,
                  seed=seed)
    dest = builtin_dataset_dir(cache_root)
    if dict(n_train=n_train, n_val=n_val, size=size, seed=seed) != _DEFAULTS:
        dest += f"-n{n_train}-v{n_val}-s{size}-seed{seed}"
    if _is_complete(dest, params):
        return dest
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(dest)}.tmp-", dir=parent)
    try:
        _write_dataset(tmp, params)
        if os.path.isdir(dest) and not _is_complete(dest, params):
            stale = tempfile.mkdtemp(prefix=f".{os.path.basename(dest)}.stale-", dir=parent)
            with contextlib.suppress(FileNotFoundError):  # move a broken/foreign folder aside
                os.replace(dest, os.path.join(stale, "old"))
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, dest)
        except OSError:
            if not _is_complete(dest, params):  # lost a race only counts if the winner is complete
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


if __name__ == "__main__":
    print(ensure_builtin_dataset())
