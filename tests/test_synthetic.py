"""The built-in "shapes" dataset: layout, content, determinism and atomic generation."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfpix2pix.data import folder, synthetic

SMALL = dict(n_train=5, n_val=2)


def read_png(path):
    return tf.io.decode_png(tf.io.read_file(str(path))).numpy()


def all_files(root):
    root = Path(root)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def generate(cache_root, **kwargs):
    return Path(synthetic.ensure_builtin_dataset(str(cache_root), **{**SMALL, **kwargs}))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Never let a test touch the user's real cache."""
    monkeypatch.setenv("TFPIX2PIX_CACHE", str(tmp_path / "env-cache"))


def test_layout_counts_and_marker(tmp_path):
    root = generate(tmp_path / "c")
    assert root.parent == tmp_path / "c" / "datasets"
    assert root.name.startswith("shapes-v1")
    assert all_files(root) == ["dataset.json"] + \
        [f"train/{i:04d}.png" for i in range(1, 6)] + [f"val/{i:04d}.png" for i in range(1, 3)]
    marker = json.loads((root / "dataset.json").read_text())
    assert marker == dict(name="shapes", version=1, n_train=5, n_val=2, size=64, seed=0)
    # The folder is a valid aligned dataset for the rest of the package.
    paths = folder.train_images(str(root), "builtin:shapes")
    assert len(paths) == 5
    folder.check_images(paths + folder.list_images(str(root), "val"))
    # No temporary folders are left next to it.
    assert os.listdir(root.parent) == [root.name]


def test_images_are_64x128_rgb_pairs(tmp_path):
    root = generate(tmp_path / "c")
    for path in sorted(root.glob("*/*.png")):
        image = read_png(path)
        assert image.shape == (64, 128, 3), path
        assert image.dtype == np.uint8


def test_size_parameter(tmp_path):
    root = generate(tmp_path / "c", n_train=2, n_val=0, size=32)
    assert not list((root / "val").glob("*.png"))
    images = [read_png(p) for p in sorted((root / "train").glob("*.png"))]
    assert [im.shape for im in images] == [(32, 64, 3)] * 2


def test_default_location_and_parameters(tmp_path):
    cache = tmp_path / "env-cache"
    assert synthetic.builtin_dataset_dir() == str(cache / "datasets" / "shapes-v1")
    assert synthetic.builtin_dataset_dir(str(tmp_path / "x")) == \
        str(tmp_path / "x" / "datasets" / "shapes-v1")
    # Non-default parameters get their own sibling folder, never the default one.
    small = generate(tmp_path / "x")
    assert small != Path(synthetic.builtin_dataset_dir(str(tmp_path / "x")))
    assert small.parent == tmp_path / "x" / "datasets"


def test_label_side_uses_only_palette_colours(tmp_path):
    root = generate(tmp_path / "c")
    palette = {tuple(int(v) for v in c) for c in synthetic.PALETTE}
    assert len(palette) == 7
    seen = set()
    for path in sorted(root.glob("*/*.png")):
        a = read_png(path)[:, :64]
        colours = {tuple(int(v) for v in c) for c in a.reshape(-1, 3)}
        assert colours <= palette, path
        assert len(colours) >= 3, path  # sky, ground and at least one object
        seen |= colours
    assert {tuple(int(v) for v in synthetic.PALETTE[synthetic.SKY]),
            tuple(int(v) for v in synthetic.PALETTE[synthetic.GROUND])} <= seen


def test_rendered_side_is_not_the_label_map(tmp_path):
    root = generate(tmp_path / "c")
    for path in sorted(root.glob("train/*.png")):
        image = read_png(path).astype(np.int16)
        a, b = image[:, :64], image[:, 64:]
        assert np.abs(a - b).mean() > 30, path
        # A rendering with textures and noise: many more colours than the 7 labels.
        assert len({tuple(c) for c in b.reshape(-1, 3)}) > 200, path


def test_rendering_depends_on_the_labels(tmp_path):
    """B is aligned with A: pixels of one label class look alike, different classes differ."""
    root = generate(tmp_path / "c", n_train=8)
    sky, ground = (tuple(int(v) for v in synthetic.PALETTE[i])
                   for i in (synthetic.SKY, synthetic.GROUND))
    for path in sorted(root.glob("train/*.png")):
        image = read_png(path).astype(np.float32)
        a, b = image[:, :64], image[:, 64:]
        is_sky = np.all(a == sky, axis=-1)
        is_ground = np.all(a == ground, axis=-1)
        assert is_sky.any() and is_ground.any()
        sky_rgb, ground_rgb = b[is_sky].mean(axis=0), b[is_ground].mean(axis=0)
        assert sky_rgb[2] > sky_rgb[0] + 40  # sky renders blue
        assert ground_rgb[1] > ground_rgb[2]  # grass renders green


