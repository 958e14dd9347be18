"""--preprocess modes, channels, bit depth and two-folder datasets (``tfpix2pix.data.preprocess``).

Every image here is written by the test (numpy + PIL), 32 to 64 px, so values can be
checked exactly: modes that do not resize must give the files' own pixels.
"""

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import as_numpy, assert_same
from PIL import Image

from tfpix2pix.data import cache, folder
from tfpix2pix.data.__main__ import main as data_main
from tfpix2pix.data.layouts import PREPROCESS_MODES, PairFormat
from tfpix2pix.data.pipeline import TrainData, eval_pairs
from tfpix2pix.data.source import as_pairs
from tfpix2pix.errors import UserError

HALF = (47, 50)  # (height, width) of each half: odd and not square
SIZE_OF = {"resize_and_crop": (32, 32), "crop": (32, 32), "scale_width": (37, 40),
           "scale_width_and_crop": (32, 32), "none": HALF}  # load 40, crop 32
VARIED = [(33, 40), (40, 36), (47, 50), (32, 32), (45, 61)]  # halves of different sizes


def save(path, array):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return str(path)


def random_image(rng, height, width, channels=3, dtype=np.uint8):
    shape = (height, width) if channels == 1 else (height, width, channels)
    return rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)


def hwc(image):
    return image[..., None] if image.ndim == 2 else image


def unit(pixels, depth=8):
    """What the pipeline makes of stored pixels: float32 in [-1, 1]."""
    half_range = np.float32(127.5 if depth == 8 else 32767.5)
    return hwc(np.asarray(pixels)).astype(np.float32) / half_range - np.float32(1)


def write_twins(folder_, sizes, seed=0, channels=3):
    """[A | B] PNGs whose two halves are one random image, one file per (height, width)."""
    rng = np.random.default_rng(seed)
    paths, halves = [], []
    for i, (height, width) in enumerate(sizes):
        half = random_image(rng, height, width, channels)
        paths.append(save(Path(folder_) / f"{i:03d}.png", np.concatenate([half, half], axis=1)))
        halves.append(hwc(half))
    return paths, halves


def make(pairs, **overrides):
    kwargs = dict(load_size=40, crop_size=32, direction="AtoB", flip=True, seed=3,
                  global_batch=1)
    return TrainData(pairs, **{**kwargs, **overrides})


def one_line(excinfo, *needles):
    msg = str(excinfo.value)
    assert "\n" not in msg, msg
    for needle in needles:
        assert str(needle) in msg, (needle, msg)
    return msg


def views(images):
    """Each image and its mirror, as bytes, for "is this an unjittered view" checks."""
    return {x.tobytes() for img in images for x in (img, np.ascontiguousarray(img[:, ::-1]))}


# --- modes: sizes, A and B together, values --------------------------------------------------

@pytest.mark.parametrize("mode", PREPROCESS_MODES)
def test_each_mode_gives_its_size_with_a_and_b_cut_together(tmp_path, mode):
    paths, _ = write_twins(tmp_path / "train", [HALF] * 3)
    height, width = SIZE_OF[mode]
    data = make(paths, preprocess=mode)
    for a, b in as_numpy(data.dataset().take(6)):
        assert a.shape == b.shape == (1, height, width, 3) and a.dtype == np.float32
        np.testing.assert_array_equal(a, b)  # twin halves: the same crop and the same flip
    ea, eb = eval_pairs(paths, 32, "AtoB", preprocess=mode, load_size=40)
    assert ea.shape == eb.shape == (3, height, width, 3)
    np.testing.assert_array_equal(ea, eb)


