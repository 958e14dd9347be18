"""Dataset folders and the tf.data pipelines: layout checks, jitter, direction, determinism."""

import itertools
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import write_pairs
from PIL import Image

from tfpix2pix.data import folder
from tfpix2pix.data.pipeline import TrainData, eval_pairs
from tfpix2pix.errors import UserError

UNIT = 1 / 127.5  # one uint8 step in [-1, 1]


def as_numpy(batches):
    return [(np.asarray(a), np.asarray(b)) for a, b in batches]


def assert_same_batches(xs, ys):
    assert len(xs) == len(ys)
    for (a1, b1), (a2, b2) in zip(xs, ys):
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(b1, b2)


def stacked(batches):
    """All A and all B of a list of batches, concatenated."""
    return (np.concatenate([a for a, _ in batches]), np.concatenate([b for _, b in batches]))


def manual_halves(path, decoder="tf"):
    """(left, right) of an [A | B] file, decoded by hand, scaled to [-1, 1].

    The pipeline decodes JPEGs with TensorFlow's INTEGER_ACCURATE DCT, which
    gives PIL's (and so the PyTorch reference's) pixels; TensorFlow's default
    DCT differs from them by up to ~20 levels on facades.
    """
    if decoder == "tf":
        data = tf.io.read_file(path)
        image = tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE").numpy()
    else:
        image = np.asarray(Image.open(path).convert("RGB"))
    image = image.astype(np.float32) / 127.5 - 1.0
    half = image.shape[1] // 2
    return image[:, :half], image[:, half:2 * half]


def make_data(paths, **overrides):
    kwargs = dict(load_size=40, crop_size=32, direction="AtoB", flip=True, seed=3,
                  global_batch=2)
    kwargs.update(overrides)
    return TrainData(paths, **kwargs)


@pytest.fixture
def twelve_pairs(tmp_path):
    return write_pairs(tmp_path / "train", 12, size=32, seed=5)


def single_line_user_error(excinfo, *needles):
    msg = str(excinfo.value)
    assert "\n" not in msg
    for needle in needles:
        assert str(needle) in msg, (needle, msg)
    return msg


# --- real facades ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def facade_paths(facades):
    paths = folder.train_images(str(facades), str(facades))[:16]
    assert len(paths) == 16
    return paths


def test_facades_training_batches_shape_dtype_range(facade_paths):
    data = TrainData(facade_paths, load_size=286, crop_size=256, direction="BtoA", flip=True,
                     seed=0, global_batch=4)
    assert data.steps_per_epoch == 4
    batches = as_numpy(data.epoch(0))
    assert len(batches) == 4
    for a, b in batches:
        for x in (a, b):
            assert x.shape == (4, 256, 256, 3)
            assert x.dtype == np.float32
            assert x.min() >= -1.0 and x.max() <= 1.0
    a, b = stacked(batches)
    # Scaled to [-1, 1], not [0, 1] or [0, 255]: the photos have dark and bright pixels.
    assert b.min() < -0.9 and b.max() > 0.9


def match_rows(outputs, references):
    """For each output image, the index of the reference it equals (up to one uint8 step)."""
    found = []
    for out in outputs:
        errors = [np.abs(out - ref).max() for ref in references]
        j = int(np.argmin(errors))
        assert errors[j] <= UNIT + 1e-4, f"element matches no file (best error {errors[j]})"
        found.append(j)
    return found


@pytest.mark.parametrize("direction", ["BtoA", "AtoB"])
def test_facades_direction_matches_manual_decode(facade_paths, direction):
    left, right = zip(*(manual_halves(p) for p in facade_paths))
    # facades files are [photo | labels]: BtoA takes A from the right half (labels).
    want_a, want_b = (right, left) if direction == "BtoA" else (left, right)
    data = TrainData(facade_paths, load_size=256, crop_size=256, direction=direction,
                     flip=False, seed=7, global_batch=4)
    a, b = stacked(as_numpy(data.epoch(0)))
    order = match_rows(a, want_a)
    assert sorted(order) == list(range(16))  # one epoch visits every file exactly once
    for k, j in enumerate(order):  # B comes from the same file as A
        assert np.abs(b[k] - want_b[j]).max() <= UNIT + 1e-4
    # eval_pairs keeps file order and applies no jitter.
    ea, eb = (np.asarray(x) for x in eval_pairs(facade_paths[:4], 256, direction))
    assert ea.shape == (4, 256, 256, 3) and ea.dtype == np.float32
    for k in range(4):
        assert np.abs(ea[k] - want_a[k]).max() <= UNIT + 1e-4
        assert np.abs(eb[k] - want_b[k]).max() <= UNIT + 1e-4
        # Cross-check with PIL, the reference's decoder: the same pixels (the halves
        # differ from each other by far more, so a swapped direction would fail too).
        pil_left, pil_right = manual_halves(facade_paths[k], decoder="pil")
        pil_a, pil_b = (pil_right, pil_left) if direction == "BtoA" else (pil_left, pil_right)
        assert np.abs(ea[k] - pil_a).max() <= UNIT + 1e-4
        assert np.abs(eb[k] - pil_b).max() <= UNIT + 1e-4
        assert np.abs(ea[k] - pil_b).mean() > 20 * UNIT


