"""--on-bad-file error|skip: a generated corpus of bad files, files that go bad after the
start-up check, and a data folder that disappears mid-run."""

import io
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config, write_pairs

from tfpix2pix import run_folder
from tfpix2pix.data.__main__ import main as data_main
from tfpix2pix.errors import UserError
from tfpix2pix.training import loop


def _bad_corpus(folder):
    """One file of each bad kind in ``folder``: {name: kind}."""
    rng = np.random.default_rng(5)
    good_jpeg = tf.io.encode_jpeg(rng.integers(0, 256, (32, 64, 3), np.uint8)).numpy()
    good_png = tf.io.encode_png(rng.integers(0, 256, (32, 64, 3), np.uint8)).numpy()
    files = {
        "bad_undecodable.jpg": rng.integers(0, 256, 500, np.uint8).tobytes(),
        "bad_truncated.jpg": good_jpeg[:len(good_jpeg) // 2],
        "bad_truncated.png": good_png[:len(good_png) // 2],
        "bad_empty.png": b"",
        "bad_aspect.png": tf.io.encode_png(rng.integers(0, 256, (32, 32, 3), np.uint8)).numpy(),
        "bad_channels.png": tf.io.encode_png(
            rng.integers(0, 256, (32, 64, 2), np.uint8)).numpy(),  # gray+alpha for RGB
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return sorted(files)


def _config(data, run_dir, policy, cache="memory", epochs=1, **log):
    return tiny_config(data, run_dir, data={"on_bad_file": policy, "cache": cache},
                       train={"n_epochs": epochs, "n_epochs_decay": 0},
                       log={"checkpoint_every": 2, "image_every": 100, "log_every": 2, **log})


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "data"
    write_pairs(root / "train", 8)
    write_pairs(root / "val", 2, seed=1)
    return root, _bad_corpus(root / "train")


def test_error_names_the_first_bad_file_before_any_model_is_built(corpus, tmp_path):
    root, bad = corpus
    run_dir = tmp_path / "run"
    with pytest.raises(UserError) as caught:
        loop.train(_config(root, run_dir, "error"), err=io.StringIO())
    assert bad[0] in str(caught.value) and "\n" not in str(caught.value)
    assert not run_dir.exists()  # stopped before the run folder (and the model) were made


def test_skip_leaves_out_every_kind_counts_and_lists_them(corpus, tmp_path):
    root, bad = corpus
    run_dir, err = tmp_path / "run", io.StringIO()
    summary = loop.train(_config(root, run_dir, "skip"), out=io.StringIO(), err=err)
    assert summary["skipped_files"] == len(bad) == 6
    assert summary["step"] == 8 // 2  # the 8 good pairs at batch 2, one epoch
    assert f"left out {len(bad)} bad files" in err.getvalue()
    listed = (run_dir / run_folder.SKIPPED_FILES).read_text().splitlines()
    assert sorted(os.path.basename(line.split("\t")[0]) for line in listed) == bad
    assert all("\t" in line and line.split("\t")[1] for line in listed)  # with the reason


def _corrupt_after_check(monkeypatch, path):
    """Truncate ``path`` right after the start-up check has passed it."""
    check = loop._Run._check_data

    def then_corrupt(run):
        check(run)
        if not getattr(run, "corrupted", False):
            run.corrupted = True
            path.write_bytes(path.read_bytes()[:40])
    monkeypatch.setattr(loop._Run, "_check_data", then_corrupt)


@pytest.mark.parametrize("cache", ["none", "memory"])
def test_a_file_that_goes_bad_after_the_check_is_named_or_skipped(
        pairs_dir, tmp_path, monkeypatch, cache):
    victim = pairs_dir / "train" / "0005.png"
    original = victim.read_bytes()
    _corrupt_after_check(monkeypatch, victim)
    with pytest.raises(UserError) as caught:
        loop.train(_config(pairs_dir, tmp_path / "error", "error", cache), out=io.StringIO(),
                   err=io.StringIO())
    message = str(caught.value)
    assert str(victim) in message and "\n" not in message

    victim.write_bytes(original)
    err = io.StringIO()
    summary = loop.train(_config(pairs_dir, tmp_path / "skip", "skip", cache),
                         out=io.StringIO(), err=err)
    assert summary["skipped_files"] == 1 and "left out" in err.getvalue()
    # cache none: met at a step, another pair is read in its place and the steps stay 4;
    # memory: met at the cache fill, before step 0, and left out as at the check (3 steps).
    assert summary["step"] == (4 if cache == "none" else 3)
    listed = (tmp_path / "skip" / run_folder.SKIPPED_FILES).read_text()
    assert str(victim) in listed


def test_a_vanished_data_folder_stops_with_one_line_and_keeps_the_checkpoint(
        pairs_dir, tmp_path, monkeypatch):
    save = loop._Run.save

    def save_then_lose_the_data(run):
        save(run)
        shutil.rmtree(pairs_dir, ignore_errors=True)
    monkeypatch.setattr(loop._Run, "save", save_then_lose_the_data)
    run_dir = tmp_path / "run"
    cfg = _config(pairs_dir, run_dir, "skip", "none", epochs=4)  # past what is prefetched
    with pytest.raises(UserError) as caught:
        loop.train(cfg, out=io.StringIO(), err=io.StringIO())
    message = str(caught.value)
    assert f"--data {pairs_dir}: the data folder is gone" in message and "\n" not in message
    latest = run_folder.latest_checkpoint(str(run_dir))
    assert latest and latest in message  # ckpt-2, or a later one if prefetched steps ran
    assert run_folder.checkpoint_step(latest) < 16


def test_a_tfrecord_shard_with_a_corrupt_record_is_named_or_its_rest_skipped(
        pairs_dir, tmp_path):
    records = tmp_path / "records"
    assert data_main(["to-tfrecord", str(pairs_dir), str(records), "--shards", "2"],
                     out=io.StringIO(), err=io.StringIO()) == 0
    shard = records / "train-00001-of-00002.tfrecord"  # records 4 to 7 of train
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside record 5 or 6
    shard.write_bytes(bytes(data))

    with pytest.raises(UserError) as caught:
        loop.train(_config(records, tmp_path / "error", "error"), err=io.StringIO())
    assert str(shard) in str(caught.value) and "corrupt record" in str(caught.value)

    summary = loop.train(_config(records, tmp_path / "skip", "skip"), out=io.StringIO(),
                         err=io.StringIO())
    listed = (tmp_path / "skip" / run_folder.SKIPPED_FILES).read_text().splitlines()
    assert summary["skipped_files"] == len(listed) in (2, 3)  # the corrupt record to the end
    assert all(line.startswith(f"{shard} record ") for line in listed)
    assert summary["step"] == (8 - len(listed)) // 2
