"""python -m tfpix2pix.predict and ``inference.translator.load``: sizes, kinds, tiles, pages.

One tiny run is trained on real facades pairs (labels -> photo, BtoA) and exported once;
every test shares the two. Training is 40 steps at lr 2e-3: with 8 steps at the default lr
the eval-mode output stays within +-0.03 of 0 (uint8 127/128 everywhere) and the deep layers
contribute ~1e-5, so comparisons of pixels and of tiling would be vacuous. After 40 steps
the output spans about [-0.7, 0.4] and the BatchNorm moving statistics have converged
(momentum 0.9: 1 - 0.9^40 = 98.5%).
"""

import io
import os
import re
import shutil
from html.parser import HTMLParser
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from tfpix2pix import run_folder
from tfpix2pix.errors import UserError
from tfpix2pix.export.__main__ import main as export_main
from tfpix2pix.inference import images as I
from tfpix2pix.inference.translator import load
from tfpix2pix.predict import main as predict_main

# Numerics and tolerances: run again with oneDNN the other way (tox.ini).
pytestmark = pytest.mark.onednn

STRIDE = 64  # unet_64: six stride-2 downsamplings


@pytest.fixture(scope="module")
def run(tiny_run):
    return tiny_run  # trained once per session, shared with the demo's tests; read only


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    """The export root (exported/<name>), holding version 1 in eval mode."""
    root = tmp_path_factory.mktemp("exported")
    assert export_main([str(run), "--output", str(root)], out=io.StringIO()) == 0
    assert os.path.isfile(root / "test" / "1" / "saved_model.pb")
    return root / "test"


@pytest.fixture(scope="module")
def translator(run):
    return load(run)


@pytest.fixture(scope="module")
def val_pairs(facades):
    return [facades / "val" / f"{i}.jpg" for i in (1, 2, 3)]


@pytest.fixture(scope="module")
def labels(val_pairs):
    """The model's input side (labels, the right half for BtoA) of a real val pair, uint8."""
    source, _target = I.split_pair(I.read_image(val_pairs[0]), "BtoA")
    return source


def write(path, array, mode=None):
    Image.fromarray(array, mode).save(path)
    return path


def png(path):
    with Image.open(path) as im:
        im.load()
        return im


def predict(argv):
    """predict's main with stdout captured; stderr is left to capsys (user errors go there)."""
    out = io.StringIO()
    status = predict_main([str(a) for a in argv], out=out)
    return status, out.getvalue()


def smooth(height, width, channels, seed=0):
    y, x = np.mgrid[0:height, 0:width]
    phase = np.random.default_rng(seed).uniform(0, 6, channels)
    return np.stack([127.5 + 110 * np.sin(x / 9.0 + p) * np.cos(y / 13.0 - p) for p in phase],
                    -1).round().astype(np.uint8)


def test_the_trained_model_is_not_trivial(translator, labels):
    # The comparisons below would pass on a constant output; this one would not.
    out = translator(labels)
    assert out.dtype == np.uint8 and out.shape == labels.shape
    assert int(out.max()) - int(out.min()) > 60 and out.std() > 10


# ---------------------------------------------------------------- sizes and channels