@pytest.mark.parametrize("size", [20, 40])
def test_resize_is_bicubic_like_the_reference(tmp_path, size):
    """Resizing to load_size matches PIL's bicubic (what the PyTorch reference uses)."""
    path = write_pairs(tmp_path / "train", 1, size=32, seed=9)[0]
    image = np.asarray(Image.open(path))
    a, b = (np.asarray(x)[0] for x in eval_pairs([path], size, "AtoB"))
    for got, half in ((a, image[:, :32]), (b, image[:, 32:])):
        want = np.asarray(Image.fromarray(half).resize((size, size), Image.BICUBIC))
        err = np.abs((got + 1.0) * 127.5 - want.astype(np.float32))
        assert err.mean() < 1.0  # bilinear would be ~6-10 levels off on random pixels
        assert err.max() <= 16


def test_grayscale_and_16_bit_pngs_load_as_rgb(tmp_path):
    gray = tmp_path / "gray.png"
    ramp = np.tile(np.linspace(0, 255, 32).astype(np.uint8), (16, 1))[..., None]
    tf.io.write_file(str(gray), tf.io.encode_png(ramp))
    deep = tmp_path / "deep.png"
    tf.io.write_file(str(deep), tf.io.encode_png(ramp.astype(np.uint16) * 257))
    a, b = (np.asarray(x) for x in eval_pairs([str(gray), str(deep)], 16, "AtoB"))
    assert a.shape == b.shape == (2, 16, 16, 3)
    want_a = ramp[:, :16, 0] / 127.5 - 1.0
    want_b = ramp[:, 16:, 0] / 127.5 - 1.0
    for k in range(2):  # the 16-bit file is scaled down to 8 bits, not clipped to white
        for c in range(3):
            assert np.abs(a[k, ..., c] - want_a).max() <= UNIT + 1e-4
            assert np.abs(b[k, ..., c] - want_b).max() <= UNIT + 1e-4


# --- A and B jitter together ----------------------------------------------------------------

