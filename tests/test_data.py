"""Dataset folders and the tf.data pipelines: layout checks, jitter, direction, determinism."""

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml
from conftest import as_numpy, assert_same, write_pairs
from PIL import Image

from tfpix2pix import config as C
from tfpix2pix.data import cache, folder, fs
from tfpix2pix.data.pipeline import CACHE_MODES, TrainData, eval_pairs
from tfpix2pix.errors import UserError
from tfpix2pix.training.strategy import make_strategy

UNIT = 1 / 127.5  # one uint8 step in [-1, 1]


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
    for k in range(2):  # the 16-bit file is read at its depth (x / 65535), not clipped to white
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
        assert_same(as_numpy(one.epoch(e)), as_numpy(two.epoch(e)))
    # Iterating the same epoch twice gives the same batches too.
    assert_same(as_numpy(one.epoch(0)), as_numpy(one.epoch(0)))


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
    assert_same(as_numpy(data.epoch(1, skip_batches=k)), full[k:])
    # A fresh object (as in a resumed process) gives the same tail.
    assert_same(as_numpy(make_data(twelve_pairs).epoch(1, skip_batches=k)), full[k:])


def test_stream_resumes_across_epoch_boundary(twelve_pairs):
    data = make_data(twelve_pairs)
    whole = as_numpy(data.dataset().take(15))  # 6 steps per epoch: into epoch 2
    assert_same(whole[:6], as_numpy(data.epoch(0)))
    assert_same(whole[6:12], as_numpy(data.epoch(1)))
    assert_same(whole[12:], as_numpy(data.epoch(2))[:3])
    for k in (4, 6, 11):  # mid-epoch, at the boundary, on the last step of an epoch
        resumed = as_numpy(make_data(twelve_pairs).dataset(start_step=k).take(15 - k))
        assert_same(resumed, whole[k:])


def test_stream_is_infinite_and_each_epoch_is_a_permutation(tmp_path):
    paths = write_twin_pairs(tmp_path / "train", 7, size=32)
    data = TrainData(paths, load_size=32, crop_size=32, direction="AtoB", flip=False, seed=5,
                     global_batch=3, cache="none")
    loaded = [np.asarray(x) for x in eval_pairs(paths, 32, "AtoB")[0]]
    a, _ = stacked(as_numpy(data.dataset().take(2 * 10)))  # 2 steps per epoch, 10 epochs
    order = [next(j for j, ref in enumerate(loaded) if np.array_equal(img, ref)) for img in a]
    epochs = [order[i:i + 6] for i in range(0, len(order), 6)]
    assert all(len(set(e)) == 6 for e in epochs)  # 6 distinct of 7: the remainder is dropped
    assert len({tuple(e) for e in epochs}) == 10
    assert len({j for e in epochs for j in e}) == 7  # which pair is dropped changes


# --- cache modes -----------------------------------------------------------------------------

def test_cache_modes_give_the_same_stream(twelve_pairs, tmp_path):
    streams = {mode: as_numpy(make_data(twelve_pairs, cache=mode, cache_dir=str(tmp_path / "c"))
                              .dataset(start_step=4).take(9))  # across an epoch boundary
               for mode in CACHE_MODES}
    assert_same(streams["disk"], streams["memory"])
    assert_same(streams["none"], streams["memory"])
    # Booleans from older callers still mean memory and none.
    assert make_data(twelve_pairs, cache=True).cache == "memory"
    assert make_data(twelve_pairs, cache=False).cache == "none"


def cache_folders(cache_dir):
    return sorted(p for p in Path(cache_dir).iterdir())