def test_same_seed_is_byte_identical_across_cache_roots(tmp_path):
    one, two = generate(tmp_path / "one"), generate(tmp_path / "two")
    assert all_files(one) == all_files(two)
    for rel in all_files(one):
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel


def test_different_seed_differs(tmp_path):
    base, other = generate(tmp_path / "c"), generate(tmp_path / "c", seed=1)
    assert base != other
    for rel in ("train/0001.png", "train/0005.png", "val/0001.png"):
        assert not np.array_equal(read_png(base / rel), read_png(other / rel)), rel


def test_images_differ_within_a_set(tmp_path):
    root = generate(tmp_path / "c")
    images = [read_png(p) for p in sorted(root.glob("*/*.png"))]
    assert len({im.tobytes() for im in images}) == len(images)


def test_image_depends_only_on_seed_split_and_index(tmp_path):
    small = generate(tmp_path / "c", n_train=3, n_val=1)
    large = generate(tmp_path / "c", n_train=6, n_val=2)
    for rel in ("train/0001.png", "train/0003.png", "val/0001.png"):
        np.testing.assert_array_equal(read_png(small / rel), read_png(large / rel))


def test_make_pair_is_deterministic_and_uint8():
    a1, b1 = synthetic.make_pair(np.random.default_rng(5), 48)
    a2, b2 = synthetic.make_pair(np.random.default_rng(5), 48)
    assert a1.shape == b1.shape == (48, 48, 3)
    assert a1.dtype == b1.dtype == np.uint8
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)


def test_existing_complete_dataset_is_reused(tmp_path, monkeypatch):
    root = generate(tmp_path / "c")
    before = {rel: (root / rel).stat().st_mtime_ns for rel in all_files(root)}

    def boom(*args, **kwargs):
        raise AssertionError("regenerated a complete dataset")

    monkeypatch.setattr(synthetic, "make_pair", boom)
    assert generate(tmp_path / "c") == root
    assert {rel: (root / rel).stat().st_mtime_ns for rel in all_files(root)} == before


class WriterFailure(RuntimeError):
    pass


def test_generation_is_atomic(tmp_path, monkeypatch):
    cache = tmp_path / "c"
    real_write = tf.io.write_file
    calls = []

    def flaky_write(path, data, *args, **kwargs):
        calls.append(path)
        if len(calls) > 3:
            raise WriterFailure("disk full")
        return real_write(path, data, *args, **kwargs)

    monkeypatch.setattr(tf.io, "write_file", flaky_write)
    with pytest.raises(WriterFailure):
        generate(cache)
    assert len(calls) == 4  # it did get some way before failing
    parent = cache / "datasets"
    # Nothing complete-looking is left: no dataset folder, no temporary folder, no files.
    leftovers = list(parent.iterdir()) if parent.exists() else []
    assert leftovers == []
    monkeypatch.setattr(tf.io, "write_file", real_write)

    root = generate(cache)
    assert len(all_files(root)) == 1 + 5 + 2
    assert json.loads((root / "dataset.json").read_text())["n_train"] == 5
    assert os.listdir(parent) == [root.name]
    # And it equals a dataset generated without any interruption.
    clean = generate(tmp_path / "clean")
    for rel in all_files(clean):
        assert (root / rel).read_bytes() == (clean / rel).read_bytes(), rel


def test_incomplete_folder_is_replaced(tmp_path):
    cache = tmp_path / "c"
    root = generate(cache)
    # Simulate a folder left by something else: marker gone, a stray file, a file missing.
    (root / "dataset.json").unlink()
    (root / "train" / "0005.png").unlink()
    (root / "stray.txt").write_text("junk")
    again = generate(cache)
    assert again == root
    assert "stray.txt" not in all_files(root)
    assert (root / "train" / "0005.png").is_file()
    assert (root / "dataset.json").is_file()
    assert os.listdir(root.parent) == [root.name]


def test_marker_with_other_parameters_is_not_complete(tmp_path):
    cache = tmp_path / "c"
    root = generate(cache)
    marker = json.loads((root / "dataset.json").read_text())
    (root / "dataset.json").write_text(json.dumps({**marker, "version": 0}))
    (root / "train" / "0001.png").write_bytes(b"broken")
    generate(cache)
    assert read_png(root / "train" / "0001.png").shape == (64, 128, 3)
    assert json.loads((root / "dataset.json").read_text()) == marker


@pytest.mark.parametrize("bad", [dict(n_train=0), dict(n_val=-1), dict(size=8), dict(seed=-1)])
def test_bad_parameters(tmp_path, bad):
    with pytest.raises(ValueError):
        generate(tmp_path / "c", **bad)
    assert not (tmp_path / "c").exists()