def test_any_size_and_gray_or_rgba_inputs_give_rgb_of_their_own_size(run, translator, tmp_path,
                                                                     capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    rgb = smooth(300, 517, 3)
    gray = smooth(90, 70, 1, seed=1)[..., 0]  # PIL sizes are (width, height): 70x90
    rgba = smooth(64, 64, 4, seed=2)
    rgba[..., 3] = np.linspace(0, 255, 64).round().astype(np.uint8)[None, :]
    write(inputs / "wide.png", rgb)
    write(inputs / "gray.png", gray, "L")
    write(inputs / "alpha.png", rgba, "RGBA")
    assert png(inputs / "gray.png").mode == "L" and png(inputs / "alpha.png").mode == "RGBA"

    status, stdout = predict(["--model", run, "--input", inputs, "--output", tmp_path / "out"])
    assert status == 0, capsys.readouterr().err
    assert "3 image(s) translated" in stdout
    expected = {"wide.png": (517, 300), "gray.png": (70, 90), "alpha.png": (64, 64)}
    assert sorted(n for n in os.listdir(tmp_path / "out") if n.endswith(".png")) == \
        sorted(expected)
    for name, size in expected.items():
        out = png(tmp_path / "out" / name)
        assert (out.mode, out.size) == ("RGB", size), name

    # Gray is translated as gray repeated in R, G and B; alpha is composited on white.
    np.testing.assert_array_equal(np.asarray(png(tmp_path / "out" / "gray.png")),
                                  translator(np.repeat(gray[..., None], 3, -1)))
    alpha = rgba[..., 3:] / 255.0
    on_white = np.round(rgba[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(png(tmp_path / "out" / "alpha.png")),
                                  translator(on_white))
    np.testing.assert_array_equal(np.asarray(png(tmp_path / "out" / "wide.png")),
                                  translator(rgb))


def test_run_folder_and_export_give_the_same_pixels(run, exported, labels, tmp_path, capsys):
    image = write(tmp_path / "labels.png", labels)
    outputs = {}
    for name, model in (("run", run), ("export", exported)):
        status, _ = predict(["--model", model, "--input", image, "--output", tmp_path / name])
        assert status == 0, capsys.readouterr().err
        outputs[name] = np.asarray(png(tmp_path / name / "labels.png")).astype(int)
    # Both run serving.float_fn's float32 graph on the same weights (measured: bit-equal
    # here). A value whose last float bits land on either side of k + 0.5 before rounding
    # to uint8 (another kernel choice, e.g. in a fresh process) may move by one level, on
    # a few pixels; stale weights or another test mode move whole regions by many levels.
    diff = np.abs(outputs["run"] - outputs["export"])
    assert diff.max() <= 1
    assert (diff > 0).mean() < 1e-3


# ---------------------------------------------------------------- tiles


def seam_distance(height, width, tile, overlap):
    """Per pixel: distance from its centre to the nearest line where some tile is cut off."""
    def along(size):
        step = tile - overlap
        starts = [min(i * step, size - tile) for i in range(-(-(size - tile) // step) + 1)]
        edges = sorted({s for s in starts if s > 0} | {s + tile for s in starts if s + tile < size})
        centres = np.arange(size)[:, None] + 0.5
        return np.abs(centres - np.array(edges)[None]).min(1)
    return np.minimum(along(height)[:, None], along(width)[None, :])


def test_tiles_match_the_whole_image_up_to_the_context_they_lack(translator, labels):
    # 256x384 labels: tile 128 with the default overlap of 64 gives 3 x 5 tiles whose
    # edges are at rows 64, 128, 192 and columns 64 .. 320.
    x = I.to_float(np.asarray(Image.fromarray(labels).resize((384, 256), Image.BILINEAR)))
    whole, tiled = translator(x), translator(x, tile=128)
    assert tiled.dtype == np.float32 and tiled.shape == whole.shape == (256, 384, 3)
    diff = np.abs(tiled - whole).max(-1)
    distance = seam_distance(256, 384, 128, 64)
    at_seams, away = diff[distance < 2], diff[distance >= 16]
    print(f"tiled vs whole: mean {diff.mean():.4f} max {diff.max():.4f}; at seams mean "
          f"{at_seams.mean():.4f} max {at_seams.max():.4f}; away mean {away.mean():.4f} "
          f"max {away.max():.4f}; output spread {np.abs(whole - whole.mean()).mean():.4f}")
    # The U-Net's receptive field spans a whole 128 px tile (its bottleneck is 2x2 there),
    # so a tile sees zero padding where the whole image has neighbours; eval-mode
    # BatchNorm keeps everything else per pixel identical. The raised-cosine blend gives
    # a pixel next to a tile's edge almost all its weight from the tile it is central in,
    # so the difference is no larger at the edges than between them. Measured here:
    # away from seams (>= 16 px) mean 0.0142, max 0.186; at seams (< 2 px) mean 0.0085,
    # max 0.162; the output's mean deviation from its mean is 0.136. A misplaced tile or a
    # broken blend gives differences of the output's own size (~0.1 mean, ~1 max).
    assert away.mean() < 0.04
    assert at_seams.max() < 0.4
    assert at_seams.mean() < 0.04

    # A tile as large as the padded image is one tile: the whole-image result, whether it
    # is padded by the tiler (numpy) or by the model's own graph (tf.gather).
    odd = x[:250, :380]  # padded to 256x384
    np.testing.assert_allclose(translator(odd, tile=384), translator(odd), atol=1e-5, rtol=0)


# ---------------------------------------------------------------- aligned pairs and the page


class Page(HTMLParser):
    """Rows of the index: per row, the text of its first cell and the src of each img."""

    def __init__(self):
        super().__init__()
        self.rows, self.urls, self._cells = [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [attrs[k] for k in ("src", "href") if k in attrs]
        if tag == "tr":
            self._cells = []
        elif tag == "td" and self._cells is not None:
            self._cells.append({"text": "", "src": None})
        elif tag == "img" and self._cells:
            self._cells[-1]["src"] = attrs["src"]

    def handle_data(self, data):
        if self._cells:
            self._cells[-1]["text"] += data

    def handle_endtag(self, tag):
        if tag == "tr" and self._cells is not None:
            if self._cells:  # the header row has th cells only
                self.rows.append(self._cells)
            self._cells = None


def test_aligned_pairs_with_a_page_that_survives_a_move(run, translator, val_pairs, tmp_path,
                                                        capsys):
    out = tmp_path / "results"
    status, _ = predict(["--model", run, "--input", *val_pairs, "--output", out,
                         "--aligned", "--html"])
    assert status == 0, capsys.readouterr().err
    moved = tmp_path / "moved" / "elsewhere"
    shutil.move(str(out), str(moved))
    page = Page()
    page.feed((moved / "index.html").read_text(encoding="utf-8"))

    assert [r[0]["text"] for r in page.rows] == ["1.jpg", "2.jpg", "3.jpg"]
    assert page.urls and all((moved / unquote(u)).is_file() for u in page.urls), page.urls
    for row, path in zip(page.rows, val_pairs):
        assert len(row) == 4  # name | input | output | target
        source, target = I.split_pair(I.read_image(path), "BtoA")  # labels | photo, as decoded
        shown = [np.asarray(png(moved / unquote(cell["src"]))) for cell in row[1:]]
        np.testing.assert_array_equal(shown[0], source)
        np.testing.assert_array_equal(shown[1], translator(source))
        np.testing.assert_array_equal(shown[2], target)  # not resized: 256x256 as decoded
        np.testing.assert_array_equal(target, I.read_image(path)[:, :256])  # the left half


# ---------------------------------------------------------------- failures


def test_an_unreadable_file_is_named_and_the_rest_are_translated(run, labels, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write(inputs / "a.png", labels)
    write(inputs / "c.png", labels[:100, :130])
    (inputs / "b.png").write_bytes(b"this is not a PNG at all")
    status, stdout = predict(["--model", run, "--input", inputs, "--output", tmp_path / "out"])
    err = capsys.readouterr().err
    assert status == 1, err
    assert "b.png" in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path / "out")) == ["a.png", "c.png"]
    assert png(tmp_path / "out" / "c.png").size == (130, 100)
    assert "2 image(s) translated" in stdout
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: 1 input(s) could not be read"), err


def test_the_finished_progress_bar_comes_before_the_errors(run, labels, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.png").write_bytes(b"not a PNG")  # the first input fails
    write(inputs / "b.png", labels)
    write(inputs / "c.png", labels)
    capsys.readouterr()
    status, _stdout = predict(["--model", run, "--input", inputs, "--output", tmp_path / "out"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    bar = [i for i, line in enumerate(lines) if "/3 images" in line]
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert bar and "3/3 images" in lines[bar[-1]], lines
    assert "a.png" in lines[errors[0]] and max(bar) < min(errors), lines


def test_when_every_input_fails_it_says_that_nothing_was_written(run, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.png", "b.png"):
        (inputs / name).write_bytes(b"not a PNG")
    status, stdout = predict(["--model", run, "--input", inputs, "--output", tmp_path / "out"])
    err = capsys.readouterr().err
    assert status == 1 and "a.png" in err and "b.png" in err
    assert "translated into" not in stdout and "nothing was written" in stdout, stdout
    assert not os.path.exists(tmp_path / "out")


def test_an_aligned_input_that_is_not_a_pair_is_one_failure_among_others(run, labels, tmp_path,
                                                                       capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write(inputs / "pair.png", np.concatenate([labels, labels], axis=1))
    write(inputs / "odd.png", labels[:, :101])  # an odd width cannot split into A | B
    status, _stdout = predict(["--model", run, "--input", inputs, "--aligned",
                               "--output", tmp_path / "out"])
    err = capsys.readouterr().err
    assert status == 1 and "odd.png" in err and "Traceback" not in err, err
    assert os.path.exists(tmp_path / "out" / "pair.png")


def test_user_errors_go_to_the_given_stream(tmp_path):
    err = io.StringIO()
    assert predict_main(["--model", str(tmp_path / "none"), "--input", str(tmp_path)],
                        err=err) == 2
    assert err.getvalue().startswith("error: ") and err.getvalue().count("\n") == 1


def checkpointless(run, tmp_path):
    empty = tmp_path / "untrained"
    empty.mkdir()
    shutil.copy(run_folder.config_path(run), run_folder.config_path(empty))
    return empty


@pytest.mark.parametrize("case, expected", [
    ("nowhere", r"nowhere: not found"),
    ("no_checkpoint", r"untrained: no checkpoint"),
    ("tile", r"tile size 100 must be a positive multiple of the generator's stride 64"),
    ("no_match", r"nothing-\*\.png: the pattern matches no"),
    ("export_mode", r"exported with --test-mode eval"),
])
def test_user_errors_are_one_line_and_exit_2(case, expected, run, exported, labels, tmp_path,
                                             capsys):
    image = write(tmp_path / "labels.png", labels)
    model, extra = run, []
    if case == "nowhere":
        model = tmp_path / "nowhere"
    elif case == "no_checkpoint":
        model = checkpointless(run, tmp_path)
    elif case == "tile":
        extra = ["--tile", "100"]
    elif case == "no_match":
        image = tmp_path / "nothing-*.png"
    elif case == "export_mode":
        model, extra = exported, ["--test-mode", "per_image"]
    capsys.readouterr()
    status, stdout = predict(["--model", model, "--input", image, "--output", tmp_path / "out",
                              *extra])
    err = capsys.readouterr().err
    assert status == 2 and stdout == "", err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert re.search(expected, lines[0]), lines[0]
    assert not list(tmp_path.glob("out/**/*.png"))


# ---------------------------------------------------------------- load()


def test_load_answers_in_the_kind_it_was_given(translator, labels):
    assert translator.info["stride"] == STRIDE and translator.info["direction"] == "BtoA"
    u8 = translator(labels[:70, :90])
    assert u8.dtype == np.uint8 and u8.shape == (70, 90, 3)
    gray = translator(labels[:70, :90, 0])  # HxW gray in, RGB out
    assert gray.dtype == np.uint8 and gray.shape == (70, 90, 3)

    x = I.to_float(labels[:70, :90])
    f = translator(x)
    assert f.dtype == np.float32 and f.shape == (70, 90, 3)
    assert -1 <= f.min() and f.max() <= 1
    # uint8 out is the float result rounded: 0..255 in, the same float function inside.
    np.testing.assert_array_equal(I.to_uint8(f), u8)

    pil = translator(Image.fromarray(labels[:70, :90]))
    assert isinstance(pil, Image.Image) and (pil.mode, pil.size) == ("RGB", (90, 70))
    np.testing.assert_array_equal(np.asarray(pil), u8)


def test_per_image_mode_differs_from_eval_and_an_export_keeps_its_mode(run, exported, translator,
                                                                       labels):
    per_image = load(run, test_mode="per_image")
    assert (translator.info["test_mode"], per_image.info["test_mode"]) == ("eval", "per_image")
    x = I.to_float(labels)
    # A trained model's moving statistics are not one image's own (measured mean |diff| 0.13).
    assert np.abs(per_image(x) - translator(x)).mean() > 0.02
    with pytest.raises(UserError, match=r"exported with --test-mode eval; export the run again "
                                         r"with --test-mode per_image"):
        load(exported, test_mode="per_image")
    assert load(exported, test_mode="eval").info["test_mode"] == "eval"