def test_crop_and_none_keep_the_files_pixels(tmp_path):
    paths, halves = write_twins(tmp_path / "train", [HALF] * 2, seed=1)
    originals = [unit(h) for h in halves]
    (a, _), = as_numpy(make(paths, preprocess="none").dataset().skip(1).take(1))
    assert a[0].tobytes() in views(originals)
    windows = views(o[y:y + 32, x:x + 32] for o in originals
                    for y in range(HALF[0] - 31) for x in range(HALF[1] - 31))
    offsets = set()
    for a, _ in as_numpy(make(paths, preprocess="crop").dataset().take(12)):
        assert a[0].tobytes() in windows  # a window of a file, not a resized one
        offsets.add(a[0].tobytes())
    assert len(offsets) > 6  # the crop really moves
    # Mirrored views do turn up with flip on, and never with it off.
    seen = {a[0].tobytes() for a, _ in as_numpy(make(paths, preprocess="none").dataset().take(8))}
    assert seen - {o.tobytes() for o in originals}
    no_flip = make(paths, preprocess="none", flip=False).dataset().take(8)
    assert {a[0].tobytes() for a, _ in as_numpy(no_flip)} <= {o.tobytes() for o in originals}


def test_eval_views_are_centred_and_follow_the_mode(tmp_path):
    paths, halves = write_twins(tmp_path / "train", [HALF] * 2, seed=2)
    ev = {mode: np.asarray(eval_pairs(paths, 32, "AtoB", preprocess=mode, load_size=40)[0])
          for mode in PREPROCESS_MODES}
    np.testing.assert_array_equal(ev["none"], np.stack([unit(h) for h in halves]))
    top, left = (HALF[0] - 32) // 2, (HALF[1] - 32) // 2
    np.testing.assert_array_equal(ev["crop"], ev["none"][:, top:top + 32, left:left + 32])
    np.testing.assert_array_equal(ev["scale_width_and_crop"], ev["scale_width"][:, 2:34, 4:36])
    # scale_width is a bicubic resize to width 40 (PIL's, the reference's, give or take rounding).
    want = np.asarray(Image.fromarray(halves[0]).resize((40, 37), Image.BICUBIC), np.float32)
    assert np.abs((ev["scale_width"][0] + 1) * 127.5 - want).mean() < 1.0


def test_scale_width_keeps_the_height_at_least_the_crop(tmp_path):
    paths, halves = write_twins(tmp_path / "train", [(20, 50), (32, 40)], seed=3)
    got = eval_pairs(paths, 32, "AtoB", preprocess="scale_width", load_size=40, as_list=True)
    assert [a.shape for a, _ in got] == [(1, 32, 40, 3)] * 2
    # Already load_size wide and tall enough: kept as it is, as the reference does.
    np.testing.assert_array_equal(np.asarray(got[1][0])[0], unit(halves[1]))


def test_same_seed_same_stream_other_seed_another(tmp_path):
    paths, _ = write_twins(tmp_path / "train", VARIED, seed=4)
    for mode in ("crop", "scale_width_and_crop", "none"):
        one, two = (as_numpy(make(paths, preprocess=mode).dataset().take(10)) for _ in range(2))
        assert_same(one, two)
    crop = as_numpy(make(paths, preprocess="crop").dataset().take(10))
    other = as_numpy(make(paths, preprocess="crop", seed=4).dataset().take(10))
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(crop, other))


# --- pairs of different sizes: caches, resume, batches ---------------------------------------

