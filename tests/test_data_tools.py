"""``python -m tfpix2pix.data`` combine, split, validate and prepare-cityscapes
(``tfpix2pix.data.combine``, ``split``, ``validate``, ``cityscapes``)."""

import io
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from tfpix2pix.data import folder, split
from tfpix2pix.data.__main__ import main
from tfpix2pix.errors import UserError

RED, GREEN, BLUE, GRAY = (200, 30, 30), (30, 200, 30), (30, 30, 200), (128, 128, 128)


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def one_line_error(code, err, *needles):
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    for needle in needles:
        assert str(needle) in lines[0], (needle, lines[0])
    return lines[0]


def image(path, size=(8, 8), color=RED, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color if mode != "L" else color[0]).save(path)
    return path


def pair(path, size=(8, 4)):
    """An [A | B] file: A red, B green, ``size`` the whole file's."""
    w, h = size
    left = Image.new("RGB", (w // 2, h), RED)
    right = Image.new("RGB", (w - w // 2, h), GREEN)
    whole = Image.new("RGB", size)
    whole.paste(left, (0, 0))
    whole.paste(right, (w // 2, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    whole.save(path)
    return path


# --- combine -------------------------------------------------------------------------------

def test_combine_pairs_by_name_per_split_and_lists_the_lonely(tmp_path):
    for split_name, names in (("train", ["1", "2", "3"]), ("val", ["9"])):
        for name in names:
            image(tmp_path / "A" / split_name / f"{name}.png", color=RED)
            image(tmp_path / "B" / split_name / f"{name}.jpg", color=BLUE)
    image(tmp_path / "A" / "train" / "only_a.png")
    image(tmp_path / "B" / "train" / "only_b.png")
    code, out, err = run("combine", "--a", tmp_path / "A", "--b", tmp_path / "B",
                         "--out", tmp_path / "AB")
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "AB" / "train")) == ["1.png", "2.png", "3.png"]
    assert os.listdir(tmp_path / "AB" / "val") == ["9.png"]
    assert "without a partner" in out and "only_a.png" in out and "only_b.png" in out
    assert "combined train: 3, val: 1 pairs" in out
    combined = np.asarray(Image.open(tmp_path / "AB" / "train" / "1.png"))
    assert combined.shape == (8, 16, 3)
    assert tuple(combined[0, 0]) == RED and np.abs(combined[0, 15] - BLUE).max() < 8
    folder.check_images(folder.list_images(str(tmp_path / "AB"), "train"))  # trainable


def test_combine_flat_folders_and_mixed_modes(tmp_path):
    image(tmp_path / "a" / "x.jpg", mode="L", color=GRAY)  # gray A, RGB B: both become RGB
    image(tmp_path / "b" / "x.png", color=GREEN)
    code, out, err = run("combine", "--a", tmp_path / "a", "--b", tmp_path / "b",
                         "--out", tmp_path / "ab")
    assert code == 0, err
    assert os.listdir(tmp_path / "ab") == ["x.jpg"]
    combined = Image.open(tmp_path / "ab" / "x.jpg")
    assert combined.mode == "RGB" and combined.size == (16, 8)


def test_combine_refuses_different_sizes_unless_resize(tmp_path):
    image(tmp_path / "A" / "train" / "1.png", size=(8, 8))
    image(tmp_path / "B" / "train" / "1.png", size=(6, 4))
    args = ("combine", "--a", tmp_path / "A", "--b", tmp_path / "B", "--out", tmp_path / "AB")
    code, _, err = run(*args)
    one_line_error(code, err, tmp_path / "B" / "train" / "1.png", "6x4", "8x8", "--resize")
    assert not (tmp_path / "AB").exists() and sorted(os.listdir(tmp_path)) == ["A", "B"]
    code, _, err = run(*args, "--resize")
    assert code == 0, err
    assert Image.open(tmp_path / "AB" / "train" / "1.png").size == (16, 8)


def test_combine_fails_when_nothing_matches_or_a_file_is_broken(tmp_path):
    image(tmp_path / "A" / "1.png")
    image(tmp_path / "B" / "2.png")
    code, _, err = run("combine", "--a", tmp_path / "A", "--b", tmp_path / "B",
                       "--out", tmp_path / "AB")
    one_line_error(code, err, "no file of one has a partner")
    (tmp_path / "B" / "1.png").write_bytes(b"not a png")
    code, _, err = run("combine", "--a", tmp_path / "A", "--b", tmp_path / "B",
                       "--out", tmp_path / "AB")
    one_line_error(code, err, tmp_path / "B" / "1.png", "not a readable image")
    assert not (tmp_path / "AB").exists()
    code, _, err = run("combine", "--a", tmp_path / "nope", "--b", tmp_path / "B",
                       "--out", tmp_path / "AB")
    one_line_error(code, err, "--a", "folder not found")


# --- split ---------------------------------------------------------------------------------

def test_split_is_seeded_and_hard_links(tmp_path):
    for i in range(20):
        pair(tmp_path / "all" / f"{i:02d}.png")
    code, out, err = run("split", tmp_path / "all", "--out", tmp_path / "s1", "--val", 0.2,
                         "--test", 0.1, "--seed", 3)
    assert code == 0, err
    assert "train: 14, val: 4, test: 2 pairs" in out and "hard links" in out

    def listing(root):
        return {s: sorted(os.listdir(root / s)) for s in ("train", "val", "test")}

    first = listing(tmp_path / "s1")
    assert sorted(sum(first.values(), [])) == sorted(os.listdir(tmp_path / "all"))
    assert os.path.samefile(tmp_path / "s1" / "val" / first["val"][0],
                            tmp_path / "all" / first["val"][0])
    assert run("split", tmp_path / "all", "--out", tmp_path / "s2", "--val", 0.2, "--test",
               0.1, "--seed", 3, "--copy")[0] == 0
    assert listing(tmp_path / "s2") == first  # the same seed, the same split
    assert not os.path.samefile(tmp_path / "s2" / "val" / first["val"][0],
                                tmp_path / "all" / first["val"][0])
    assert split.assign(list(first["train"]), 0.2, 0.1, 4) != \
        split.assign(list(first["train"]), 0.2, 0.1, 3)


def test_split_refusals(tmp_path):
    pair(tmp_path / "all" / "a.png")
    pair(tmp_path / "all" / "b.png")
    code, _, err = run("split", tmp_path / "all", "--out", tmp_path / "o", "--val", 0.6,
                       "--test", 0.5)
    one_line_error(code, err, "--val 0.6 --test 0.5")
    code, _, err = run("split", tmp_path / "all", "--out", tmp_path / "o", "--val", 1.5)
    one_line_error(code, err, "--val 1.5")
    code, _, err = run("split", tmp_path / "all", "--out", tmp_path / "o", "--val", 0.5,
                       "--test", 0.4)
    one_line_error(code, err, "leave none for train/")
    code, _, err = run("split", tmp_path / "empty", "--out", tmp_path / "o")
    one_line_error(code, err, "folder not found")
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "keep.txt").write_text("mine")
    code, _, err = run("split", tmp_path / "all", "--out", tmp_path / "o")
    one_line_error(code, err, "not empty", "--force")
    assert run("split", tmp_path / "all", "--out", tmp_path / "o", "--force")[0] == 0
    assert os.listdir(tmp_path / "o") == ["train"]


# --- validate ------------------------------------------------------------------------------

def test_validate_a_good_folder(tmp_path):
    for i in range(3):
        pair(tmp_path / "d" / "train" / f"{i}.png")
    pair(tmp_path / "d" / "val" / "0.png")
    code, out, err = run("validate", tmp_path / "d")
    assert code == 0, err
    assert out.splitlines() == ["train: 3 pairs, 8x4, RGB, 8-bit, PNG",
                                "val: 1 pairs, 8x4, RGB, 8-bit, PNG",
                                f"{tmp_path / 'd'}: 4 pairs, no problems"]


def test_validate_lists_every_problem_with_trainings_messages(tmp_path):
    root = tmp_path / "d"
    good = pair(root / "train" / "0.png")
    broken = root / "train" / "1.jpg"
    broken.write_bytes(b"not a jpeg")
    square = pair(root / "train" / "2.png", size=(6, 6))
    gray_alpha = image(root / "val" / "3.png", size=(8, 4), mode="LA", color=(9, 9))
    code, out, err = run("validate", root)
    assert code == 1, err
    problems = [line[len("problem: "):] for line in out.splitlines()
                if line.startswith("problem: ")]
    assert len(problems) == 3 and out.splitlines()[-1] == f"{root}: 3 problems in 4 pairs"
    assert "train: 3 pairs, 8x4 (1), 6x6 (1), RGB, 8-bit, PNG, 1 unreadable" in out
    # One rule, two homes avoided: each line is what training's check raises for that file.
    for path, message in zip((broken, square, gray_alpha), problems):
        with pytest.raises(UserError) as info:
            folder.check_images([str(good), str(path)])
        assert str(info.value) == message
    # --preprocess none accepts the square pair, but not an odd width.
    code, out, _ = run("validate", root, "--preprocess", "none", "--quick")
    assert code == 1 and "6x6" not in out.split("problem:", 1)[1]
    assert "an odd width" not in out


def test_validate_two_folders_lists_the_unmatched(tmp_path):
    root = tmp_path / "d"
    for name in ("1", "2"):
        image(root / "A" / "train" / f"{name}.png")
        image(root / "B" / "train" / f"{name}.jpg", color=BLUE)
    image(root / "A" / "train" / "lonely.png")
    image(root / "B" / "train" / "2.jpg", size=(4, 4), color=BLUE)  # now smaller than A's
    code, out, err = run("validate", root)
    assert code == 1, err
    assert "train: 2 pairs" in out
    assert f"{root / 'A' / 'train'}/: 1 file without a partner" in out and "lonely.png" in out
    assert "a pair's A and B must have the same size" in out
    code, _, err = run("validate", tmp_path / "absent")
    one_line_error(code, err, "folder not found")
    code, _, err = run("validate", tmp_path)
    one_line_error(code, err, "no .jpg or .png images")


# --- prepare-cityscapes --------------------------------------------------------------------

FRAMES = {"train": ["aachen_000000_000019", "aachen_000001_000019", "bremen_000000_000019"],
          "val": ["frankfurt_000000_000294"]}


def png(color, size=(32, 16)):
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def official_files(drop=()):
    """{archive name: {member: bytes}} in the layout of the two official zips."""
    gt, left = {"README": b"gtFine", "license.txt": b"x"}, {"README": b"left"}
    for split_name, frames in FRAMES.items():
        for frame in frames:
            city = frame.split("_")[0]
            for kind in ("color", "labelIds", "instanceIds"):
                gt[f"gtFine/{split_name}/{city}/{frame}_gtFine_{kind}.png"] = png(GREEN)
            if frame not in drop:
                left[f"leftImg8bit/{split_name}/{city}/{frame}_leftImg8bit.png"] = png(RED)
    gt["gtFine/test/berlin/berlin_000000_000019_gtFine_color.png"] = png(GRAY)  # no labels
    left["leftImg8bit/test/berlin/berlin_000000_000019_leftImg8bit.png"] = png(GRAY)
    return {"gtFine_trainvaltest.zip": gt, "leftImg8bit_trainvaltest.zip": left}


def write_zips(folder_path, files):
    folder_path.mkdir(parents=True, exist_ok=True)
    for name, members in files.items():
        with zipfile.ZipFile(folder_path / name, "w") as zf:
            for member, data in members.items():
                zf.writestr(member, data)
    return [folder_path / name for name in files]


def write_folders(folder_path, files):
    for members in files.values():
        for member, data in members.items():
            (folder_path / member).parent.mkdir(parents=True, exist_ok=True)
            (folder_path / member).write_bytes(data)
    return folder_path / "gtFine", folder_path / "leftImg8bit"


@pytest.mark.parametrize("form", ["zips", "folders"])
def test_prepare_cityscapes_makes_256_photo_label_pairs(form, tmp_path):
    make = write_zips if form == "zips" else write_folders
    gtfine, leftimg = make(tmp_path / "official", official_files())
    code, out, err = run("prepare-cityscapes", "--gtfine", gtfine, "--leftimg", leftimg,
                         "--out", tmp_path / "cityscapes")
    assert code == 0, err
    for split_name, frames in FRAMES.items():
        assert sorted(os.listdir(tmp_path / "cityscapes" / split_name)) == \
            [f"{f}.jpg" for f in frames]
    assert sorted(os.listdir(tmp_path / "cityscapes")) == ["train", "val"]
    made = Image.open(tmp_path / "cityscapes" / "train" / "aachen_000000_000019.jpg")
    assert made.size == (512, 256) and made.format == "JPEG"
    pixels = np.asarray(made).astype(int)
    assert np.abs(pixels[128, 128] - RED).max() < 4  # photo left
    assert np.abs(pixels[128, 384] - GREEN).max() < 4  # labels right
    assert "train: 3, val: 1 [photo | labels] pairs" in out and "BtoA" in out
    assert "the paper's Cityscapes set has 2975 training pairs" in out


def test_prepare_cityscapes_refusals(tmp_path):
    gtfine, leftimg = write_zips(tmp_path / "z", official_files(drop=["bremen_000000_000019"]))
    out_dir = tmp_path / "cityscapes"
    code, _, err = run("prepare-cityscapes", "--gtfine", gtfine, "--leftimg", leftimg,
                       "--out", out_dir)
    one_line_error(code, err, "1 label map has no partner in --leftimg",
                   "bremen_000000_000019_gtFine_color.png")
    code, _, err = run("prepare-cityscapes", "--gtfine", leftimg, "--leftimg", gtfine,
                       "--out", out_dir)  # swapped
    one_line_error(code, err, "--gtfine", "_gtFine_color.png")
    code, _, err = run("prepare-cityscapes", "--gtfine", tmp_path / "nope.zip", "--leftimg",
                       leftimg, "--out", out_dir)
    one_line_error(code, err, "nope.zip: not found")
    (tmp_path / "fake.zip").write_bytes(b"PK not really")
    code, _, err = run("prepare-cityscapes", "--gtfine", tmp_path / "fake.zip", "--leftimg",
                       leftimg, "--out", out_dir)
    one_line_error(code, err, "not a .zip archive")
    files = official_files()
    member = "leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png"
    files["leftImg8bit_trainvaltest.zip"][member] = b"\x89PNG cut"
    gtfine, leftimg = write_zips(tmp_path / "broken", files)
    code, _, err = run("prepare-cityscapes", "--gtfine", gtfine, "--leftimg", leftimg,
                       "--out", out_dir)
    one_line_error(code, err, member, "not a readable PNG")
    assert not out_dir.exists() and not [n for n in os.listdir(tmp_path) if n.startswith(".")]