def write_twin_pairs(root, count, size=40, seed=0):
    """PNG files whose left and right halves are the same random image."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        half = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        path = root / f"{i:03d}.png"
        tf.io.write_file(str(path), tf.io.encode_png(np.concatenate([half, half], axis=1)))
        paths.append(str(path))
    return paths


def test_a_and_b_are_cropped_and_flipped_together(tmp_path):
    paths = write_twin_pairs(tmp_path / "train", 6)
    data = TrainData(paths, load_size=72, crop_size=64, direction="AtoB", flip=True, seed=11,
                     global_batch=2)
    loaded, _ = eval_pairs(paths, 72, "AtoB")  # each file resized to 72, no jitter
    loaded = np.asarray(loaded)
    offsets, flips = set(), set()
    for epoch in range(3):
        for a, b in as_numpy(data.epoch(epoch)):
            assert a.shape == (2, 64, 64, 3)
            np.testing.assert_array_equal(a, b)
            for img in a:  # identify which crop window and flip produced it
                hits = [(y, x, f) for src in loaded for y in range(9) for x in range(9)
                        for f in (False, True)
                        if np.array_equal(img, (src[:, ::-1] if f else src)[y:y + 64, x:x + 64])]
                assert hits, "output is not a crop of a resized input"
                offsets.add(hits[0][:2])
                flips.add(hits[0][2])
    # The jitter really varies, so A == B is not just "no jitter at all".
    assert len(offsets) > 3
    assert flips == {False, True}


def test_flip_disabled_never_mirrors(tmp_path):
    paths = write_twin_pairs(tmp_path / "train", 4, size=36)
    data = TrainData(paths, load_size=36, crop_size=36, direction="AtoB", flip=False, seed=2,
                     global_batch=4)
    loaded = {np.asarray(x).tobytes() for x in eval_pairs(paths, 36, "AtoB")[0]}
    for e in range(3):
        (a, _), = as_numpy(data.epoch(e))
        assert {img.tobytes() for img in a} == loaded


# --- determinism ----------------------------------------------------------------------------

def test_same_seed_same_epochs_in_separate_objects(twelve_pairs):
    one, two = make_data(twelve_pairs), make_data(twelve_pairs)
    for e in (0, 1):
        assert_same_batches(as_numpy(one.epoch(e)), as_numpy(two.epoch(e)))
    # Iterating the same epoch twice gives the same batches too.
    assert_same_batches(as_numpy(one.epoch(0)), as_numpy(one.epoch(0)))


def test_other_seed_or_epoch_differs(twelve_pairs):
    base = stacked(as_numpy(make_data(twelve_pairs).epoch(0)))[0]
    other_seed = stacked(as_numpy(make_data(twelve_pairs, seed=4).epoch(0)))[0]
    next_epoch = stacked(as_numpy(make_data(twelve_pairs).epoch(1)))[0]
    assert not np.array_equal(base, other_seed)
    assert not np.array_equal(base, next_epoch)


def test_each_epoch_has_a_new_order(tmp_path):
    paths = write_twin_pairs(tmp_path / "train", 12, size=32)
    data = TrainData(paths, load_size=32, crop_size=32, direction="AtoB", flip=False, seed=0,
                     global_batch=3)
    loaded = [np.asarray(x) for x in eval_pairs(paths, 32, "AtoB")[0]]
    orders = []
    for e in range(3):
        a, _ = stacked(as_numpy(data.epoch(e)))
        order = [next(j for j, ref in enumerate(loaded) if np.array_equal(img, ref)) for img in a]
        assert sorted(order) == list(range(12))
        orders.append(order)
    assert len({tuple(o) for o in orders}) == 3
    assert orders[0] != list(range(12))  # shuffled, not file order


@pytest.mark.parametrize("k", [1, 4])
def test_skip_batches_equals_dropping_them(twelve_pairs, k):
    data = make_data(twelve_pairs)
    full = as_numpy(data.epoch(1))
    assert len(full) == 6
    assert_same_batches(as_numpy(data.epoch(1, skip_batches=k)), full[k:])
    # A fresh object (as in a resumed process) gives the same tail.
    assert_same_batches(as_numpy(make_data(twelve_pairs).epoch(1, skip_batches=k)), full[k:])


def test_stream_resumes_across_epoch_boundary(twelve_pairs):
    data = make_data(twelve_pairs)
    whole = as_numpy(itertools.islice(data.stream(), 15))  # 6 steps per epoch: into epoch 2
    assert_same_batches(whole[:6], as_numpy(data.epoch(0)))
    assert_same_batches(whole[6:12], as_numpy(data.epoch(1)))
    resumed = as_numpy(itertools.islice(make_data(twelve_pairs).stream(4), 9))
    assert_same_batches(resumed, whole[4:13])
    resumed = as_numpy(itertools.islice(make_data(twelve_pairs).stream(6), 3))
    assert_same_batches(resumed, whole[6:9])


# --- steps per epoch ------------------------------------------------------------------------

def test_drop_remainder_8_pairs_batch_3(pairs_dir):
    paths = folder.train_images(str(pairs_dir), str(pairs_dir))
    assert len(paths) == 8
    data = TrainData(paths, load_size=36, crop_size=32, direction="AtoB", flip=False, seed=0,
                     global_batch=3)
    assert data.steps_per_epoch == 2
    for e in range(2):
        batches = as_numpy(data.epoch(e))
        assert len(batches) == 2
        assert all(a.shape == (3, 32, 32, 3) and b.shape == (3, 32, 32, 3) for a, b in batches)
        a, _ = stacked(batches)
        assert len({img.tobytes() for img in a}) == 6  # six distinct pairs, no repeats
    assert len(as_numpy(itertools.islice(data.stream(), 5))) == 5


def test_batch_equal_to_dataset_size(pairs_dir):
    paths = folder.train_images(str(pairs_dir), str(pairs_dir))
    data = TrainData(paths, load_size=32, crop_size=32, direction="AtoB", flip=False, seed=0,
                     global_batch=8)
    assert data.steps_per_epoch == 1
    assert len(as_numpy(data.epoch(0))) == 1


# --- folder layout and errors ---------------------------------------------------------------

def test_list_images_sorted_and_filtered(tmp_path):
    train = tmp_path / "train"
    write_pairs(train, 2)
    (train / "b.JPG").write_bytes((train / "0000.png").read_bytes())
    (train / "notes.txt").write_text("x")
    names = [Path(p).name for p in folder.list_images(str(tmp_path), "train")]
    assert names[:3] == ["0000.png", "0001.png", "b.JPG"]
    assert "notes.txt" not in names
    assert folder.list_images(str(tmp_path), "val") == []


def test_resolve_root_missing_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(UserError) as info:
        folder.resolve_root(str(missing))
    single_line_user_error(info, missing, "train/")


def test_resolve_root_file_instead_of_folder(tmp_path):
    file = tmp_path / "data.zip"
    file.write_bytes(b"zip")
    with pytest.raises(UserError) as info:
        folder.resolve_root(str(file))
    msg = single_line_user_error(info, file)
    assert "not a folder" in msg


def test_resolve_root_empty_and_valid(tmp_path):
    with pytest.raises(UserError) as info:
        folder.resolve_root("")
    single_line_user_error(info, "builtin:shapes")
    assert folder.resolve_root(str(tmp_path)) == str(tmp_path)


def test_no_train_folder(tmp_path):
    write_pairs(tmp_path / "val", 1)
    with pytest.raises(UserError) as info:
        folder.train_images(str(tmp_path), "my-flag")
    msg = single_line_user_error(info, "my-flag", tmp_path / "train")
    assert "no train/" in msg


def test_empty_train_folder(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(UserError) as info:
        folder.train_images(str(tmp_path), str(tmp_path))
    single_line_user_error(info, tmp_path / "train", ".jpg", ".png")


def test_train_folder_with_only_non_images(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "notes.txt").write_text("pairs go here")
    (tmp_path / "train" / "image.gif").write_bytes(b"GIF89a")
    with pytest.raises(UserError) as info:
        folder.train_images(str(tmp_path), str(tmp_path))
    single_line_user_error(info, tmp_path / "train", ".jpg", ".png")


def test_check_images_accepts_valid_jpeg_png_and_gray(tmp_path):
    paths = write_pairs(tmp_path / "train", 2) + \
        write_pairs(tmp_path / "train2", 2, ext=".jpg", seed=3)
    gray = tmp_path / "gray.png"
    tf.io.write_file(str(gray), tf.io.encode_png(np.zeros((8, 16, 1), np.uint8)))
    folder.check_images(paths + [str(gray)])  # no error


def test_check_images_garbage_jpeg(tmp_path):
    paths = write_pairs(tmp_path / "train", 3)
    bad = tmp_path / "train" / "0001_broken.jpg"
    bad.write_bytes(b"this is not a jpeg at all" * 10)
    with pytest.raises(UserError) as info:
        folder.check_images(paths[:1] + [str(bad)] + paths[1:])
    msg = single_line_user_error(info, bad)
    for good in paths:
        assert good not in msg


def test_check_images_wrong_aspect(tmp_path):
    paths = write_pairs(tmp_path / "train", 2)
    square = write_pairs(tmp_path / "odd", 1, size=32, width=40)[0]
    with pytest.raises(UserError) as info:
        folder.check_images(paths + [square])
    msg = single_line_user_error(info, square)
    assert "40x32" in msg and "twice as wide" in msg


def test_check_images_reports_first_bad_file(tmp_path):
    wide = write_pairs(tmp_path / "a", 1, size=16, width=20)[0]
    bad = tmp_path / "b.png"
    bad.write_bytes(b"\x89PNG garbage")
    with pytest.raises(UserError) as info:
        folder.check_images([wide, str(bad)])
    assert wide in str(info.value) and str(bad) not in str(info.value)


def test_check_images_two_channel_image(tmp_path):
    path = tmp_path / "ga.png"
    tf.io.write_file(str(path), tf.io.encode_png(np.zeros((8, 16, 2), np.uint8)))
    with pytest.raises(UserError) as info:
        folder.check_images([str(path)])
    single_line_user_error(info, path, "2 channels")


# --- built-in dataset -----------------------------------------------------------------------

def test_resolve_builtin_shapes(tmp_path, monkeypatch):
    from tfpix2pix.data import synthetic
    monkeypatch.setenv("TFPIX2PIX_CACHE", str(tmp_path / "cache"))
    root = folder.resolve_root("builtin:shapes")
    assert root == synthetic.builtin_dataset_dir()
    assert Path(root).is_relative_to(tmp_path / "cache")
    paths = folder.train_images(root, "builtin:shapes")
    assert len(paths) == 400
    folder.check_images(paths[:5])
    assert folder.resolve_root("builtin:shapes") == root  # second call reuses it


def test_resolve_unknown_builtin(tmp_path, monkeypatch):
    monkeypatch.setenv("TFPIX2PIX_CACHE", str(tmp_path / "cache"))
    with pytest.raises(UserError) as info:
        folder.resolve_root("builtin:nope")
    single_line_user_error(info, "builtin:nope", "builtin:shapes")
    assert not (tmp_path / "cache").exists()  # nothing generated for a bad name