@pytest.mark.parametrize("mode", ["none", "scale_width"])
def test_variable_sizes_give_one_stream_in_every_cache_and_after_resume(tmp_path, mode,
                                                                        monkeypatch):
    paths, halves = write_twins(tmp_path / "train", VARIED, seed=5)
    cache_dir = str(tmp_path / "cache")
    streams = {}
    for cache_mode in ("memory", "disk", "none"):
        data = make(paths, preprocess=mode, cache=cache_mode, cache_dir=cache_dir)
        streams[cache_mode] = as_numpy(data.dataset().take(12))  # into the third epoch
        resumed = make(paths, preprocess=mode, cache=cache_mode, cache_dir=cache_dir)
        assert_same(as_numpy(resumed.dataset(start_step=7).take(5)), streams[cache_mode][7:])
    assert_same(streams["disk"], streams["memory"])
    assert_same(streams["none"], streams["memory"])
    want = {(h, w) for h, w in VARIED} if mode == "none" else \
        {(max(40 * h // w, 32), 40) for h, w in VARIED}
    assert {a.shape[1:3] for a, _ in streams["memory"]} == want
    # The disk cache records each pair's byte count, and a complete one is read, not refilled.
    (folder_,) = [p for p in Path(cache_dir).iterdir() if p.is_dir()]
    assert len(json.loads((folder_ / cache.MARKER).read_text())["sizes"]) == len(VARIED)
    monkeypatch.setattr(cache.DiskCache, "fill", lambda *a: pytest.fail("filled again"))
    again = make(paths, preprocess=mode, cache="disk", cache_dir=cache_dir)
    assert_same(as_numpy(again.dataset(start_step=3).take(4)), streams["memory"][3:7])


def test_eval_pairs_of_different_sizes_are_a_list(tmp_path):
    paths, halves = write_twins(tmp_path / "train", VARIED[:3], seed=6)
    got = eval_pairs(paths, 32, "AtoB", preprocess="none")
    assert isinstance(got, list) and len(got) == 3
    for (a, b), half in zip(got, halves):
        np.testing.assert_array_equal(np.asarray(a)[0], unit(half))
        assert b.shape == (1, *half.shape)
    # One size, but as_list asked: a list all the same; without it, stacked tensors.
    same, _ = write_twins(tmp_path / "same", [HALF] * 2)
    listed = eval_pairs(same, 32, "AtoB", preprocess="crop", as_list=True)
    stacked = eval_pairs(same, 32, "AtoB", preprocess="crop")
    assert [a.shape for a, _ in listed] == [(1, 32, 32, 3)] * 2
    np.testing.assert_array_equal(np.concatenate([a for a, _ in listed]), stacked[0])


def test_a_batch_of_different_sizes_is_refused_at_start_up(tmp_path):
    paths, _ = write_twins(tmp_path / "train", VARIED, seed=7)
    folder.check_images(paths, preprocess="none", batch_size=1)
    for mode in ("none", "scale_width"):
        with pytest.raises(UserError) as info:
            folder.check_images(paths, preprocess=mode, load_size=40, crop_size=32, batch_size=2,
                                decode=False)
        one_line(info, "--batch-size 2", paths[0], paths[1], "--batch-size 1", mode)
    for mode in ("crop", "scale_width_and_crop"):  # one training size whatever the files'
        info = folder.check_images(paths, preprocess=mode, load_size=40, crop_size=32,
                                   batch_size=4)
        assert info.train_sizes == ((32, 32),)


def test_images_smaller_than_the_crop_are_refused(tmp_path):
    paths, _ = write_twins(tmp_path / "train", [HALF, (24, 40)], seed=8)
    with pytest.raises(UserError) as info:
        folder.check_images(paths, preprocess="crop", crop_size=32)
    one_line(info, paths[1], "40x24", "--crop-size 32")
    folder.check_images(paths, preprocess="scale_width_and_crop", load_size=40, crop_size=32)


def test_non_square_aligned_pairs_pass_the_check_outside_resize_and_crop(tmp_path):
    paths, _ = write_twins(tmp_path / "train", [HALF], seed=9)
    with pytest.raises(UserError) as info:
        folder.check_images(paths)
    one_line(info, "twice as wide", "--preprocess scale_width")
    folder.check_images(paths, preprocess="none")
    odd = save(tmp_path / "odd.png", np.zeros((32, 65, 3), np.uint8))
    with pytest.raises(UserError) as info:
        folder.check_images([odd], preprocess="none")
    one_line(info, odd, "odd width")


# --- channels and bit depth ------------------------------------------------------------------

def test_grayscale_one_to_one_three_to_one_and_one_to_three(tmp_path):
    rng = np.random.default_rng(10)
    gray, rgb = random_image(rng, 32, 64, channels=1), random_image(rng, 32, 64)
    g, c = save(tmp_path / "g.png", gray), save(tmp_path / "c.png", rgb)
    a, b = eval_pairs([g], 32, "AtoB", preprocess="none", input_nc=1, output_nc=1)
    assert a.shape == b.shape == (1, 32, 32, 1)
    np.testing.assert_array_equal(a[0], unit(gray[:, :32]))
    np.testing.assert_array_equal(b[0], unit(gray[:, 32:]))
    a, b = eval_pairs([c], 32, "AtoB", preprocess="none", input_nc=1, output_nc=3)
    luma = np.round(rgb[:, :32].astype(np.float64) @ [0.2989, 0.5870, 0.1140])
    got = np.asarray(a[0, ..., 0]) * 127.5 + 127.5
    assert np.abs(got - luma).max() < 1 + 1e-3 and np.mean(np.abs(got - luma) < 1e-3) > 0.99
    np.testing.assert_array_equal(b[0], unit(rgb[:, 32:]))  # the target side is untouched
    a, _ = eval_pairs([g], 32, "AtoB", preprocess="none", input_nc=3)
    np.testing.assert_array_equal(a[0], unit(np.repeat(hwc(gray[:, :32]), 3, axis=-1)))
    # The training stream gives the same one-channel pixels.
    (ta, tb), = as_numpy(make([g], preprocess="none", input_nc=1, output_nc=1, flip=False)
                         .dataset().take(1))
    np.testing.assert_array_equal(ta[0], unit(gray[:, :32]))


def test_gray_jpeg_as_one_channel(tmp_path):
    rng = np.random.default_rng(11)
    path = tmp_path / "g.jpg"
    Image.fromarray(random_image(rng, 32, 64, channels=1)).save(path, quality=95)
    a, _ = eval_pairs([str(path)], 32, "AtoB", preprocess="none", input_nc=1, output_nc=1)
    pil = np.asarray(Image.open(path))[:, :32]  # libjpeg's own gray pixels
    np.testing.assert_array_equal(a[0], unit(pil))


def test_rgba_keeps_alpha_for_four_channels_and_is_composited_on_white_for_three(tmp_path):
    rgba = random_image(np.random.default_rng(12), 32, 64, channels=4)
    path = save(tmp_path / "rgba.png", rgba)
    a, b = eval_pairs([path], 32, "AtoB", preprocess="none", input_nc=4, output_nc=3)
    assert a.shape == (1, 32, 32, 4) and b.shape == (1, 32, 32, 3)
    np.testing.assert_array_equal(a[0], unit(rgba[:, :32]))
    # c * a + white * (1 - a), in float32 as TensorFlow computes it, then rounded: the rule
    # predict and the export's bytes endpoint apply too (inference/images.py, serving.py).
    half = rgba[:, 32:].astype(np.float32)
    alpha = half[..., 3:] / np.float32(255)
    on_white = np.round(half[..., :3] * alpha + np.float32(255) * (np.float32(1) - alpha))
    np.testing.assert_array_equal(b[0], unit(on_white.astype(np.uint8)))
    data = make([path], preprocess="crop", input_nc=4, output_nc=3)
    a, b = next(iter(data.dataset()))
    assert a.shape == (1, 32, 32, 4) and b.shape == (1, 32, 32, 3)
    folder.check_images([path], input_nc=4)


def test_wrong_channel_requests_fail_at_start_up(tmp_path):
    rng = np.random.default_rng(13)
    jpeg = tmp_path / "x.jpg"
    Image.fromarray(random_image(rng, 32, 64)).save(jpeg)
    rgb = save(tmp_path / "rgb.png", random_image(rng, 32, 64))
    ga = save(tmp_path / "ga.png", random_image(rng, 32, 64, channels=2))
    for decode in (False, True):
        with pytest.raises(UserError) as info:
            folder.check_images([str(jpeg)], input_nc=2, decode=decode)
        one_line(info, jpeg, "--input-nc 2", "JPEG")
    with pytest.raises(UserError) as info:
        folder.check_images([rgb], output_nc=4)
    one_line(info, rgb, "--output-nc 4", "3 channels", "RGBA")
    with pytest.raises(UserError) as info:
        folder.check_images([ga])  # gray+alpha is only for --input-nc / --output-nc 2
    one_line(info, ga, "2 channels", "--input-nc 2")
    folder.check_images([ga], input_nc=2, output_nc=2)
    a, b = eval_pairs([ga], 32, "AtoB", input_nc=2, output_nc=1)
    assert a.shape == (1, 32, 32, 2) and b.shape == (1, 32, 32, 1)


def test_16_bit_png_is_read_at_full_depth(tmp_path):
    rng = np.random.default_rng(14)
    deep = random_image(rng, 32, 64, channels=1, dtype=np.uint16)
    deep[0, :4] = [1000, 1001, 65535, 0]  # 1000 and 1001 are one 8-bit level apart: not merged
    eight = random_image(rng, 32, 64, channels=1)
    p16, p8 = save(tmp_path / "deep.png", deep), save(tmp_path / "eight.png", eight)
    info = folder.check_images([p16, p8], decode=False, preprocess="none")
    assert info.bit_depth == 16
    a, b = (np.asarray(x) for x in eval_pairs([p16, p8], 32, "AtoB", preprocess="none",
                                              input_nc=1, output_nc=1))
    np.testing.assert_array_equal(a[0], unit(deep[:, :32], 16))
    np.testing.assert_array_equal(b[0], unit(deep[:, 32:], 16))
    assert a[0, 0, 0, 0] == np.float32(1000) / np.float32(32767.5) - 1 != a[0, 0, 1, 0]
    np.testing.assert_array_equal(a[1], unit(eight[:, :32].astype(np.uint16) * 257, 16))
    np.testing.assert_array_equal(a[1], unit(eight[:, :32]))  # 8-bit values, the same floats
    # Training keeps every pair at uint16 (bit depth read from the headers when not given).
    data = make([p16, p8], preprocess="none", input_nc=1, output_nc=1, flip=False)
    assert data.format.bit_depth == 16
    assert data.reader()(tf.constant(0, tf.int64)).dtype == tf.uint16
    seen = {x[0].tobytes() for x, _ in as_numpy(data.dataset().take(2))}
    assert seen == {a[0].tobytes(), a[1].tobytes()}
    # Three channels, resized to the crop size it already has: still full depth.
    a3, _ = eval_pairs([p16], 32, "AtoB")
    np.testing.assert_array_equal(a3[0], np.repeat(unit(deep[:, :32], 16), 3, axis=-1))
    # 8-bit data alone stays uint8.
    assert make([p8]).format.bit_depth == 8
    assert make([p8]).reader()(tf.constant(0, tf.int64)).dtype == tf.uint8


# --- two folders -----------------------------------------------------------------------------

def two_folders(root, names, size=(32, 40), seed=15, b_ext=".png"):
    """root/A/train/<name>.png (gray) and root/B/train/<name><b_ext> (RGB); their pixels."""
    rng = np.random.default_rng(seed)
    pixels = {}
    for name in names:
        gray, rgb = random_image(rng, *size, channels=1), random_image(rng, *size)
        save(root / "A" / "train" / f"{name}.png", gray)
        save(root / "B" / "train" / f"{name}{b_ext}", rgb)
        pixels[name] = (hwc(gray), rgb)
    return pixels


def test_two_folder_pairs_are_matched_by_name(tmp_path):
    root = tmp_path / "ab"
    pixels = two_folders(root, ["0002", "0001", "0003"])
    train, grid = folder.find_pairs(str(root), 2)
    assert [Path(a).name for a, _ in train] == ["0001.png", "0002.png", "0003.png"]
    assert all(Path(a).stem == Path(b).stem for a, b in train) and len(grid) == 2
    assert train.layout == "unaligned_pairs" and train.parts == 2
    folder.check_images(train, grid, input_nc=1, output_nc=3, preprocess="none")
    a, b = eval_pairs(train, 32, "AtoB", preprocess="none", input_nc=1, output_nc=3)
    for k, name in enumerate(["0001", "0002", "0003"]):
        np.testing.assert_array_equal(a[k], unit(pixels[name][0]))
        np.testing.assert_array_equal(b[k], unit(pixels[name][1]))
    # BtoA: the B folder is the input.
    a, b = eval_pairs(train, 32, "BtoA", preprocess="none", input_nc=3, output_nc=1)
    np.testing.assert_array_equal(a[0], unit(pixels["0001"][1]))
    np.testing.assert_array_equal(b[0], unit(pixels["0001"][0]))
    # The training stream pairs each A with its own B, in every cache mode alike.
    streams = []
    for mode in ("memory", "disk", "none"):
        data = make(train, preprocess="crop", input_nc=1, output_nc=3, cache=mode,
                    cache_dir=str(tmp_path / "cache"))
        streams.append(as_numpy(data.dataset().take(5)))
    assert_same(streams[1], streams[0])
    assert_same(streams[2], streams[0])
    assert streams[0][0][0].shape == (1, 32, 32, 1) and streams[0][0][1].shape == (1, 32, 32, 3)
    (a, b), = as_numpy(make(train, preprocess="none", input_nc=1, output_nc=3, flip=False)
                       .dataset().take(1))
    name = next(n for n, (g, _) in pixels.items() if np.array_equal(a[0], unit(g)))
    np.testing.assert_array_equal(b[0], unit(pixels[name][1]))


def test_two_folder_names_may_differ_in_extension(tmp_path):
    root = tmp_path / "ab"
    two_folders(root, ["x", "y"], b_ext=".jpg")
    train, _ = folder.find_pairs(str(root), 1, dataset_mode="unaligned_pairs")
    assert [(Path(a).name, Path(b).name) for a, b in train] == [("x.png", "x.jpg"),
                                                                ("y.png", "y.jpg")]
    a, b = eval_pairs(train, 32, "AtoB", preprocess="none", input_nc=1)
    assert a.shape == (2, 32, 40, 1) and b.shape == (2, 32, 40, 3)


def test_two_folder_partner_missing_and_size_mismatch(tmp_path):
    root = tmp_path / "ab"
    two_folders(root, ["0001", "0002"])
    for name in ("a", "b", "c", "d", "e", "f", "g"):
        save(root / "A" / "train" / f"lonely-{name}.png", np.zeros((32, 40), np.uint8))
    save(root / "B" / "train" / "only-b.png", np.zeros((32, 40, 3), np.uint8))
    with pytest.raises(UserError) as info:
        folder.find_pairs(str(root), 1)
    msg = one_line(info, "7 in", "lonely-a.png", "lonely-e.png", "1 in", "only-b.png")
    assert "lonely-g.png" not in msg  # the first few names, and how many
    for path in list((root / "A" / "train").glob("lonely-*")) + [root / "B/train/only-b.png"]:
        path.unlink()
    save(root / "A" / "train" / "0003.png", np.zeros((32, 40), np.uint8))
    save(root / "B" / "train" / "0003.png", np.zeros((30, 40, 3), np.uint8))
    train, _ = folder.find_pairs(str(root), 1)
    with pytest.raises(UserError) as info:
        folder.check_images(train, input_nc=1, preprocess="none")
    one_line(info, root / "A" / "train" / "0003.png", root / "B" / "train" / "0003.png",
             "40x32", "40x30")
    with pytest.raises(UserError) as info:  # the input (A) is gray: 2 channels cannot be made
        folder.check_images(train, input_nc=2, preprocess="none")
    one_line(info, root / "A" / "train" / "0001.png", "--input-nc 2")


def test_dataset_mode_detection_and_errors(tmp_path):
    aligned = tmp_path / "aligned"
    write_twins(aligned / "train", [(32, 32)])
    train, _ = folder.find_pairs(str(aligned), 1)
    assert train.layout == "aligned"
    with pytest.raises(UserError) as info:
        folder.find_pairs(str(aligned), 1, dataset_mode="unaligned_pairs")
    one_line(info, "--dataset-mode unaligned_pairs", "A/")
    ab = tmp_path / "ab"
    two_folders(ab, ["0001"])
    with pytest.raises(UserError) as info:
        folder.find_pairs(str(ab), 1, dataset_mode="aligned")
    one_line(info, "no train/", "--dataset-mode")
    stderr = io.StringIO()
    assert data_main(["to-tfrecord", str(ab), str(tmp_path / "rec")], err=stderr) == 2
    assert stderr.getvalue().count("\n") == 1 and "two-folder" in stderr.getvalue()
    (ab / "train").mkdir()
    with pytest.raises(UserError) as info:
        folder.find_pairs(str(ab), 1)
    one_line(info, "--dataset-mode aligned", "unaligned_pairs")


# --- the disk cache key and sharding ---------------------------------------------------------

def test_cache_key_holds_what_the_pixels_depend_on(tmp_path):
    paths, _ = write_twins(tmp_path / "train", [(32, 32)])
    pairs = as_pairs(paths)
    default = PairFormat(load_size=40, crop_size=32)
    v1 = {"version": 1, "load_size": 40, "direction": "AtoB", "pairs": pairs.identity()}
    want = hashlib.sha256(json.dumps(v1, sort_keys=True).encode("utf-8")).hexdigest()
    assert cache.cache_key(pairs, default) == want  # caches of earlier runs stay valid
    keys = {cache.cache_key(pairs, default.replace(**change)) for change in (
        {}, {"preprocess": "none"}, {"preprocess": "scale_width"}, {"input_nc": 1},
        {"output_nc": 4}, {"bit_depth": 16}, {"direction": "BtoA"}, {"load_size": 36})}
    assert len(keys) == 8
    # crop and none store the same pixels, so they share a cache; so do both scale_widths.
    assert cache.cache_key(pairs, default.replace(preprocess="crop")) == \
        cache.cache_key(pairs, default.replace(preprocess="none"))
    assert cache.cache_key(pairs, default.replace(preprocess="scale_width")) == \
        cache.cache_key(pairs, default.replace(preprocess="scale_width_and_crop"))


def test_input_pipelines_serve_the_global_batch_in_a_crop_mode(tmp_path):
    paths, _ = write_twins(tmp_path / "train", VARIED + VARIED[:3], seed=16)
    data = make(paths, preprocess="crop", global_batch=4)
    want = as_numpy(data.dataset(start_step=1).take(3))
    streams = [as_numpy(data.dataset(1, tf.distribute.InputContext(2, p, 2)).take(3))
               for p in range(2)]
    for step in range(3):
        np.testing.assert_array_equal(
            np.concatenate([streams[0][step][0], streams[1][step][0]]), want[step][0])


def test_tfrecords_of_non_square_pairs_give_the_folder_stream(tmp_path):
    paths, _ = write_twins(tmp_path / "src" / "train", VARIED, seed=17)
    out = tmp_path / "records"
    stderr = io.StringIO()
    assert data_main(["to-tfrecord", str(tmp_path / "src"), str(out)], out=io.StringIO(),
                     err=stderr) == 2 and "twice as wide" in stderr.getvalue()
    assert data_main(["to-tfrecord", str(tmp_path / "src"), str(out), "--preprocess", "none"],
                     out=io.StringIO()) == 0
    records, _ = folder.find_pairs(str(out), 1)
    streams = [as_numpy(make(pairs, preprocess="none", cache="none").dataset().take(7))
               for pairs in (paths, records)]
    assert_same(streams[1], streams[0])