def test_disk_cache_is_reused_by_a_second_train_data(twelve_pairs, tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    want = as_numpy(make_data(twelve_pairs, cache="disk", cache_dir=str(cache_dir))
                    .dataset().take(8))
    (folder_,) = cache_folders(cache_dir)
    assert (folder_ / cache.MARKER).is_file()
    assert len(list(folder_.glob("*.pair"))) == 12  # all pairs, also those an epoch drops

    def no_decoding(*args, **kwargs):
        raise AssertionError("a complete disk cache must be read, not decoded again")
    monkeypatch.setattr(cache.DiskCache, "fill", no_decoding)
    again = make_data(twelve_pairs, cache="disk", cache_dir=str(cache_dir))
    assert_same(as_numpy(again.dataset().take(8)), want)
    assert_same(as_numpy(again.dataset(start_step=5).take(3)), want[5:8])
    monkeypatch.undo()
    # Other settings are another cache (the folder name hashes what the pixels depend on).
    make_data(twelve_pairs, cache="disk", cache_dir=str(cache_dir), load_size=36).reader()
    assert len(cache_folders(cache_dir)) == 2


def test_partial_disk_cache_is_not_trusted(twelve_pairs, tmp_path):
    cache_dir = tmp_path / "cache"
    want = as_numpy(make_data(twelve_pairs, cache="none").dataset().take(8))
    data = make_data(twelve_pairs, cache="disk", cache_dir=str(cache_dir))
    disk = cache.DiskCache(str(cache_dir), data.pairs, data.format)
    # What a killed fill leaves: its temporary folder, named after a process that is gone.
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()
    tmp = Path(f"{disk.folder}.tmp-{socket.gethostname()}-{gone.pid}-0123abcd")
    tmp.mkdir(parents=True)
    (tmp / "00000000.pair").write_bytes(b"half a pa")
    # A final folder without its marker, with junk in it, is not complete either.
    final = Path(disk.folder)
    final.mkdir()
    (final / "00000000.pair").write_bytes(b"junk")
    assert not disk.complete()
    assert_same(as_numpy(data.dataset().take(8)), want)
    assert disk.complete() and not tmp.exists()
    # A truncated pair file in a marked folder: not complete, filled again.
    victim = final / "00000005.pair"
    victim.write_bytes(victim.read_bytes()[:100])
    assert not disk.complete()
    again = make_data(twelve_pairs, cache="disk", cache_dir=str(cache_dir))
    assert_same(as_numpy(again.dataset().take(8)), want)
    assert disk.complete()


def test_interrupted_fill_leaves_nothing_that_looks_complete(twelve_pairs, tmp_path,
                                                             monkeypatch):
    cache_dir = tmp_path / "cache"
    write_bytes, calls = fs.write_bytes, []

    def interrupted(path, data):  # Ctrl-C after 5 of the 12 pairs are written
        calls.append(path)
        if len(calls) > 5:
            raise KeyboardInterrupt
        write_bytes(path, data)
    monkeypatch.setattr(fs, "write_bytes", interrupted)
    with pytest.raises(KeyboardInterrupt):
        make_data(twelve_pairs, cache="disk", cache_dir=str(cache_dir)).reader()
    assert len(calls) == 6 and cache_folders(cache_dir) == []
    monkeypatch.setattr(fs, "write_bytes", write_bytes)
    want = as_numpy(make_data(twelve_pairs, cache="memory").dataset().take(4))
    got = as_numpy(make_data(twelve_pairs, cache="disk", cache_dir=str(cache_dir))
                   .dataset().take(4))
    assert_same(got, want)


def test_disk_cache_needs_a_folder(twelve_pairs):
    with pytest.raises(ValueError, match="cache_dir"):
        make_data(twelve_pairs, cache="disk")


def test_truncated_file_is_named_by_the_first_decode(tmp_path):
    paths = write_pairs(tmp_path / "train", 4, ext=".jpg", seed=2)
    bad = Path(paths[2])
    bad.write_bytes(bad.read_bytes()[:len(bad.read_bytes()) // 2])
    folder.check_images(paths, decode=False)  # the header is intact
    with pytest.raises(UserError) as info:
        folder.check_images(paths)
    single_line_user_error(info, bad)
    for mode in ("memory", "disk"):
        data = make_data(paths, cache=mode, cache_dir=str(tmp_path / "cache"))
        with pytest.raises(UserError) as info:
            data.dataset()
        single_line_user_error(info, bad)
    assert not (tmp_path / "cache").exists() or cache_folders(tmp_path / "cache") == []
    with pytest.raises(UserError) as info:
        eval_pairs(paths, 32, "AtoB")
    single_line_user_error(info, bad)


# --- replicas and input pipelines -----------------------------------------------------------

def local_parts(strategy, value):
    return [np.asarray(x) for x in strategy.experimental_local_results(value)]


def test_mirrored_replicas_concatenate_to_the_global_batch(twelve_pairs):
    strategy = make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    data = make_data(twelve_pairs, global_batch=4)  # 3 steps per epoch
    want = as_numpy(data.dataset().take(7))
    for start in (0, 2):  # 2: resumed mid-epoch, running into epochs 1 and 2
        batches = data.distribute(strategy, start)
        for step in range(start, 7):
            a, b = next(batches)
            parts_a, parts_b = local_parts(strategy, a), local_parts(strategy, b)
            assert [p.shape for p in parts_a] == [(2, 32, 32, 3)] * 2
            np.testing.assert_array_equal(np.concatenate(parts_a), want[step][0])
            np.testing.assert_array_equal(np.concatenate(parts_b), want[step][1])


def test_default_strategy_gets_global_batches(twelve_pairs):
    data = make_data(twelve_pairs)
    batches = data.distribute(tf.distribute.get_strategy(), 3)
    got = [tuple(np.asarray(x) for x in next(batches)) for _ in range(4)]
    assert_same(got, as_numpy(data.dataset(3).take(4)))


@pytest.mark.parametrize("replicas,pipelines,batch", [(2, 2, 4), (4, 2, 4), (4, 2, 8), (2, 1, 2)])
def test_input_pipelines_together_serve_the_global_batch(twelve_pairs, replicas, pipelines,
                                                         batch):
    """As MultiWorkerMirroredStrategy splits it: each worker its replicas' batches, in order."""
    data = make_data(twelve_pairs, global_batch=batch)
    steps = 4  # 12 // 8 = 1 step per epoch for batch 8: across epoch boundaries
    want = as_numpy(data.dataset(start_step=1).take(steps))
    served = replicas // pipelines
    streams = [as_numpy(data.dataset(1, tf.distribute.InputContext(pipelines, p, replicas))
                        .take(steps * served)) for p in range(pipelines)]
    for step in range(steps):
        parts = [stream[step * served + r] for stream in streams for r in range(served)]
        assert all(a.shape[0] == batch // replicas for a, _ in parts)
        np.testing.assert_array_equal(np.concatenate([a for a, _ in parts]), want[step][0])
        np.testing.assert_array_equal(np.concatenate([b for _, b in parts]), want[step][1])


def test_batch_must_split_over_replicas(twelve_pairs):
    data = make_data(twelve_pairs, global_batch=3)
    with pytest.raises(ValueError, match="does not split"):
        data.dataset(0, tf.distribute.InputContext(1, 0, 2))


# --- config: --cache ------------------------------------------------------------------------

def test_old_cache_booleans_in_config_still_load(tmp_path):
    assert C.Config().data.cache == "memory"
    for old, new in ((True, "memory"), (False, "none")):
        cfg = C.apply_overrides(C.Config(), {"data": {"cache": old}}, "old config.yaml")
        assert cfg.data.cache == new
    # A run folder written before --cache took a mode resumes.
    from conftest import tiny_config

    from tfpix2pix import run_folder
    run = tmp_path / "run"
    cfg = tiny_config(tmp_path, run)
    run.mkdir()
    saved = C.to_dict(cfg)
    saved["data"]["cache"] = True
    with open(run_folder.config_path(run), "w") as fh:
        yaml.safe_dump(saved, fh)
    run_folder.check_compatible(cfg, str(run))  # no error
    old = run_folder.read_config(run)
    assert old.data.cache == "memory"


def test_cache_flag(tmp_path):
    from tfpix2pix.cli import build_parser, resolve_config
    parser = build_parser("train", "")
    cfg = resolve_config(parser.parse_args(["--data", str(tmp_path), "--cache", "disk"]))
    assert cfg.data.cache == "disk"
    with pytest.raises(UserError) as info:
        C.validate(C.apply_overrides(C.Config(), {"data": {"cache": "ram"}}, "test"))
    single_line_user_error(info, "--cache", "memory, disk, none")
    with pytest.raises(UserError):
        C.apply_overrides(C.Config(), {"data": {"cache": 1}}, "test")


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
    assert len(as_numpy(data.dataset().take(5))) == 5


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


@pytest.mark.parametrize("decode", [True, False])
def test_check_images_accepts_valid_jpeg_png_and_gray(tmp_path, decode):
    paths = write_pairs(tmp_path / "train", 2) + \
        write_pairs(tmp_path / "train2", 2, ext=".jpg", seed=3)
    gray = tmp_path / "gray.png"
    tf.io.write_file(str(gray), tf.io.encode_png(np.zeros((8, 16, 1), np.uint8)))
    folder.check_images(paths + [str(gray)], decode=decode)  # no error


@pytest.mark.parametrize("decode", [True, False])
def test_check_images_garbage_jpeg(tmp_path, decode):
    paths = write_pairs(tmp_path / "train", 3)
    bad = tmp_path / "train" / "0001_broken.jpg"
    bad.write_bytes(b"this is not a jpeg at all" * 10)
    with pytest.raises(UserError) as info:
        folder.check_images(paths[:1] + [str(bad)] + paths[1:], decode=decode)
    msg = single_line_user_error(info, bad)
    for good in paths:
        assert good not in msg


@pytest.mark.parametrize("decode", [True, False])
def test_check_images_wrong_aspect(tmp_path, decode):
    paths = write_pairs(tmp_path / "train", 2)
    square = write_pairs(tmp_path / "odd", 1, size=32, width=40)[0]
    with pytest.raises(UserError) as info:
        folder.check_images(paths + [square], decode=decode)
    msg = single_line_user_error(info, square)
    assert "40x32" in msg and "twice as wide" in msg


@pytest.mark.parametrize("decode", [True, False])
def test_check_images_reports_first_bad_file(tmp_path, decode):
    wide = write_pairs(tmp_path / "a", 1, size=16, width=20)[0]
    bad = tmp_path / "b.png"
    bad.write_bytes(b"\x89PNG garbage")
    with pytest.raises(UserError) as info:
        folder.check_images([wide, str(bad)], decode=decode)
    assert wide in str(info.value) and str(bad) not in str(info.value)


@pytest.mark.parametrize("decode", [True, False])
def test_check_images_two_channel_image(tmp_path, decode):
    path = tmp_path / "ga.png"
    tf.io.write_file(str(path), tf.io.encode_png(np.zeros((8, 16, 2), np.uint8)))
    with pytest.raises(UserError) as info:
        folder.check_images([str(path)], decode=decode)
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
