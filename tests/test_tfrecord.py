"""``python -m tfpix2pix.data to-tfrecord`` and training from its output."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf
from conftest import ROOT, as_numpy, assert_same, write_pairs

from tfpix2pix.data import folder, tfrecord, to_tfrecord
from tfpix2pix.data.__main__ import main
from tfpix2pix.data.pipeline import TrainData, eval_pairs
from tfpix2pix.errors import UserError


@pytest.fixture
def dataset(tmp_path):
    """train/ with 7 pairs (PNG and JPEG), val/ with 2, test/ with 1; 16 px high."""
    root = tmp_path / "pairs"
    write_pairs(root / "train", 4, size=16, seed=1)
    for i, path in enumerate(write_pairs(root / "jpg", 3, size=16, seed=2, ext=".jpg")):
        os.rename(path, root / "train" / f"x{i}.jpg")
    write_pairs(root / "val", 2, size=16, seed=3)
    write_pairs(root / "test", 1, size=16, seed=4)
    return root


def convert(src, out, *extra):
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["to-tfrecord", str(src), str(out), *extra], out=stdout, err=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def one_line_error(code, stderr, *needles):
    assert code == 2
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    for needle in needles:
        assert str(needle) in stderr, (needle, stderr)


def test_writes_shards_and_index(dataset, tmp_path):
    out = tmp_path / "records"
    code, stdout, _ = convert(dataset, out, "--shards", "3")
    assert code == 0 and "train: 7 pairs -> 3 shards" in stdout
    assert sorted(os.listdir(out)) == sorted(
        ["index.json"] + [f"train-0000{i}-of-00003.tfrecord" for i in range(3)] +
        [f"val-0000{i}-of-00002.tfrecord" for i in range(2)] + ["test-00000-of-00001.tfrecord"])
    index = json.loads((out / "index.json").read_text())
    train = index["splits"]["train"]
    files = folder.list_images(str(dataset), "train")
    assert train["count"] == 7 and train["names"] == [os.path.basename(p) for p in files]
    assert [s["count"] for s in train["shards"]] == [2, 2, 3]
    # Each record holds the file's name and its original bytes, in the folder's order.
    shards = [str(out / s["file"]) for s in train["shards"]]
    records = [tfrecord._parse(r) for r in tf.data.TFRecordDataset(shards)]
    assert [n.numpy().decode() for n, _ in records] == train["names"]
    assert all(data.numpy() == Path(p).read_bytes() for (_, data), p in zip(records, files))


@pytest.mark.parametrize("cache", ["none", "memory", "disk"])
def test_tfrecord_gives_the_folder_stream(dataset, tmp_path, cache):
    out = tmp_path / "records"
    assert convert(dataset, out, "--shards", "3")[0] == 0
    by_folder, by_records = (folder.find_pairs(str(p), 2) for p in (dataset, out))
    assert list(by_records[0]) == [os.path.basename(p) for p in by_folder[0]]
    folder.check_images(*by_records, decode=cache == "none")
    streams = []
    for i, (train, grid) in enumerate((by_folder, by_records)):
        data = TrainData(train, load_size=20, crop_size=16, direction="BtoA", flip=True, seed=4,
                         global_batch=2, cache=cache, cache_dir=str(tmp_path / f"cache{i}"))
        assert data.steps_per_epoch == 3
        streams.append((as_numpy(data.dataset().take(8)),  # into the third epoch
                        as_numpy(data.dataset(start_step=2).take(3)),
                        eval_pairs(grid, 16, "BtoA")))
    (first, resumed, grid), (first_r, resumed_r, grid_r) = streams
    assert_same(first_r, first)
    assert_same(resumed_r, first[2:5])
    assert_same([grid_r], [grid])


def test_urls_work_for_the_folder_and_to_tfrecord_through_tf_io_gfile(dataset, tmp_path):
    # ram:// is TensorFlow's in-memory file system: a URL that goes through tf.io.gfile as
    # gs:// and s3:// do, without a network.
    remote = "ram://tfpix2pix-test-gfile/pairs"
    for split in ("train", "val", "test"):
        tf.io.gfile.makedirs(f"{remote}/{split}")
        for name in sorted(os.listdir(dataset / split)):
            tf.io.gfile.copy(str(dataset / split / name), f"{remote}/{split}/{name}", True)
    records = "ram://tfpix2pix-test-gfile/records"
    code, _out, err = convert(remote, records, "--shards", "2")
    assert code == 0, err
    streams = []
    for data_path in (str(dataset), remote, records):
        train, grid = folder.find_pairs(data_path, 2)
        folder.check_images(train, grid)
        data = TrainData(train, load_size=20, crop_size=16, direction="BtoA", flip=True, seed=4,
                         global_batch=2, cache="memory")
        streams.append((as_numpy(data.dataset().take(4)), eval_pairs(grid, 16, "BtoA")))
    (local, local_grid), *others = streams
    for stream, grid in others:
        assert_same(stream, local)
        assert_same([grid], [local_grid])


def test_slices_across_shards(dataset, tmp_path):
    out = tmp_path / "records"
    convert(dataset, out, "--shards", "3")
    files, records = folder.find_pairs(str(dataset), 1)[0], folder.find_pairs(str(out), 1)[0]
    assert list(records[1:6]) == [os.path.basename(p) for p in files[1:6]]
    assert_same([eval_pairs(records[1:6], 16, "AtoB")], [eval_pairs(files[1:6], 16, "AtoB")])
    assert records.where(3).endswith("train-00001-of-00003.tfrecord record 1 (0003.png)")


def test_rewrite_replaces_its_own_output(dataset, tmp_path):
    out = tmp_path / "records"
    convert(dataset, out, "--shards", "3")
    code, _, _ = convert(dataset, out)  # automatic: one shard per split here
    assert code == 0
    assert sorted(os.listdir(out)) == ["index.json", "test-00000-of-00001.tfrecord",
                                       "train-00000-of-00001.tfrecord",
                                       "val-00000-of-00001.tfrecord"]


def test_interrupted_conversion_leaves_no_index_and_no_temporaries(dataset, tmp_path,
                                                                   monkeypatch):
    out = tmp_path / "records"
    example, calls = to_tfrecord._example, []

    def interrupted(name, data):
        calls.append(name)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return example(name, data)
    monkeypatch.setattr(to_tfrecord, "_example", interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert(dataset, out, "--shards", "3")
    assert os.listdir(out) == []
    with pytest.raises(UserError) as info:  # not mistaken for a dataset
        folder.find_pairs(str(out), 1)
    assert "no train/ folder" in str(info.value)


def test_cli_errors_are_one_line(dataset, tmp_path):
    one_line_error(*convert(tmp_path / "nowhere", tmp_path / "o")[::2], tmp_path / "nowhere",
                   "folder not found")
    (tmp_path / "empty" / "train").mkdir(parents=True)
    one_line_error(*convert(tmp_path / "empty", tmp_path / "o")[::2], "no .jpg or .png pairs")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    one_line_error(*convert(dataset, blocker / "out")[::2], blocker / "out", "cannot write")
    one_line_error(*convert(dataset, dataset)[::2], dataset, "not empty")
    one_line_error(*convert(dataset, tmp_path / "o", "--shards", "-1")[::2], "--shards -1")
    square = write_pairs(dataset / "train", 1, size=16, width=20, seed=9)[0]
    os.rename(square, dataset / "train" / "zz.png")
    one_line_error(*convert(dataset, tmp_path / "o")[::2], dataset / "train" / "zz.png",
                   "twice as wide")
    assert not (tmp_path / "o" / "index.json").exists()


def test_cli_process_exit_status(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tfpix2pix.data", "to-tfrecord",
                             str(tmp_path / "missing"), str(tmp_path / "out")],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("error: DIR ") and result.stderr.count("\n") == 1


def test_corrupt_or_missing_records_are_reported(dataset, tmp_path):
    out = tmp_path / "records"
    convert(dataset, out, "--shards", "2")
    shard = out / "train-00001-of-00002.tfrecord"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    train, _ = folder.find_pairs(str(out), 1)
    with pytest.raises(UserError) as info:
        folder.check_images(train, decode=False)
    msg = str(info.value)
    assert "\n" not in msg and str(shard) in msg
    assert "corrupt record" in msg and "to-tfrecord" in msg
    folder.check_images(train[:3])  # the intact first shard alone is fine
    shard.unlink()
    with pytest.raises(UserError) as info:
        folder.find_pairs(str(out), 1)
    assert str(shard) in str(info.value) and "missing" in str(info.value)
    (out / "index.json").write_text("{not json")
    with pytest.raises(UserError) as info:
        folder.find_pairs(str(out), 1)
    assert "index.json" in str(info.value) and "\n" not in str(info.value)


def test_record_out_of_order_is_reported(dataset, tmp_path):
    out = tmp_path / "records"
    convert(dataset, out, "--shards", "1")
    index = json.loads((out / "index.json").read_text())
    names = index["splits"]["train"]["names"]
    names[0], names[1] = names[1], names[0]
    (out / "index.json").write_text(json.dumps(index))
    with pytest.raises(UserError) as info:
        folder.check_images(folder.find_pairs(str(out), 1)[0])
    assert "record 0" in str(info.value) and "to-tfrecord" in str(info.value)
