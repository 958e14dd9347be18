"""Inference building blocks: image files and conversions, padding and tiling, the HTML index."""

import os
import shutil
from html.parser import HTMLParser
from urllib.parse import unquote

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfpix2pix.errors import UserError
from tfpix2pix.inference import html as index_html
from tfpix2pix.inference import images as I
from tfpix2pix.inference import tiling as T


def random_u8(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def smooth_u8(height, width, seed=0):
    """A smooth RGB image (JPEG-friendly)."""
    y, x = np.mgrid[0:height, 0:width]
    phase = np.random.default_rng(seed).uniform(0, 6, 3)
    channels = [127.5 + 100 * np.sin(x / 5.0 + p) * np.cos(y / 7.0 - p) for p in phase]
    return np.stack(channels, -1).round().astype(np.uint8)


# ---------------------------------------------------------------- files


def test_read_image_png_exact(tmp_path):
    image = random_u8((9, 14, 3))
    path = tmp_path / "a.png"
    tf.io.write_file(str(path), tf.io.encode_png(image))
    out = I.read_image(path)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, image)


def test_read_image_jpeg_matches_pil(tmp_path):
    path = tmp_path / "a.jpg"
    tf.io.write_file(str(path), tf.io.encode_jpeg(smooth_u8(48, 64), quality=75))
    out = I.read_image(str(path))
    with Image.open(path) as pil:
        expected = np.asarray(pil.convert("RGB"))
    assert out.shape == (48, 64, 3)
    np.testing.assert_array_equal(out, expected)


def test_read_image_bmp_and_gif_first_frame(tmp_path):
    image = random_u8((6, 5, 3), seed=1)
    Image.fromarray(image).save(tmp_path / "a.bmp")
    np.testing.assert_array_equal(I.read_image(tmp_path / "a.bmp"), image)
    # A 2-colour animated GIF: the palette is exact, and only frame 0 is returned.
    frames = [Image.fromarray(np.full((4, 4, 3), v, np.uint8)) for v in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    out = I.read_image(tmp_path / "a.gif")
    assert out.shape == (4, 4, 3)
    np.testing.assert_array_equal(out[0, 0], [255, 0, 0])


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"hello, not an image",
                                     b"\xff\xd8\xff\xe0" + b"\x13" * 30, b""])
def test_read_image_corrupt_is_one_line_user_error(tmp_path, content):
    path = tmp_path / "bad file.png"
    path.write_bytes(content)
    with pytest.raises(UserError) as info:
        I.read_image(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a readable image")
    assert "\n" not in message
    # No TensorFlow error chained to it (a traceback would print it).
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_read_image_missing_file(tmp_path):
    with pytest.raises(UserError, match="nope.png: file not found"):
        I.read_image(tmp_path / "nope.png")


def test_write_png_atomic_creates_folders(tmp_path):
    image = random_u8((5, 7, 4))
    path = tmp_path / "deep" / "er" / "out.png"
    assert I.write_png(path, image) == str(path)
    np.testing.assert_array_equal(I.read_image(path), image)
    assert os.listdir(path.parent) == ["out.png"]  # no temporary file left
    I.write_png(path, image[..., 0])  # HxW gray overwrites
    np.testing.assert_array_equal(I.read_image(path), image[..., :1])


def test_list_inputs(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for name in ("b.png", "A.JPG", "c.jpeg", "d.Bmp", "e.gif", "notes.txt", "sub/deep.png"):
        (folder / name).write_bytes(b"x")
    (folder / "dir.png").mkdir()  # a folder with an image-like name is not an image
    other = tmp_path / "z.png"
    other.write_bytes(b"x")
    found = I.list_inputs([str(folder), str(folder / "*.png"), str(other), str(folder / "b.png")])
    names = ["A.JPG", "b.png", "c.jpeg", "d.Bmp", "e.gif"]
    assert found == sorted([str(folder / n) for n in names] + [str(other)])
    assert I.list_inputs([str(folder / "**" / "deep.*")]) == [str(folder / "sub" / "deep.png")]


@pytest.mark.parametrize("spec,why", [("missing", "no such file or folder"),
                                      ("in/*.tif", "matches no"),
                                      ("in/sub/empty", "no .png"),
                                      ("in/notes.txt", "not a .png")])
def test_list_inputs_spec_without_images(tmp_path, spec, why):
    (tmp_path / "in" / "sub" / "empty").mkdir(parents=True)
    (tmp_path / "in" / "notes.txt").write_text("x")
    (tmp_path / "in" / "a.png").write_bytes(b"x")
    spec = str(tmp_path / spec)
    with pytest.raises(UserError) as info:
        I.list_inputs([str(tmp_path / "in"), spec])
    assert str(info.value).startswith(spec + ":") and why in str(info.value)


# ---------------------------------------------------------------- conversions


def test_to_channels_gray_to_rgb():
    gray = random_u8((3, 4, 1))
    rgb = I.to_channels(gray, 3)
    assert rgb.shape == (3, 4, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], gray[..., 0])
    np.testing.assert_array_equal(I.to_channels(gray[..., 0], 3), rgb)  # 2D is gray


def test_split_pair_both_directions():
    image = random_u8((2, 6, 3))
    a, b = I.split_pair(image, "AtoB")
    np.testing.assert_array_equal(a, image[:, :3])
    np.testing.assert_array_equal(b, image[:, 3:])
    a2, b2 = I.split_pair(image, "BtoA")
    np.testing.assert_array_equal(a2, image[:, 3:])
    np.testing.assert_array_equal(b2, image[:, :3])
    with pytest.raises(UserError, match="x.png: 5x2 has an odd width"):
        I.split_pair(image[:, :5], "AtoB", name="x.png")


def test_float_and_uint8_ranges():
    u8 = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    x = I.to_float(u8)
    assert x.dtype == np.float32 and x.min() == -1.0 and x.max() == 1.0
    np.testing.assert_array_equal(I.to_uint8(x), u8)


def test_from_user_uint8_round_trip():
    for image in (random_u8((5, 6, 3)), random_u8((5, 6))):
        x, kind = I.from_user(image)
        assert x.dtype == np.float32 and x.shape == (5, 6, image.shape[2] if image.ndim == 3 else 1)
        back = I.to_user(x, kind)
        assert back.dtype == np.uint8
        np.testing.assert_array_equal(back, image)


def test_from_user_float_round_trip():
    for dtype in (np.float32, np.float64):
        image = np.random.default_rng(1).uniform(-1, 1, (4, 3, 3)).astype(dtype)
        x, kind = I.from_user(image)
        np.testing.assert_allclose(x, image, atol=1e-7)
        back = I.to_user(x, kind)
        assert back.dtype == dtype and back.shape == image.shape
        np.testing.assert_allclose(back, image, atol=1e-7)
    with pytest.raises(UserError, match=r"must be in \[-1, 1\]"):
        I.from_user(np.full((2, 2, 3), 200.0))
    with pytest.raises(UserError, match="dtype int64"):
        I.from_user(np.zeros((2, 2, 3), np.int64))


def test_from_user_pil_round_trip():
    rgb = Image.fromarray(random_u8((5, 6, 3)))
    x, kind = I.from_user(rgb)
    back = I.to_user(x, kind)
    assert isinstance(back, Image.Image) and back.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(back), np.asarray(rgb))

    gray = Image.fromarray(random_u8((5, 6)))
    x, kind = I.from_user(gray)
    assert x.shape == (5, 6, 1)
    back = I.to_user(x, kind)
    assert back.mode == "L"
    np.testing.assert_array_equal(np.asarray(back), np.asarray(gray))
    # A gray image fed to a 3-channel model comes back as RGB.
    x3, kind = I.from_user(gray, channels=3)
    assert x3.shape == (5, 6, 3) and I.to_user(x3, kind).mode == "RGB"


def test_from_user_channels_for_floats_follows_uint8_rules():
    rgba = np.array([[[100, 0, 255, 128], [10, 20, 30, 255]]], np.uint8)
    via_u8, _ = I.from_user(rgba, channels=1)
    via_float, _ = I.from_user(I.to_float(rgba), channels=1)
    np.testing.assert_allclose(via_float, via_u8, atol=0.5 / 127.5)


# ---------------------------------------------------------------- padding


def test_pad_to_multiple_reflects_and_crops_back():
    x = np.random.default_rng(2).uniform(-1, 1, (300, 517, 3)).astype(np.float32)
    padded, hw = T.pad_to_multiple(x, 64)
    assert padded.shape == (320, 576, 3) and hw == (300, 517)
    for k in range(20):  # row 300 + k mirrors row 298 - k (the edge row is not repeated)
        np.testing.assert_array_equal(padded[300 + k, :517], x[298 - k])
    for k in range(59):
        np.testing.assert_array_equal(padded[:300, 517 + k], x[:, 515 - k])
    np.testing.assert_array_equal(T.crop_back(padded, hw), x)
    batched, hw = T.pad_to_multiple(np.stack([x, -x]), 64)
    assert batched.shape == (2, 320, 576, 3)
    np.testing.assert_array_equal(batched[1], -padded)


def test_pad_to_multiple_equals_the_exported_models_in_graph_padding():
    # A run folder (numpy padding around the tiles) and an export (padding inside the graph)
    # must pad an image identically, including sides shorter than the pad.
    import tensorflow as tf

    from tfpix2pix.inference import serving
    x = np.random.default_rng(4).uniform(-1, 1, (1, 70, 3, 2)).astype(np.float32)
    for h, w in [(1, 1), (2, 3), (5, 1), (70, 3)]:
        part = x[:, :h, :w]
        padded, _ = T.pad_to_multiple(part, 8)
        in_graph = serving.pad_to_multiple(tf.constant(part), 8).numpy()
        np.testing.assert_array_equal(padded, in_graph)
    padded, _ = T.pad_to_multiple(np.arange(2.0).reshape(2, 1, 1), 8)  # reflects back and forth
    np.testing.assert_array_equal(padded[:, 0, 0], [0, 1, 0, 1, 0, 1, 0, 1])
    assert (padded == padded[:, :1]).all()  # a 1-pixel-wide side repeats its pixel


def test_translate_padded_identity_and_stride():
    calls = []

    def fn(batch):
        assert batch.ndim == 4 and batch.shape[1] % 16 == 0 and batch.shape[2] % 16 == 0
        assert batch.dtype == np.float32
        calls.append(batch.shape)
        return batch.copy()

    x = np.random.default_rng(3).uniform(-1, 1, (21, 35, 3)).astype(np.float32)
    np.testing.assert_array_equal(T.translate_padded(fn, x, 16), x)
    np.testing.assert_array_equal(T.translate_padded(fn, np.stack([x, x]), 16), np.stack([x, x]))
    assert calls == [(1, 32, 48, 3), (2, 32, 48, 3)]


def test_translate_padded_rejects_wrong_output_shape():
    with pytest.raises(ValueError, match="must keep N, H and W"):
        T.translate_padded(lambda b: b[:, :-1], np.zeros((8, 8, 3), np.float32), 8)


# ---------------------------------------------------------------- tiling

STRIDE, TILE, OVERLAP = 4, 16, 4
# A 38x50 image pads to 40x52; tiles start 12 apart, the last flush with the end.
ROWS, COLS = [0, 12, 24], [0, 12, 24, 36]


def box_blur(batch):
    """3x3 mean with reflect padding at the borders of whatever it is given."""
    p = np.pad(batch, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    h, w = batch.shape[1:3]
    return sum(p[:, i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0


def seam_mask(shape):
    """True within 1 pixel of a tile edge that is not an edge of the padded image."""
    mask = np.zeros((40, 52), bool)
    for starts, size, axis in ((ROWS, 40, 0), (COLS, 52, 1)):
        for s in starts:
            for edge in (s, s + TILE - 1):
                if 0 < edge < size - 1:
                    lo, hi = max(edge - 1, 0), edge + 2
                    if axis == 0:
                        mask[lo:hi] = True
                    else:
                        mask[:, lo:hi] = True
    return mask[:shape[0], :shape[1]]


@pytest.fixture
def image():
    return np.random.default_rng(4).uniform(-1, 1, (38, 50, 3)).astype(np.float32)


def test_tile_layout():
    assert T.tile_offsets(40, TILE, OVERLAP) == ROWS
    assert T.tile_offsets(52, TILE, OVERLAP) == COLS
    assert T.tile_offsets(16, 16, 4) == [0] and T.tile_offsets(8, 16, 4) == [0]
    assert T.default_overlap(256, 64) == 64
    assert T.default_overlap(256, 256) == 0
    assert T.default_overlap(1024, 256) == 256
    w = T.blend_window(16, 4)
    assert (w > 0).all() and w[0] < w[1] < w[2] < w[3] < 1 and (w[4:12] == 1).all()
    np.testing.assert_allclose(w[12:] + w[:4], 1.0)  # two tiles overlapping by 4 sum to 1


def test_translate_tiled_identity_and_batches(image):
    shapes = []

    def identity(batch):
        shapes.append(batch.shape)
        return batch.copy()

    out = T.translate_tiled(identity, image, TILE, STRIDE, overlap=OVERLAP, batch=5)
    np.testing.assert_allclose(out, image, rtol=0, atol=1e-6)
    assert out.shape == image.shape and out.dtype == np.float32
    assert [s[0] for s in shapes] == [5, 5, 2]  # 12 tiles, never more than 5 at once
    assert all(s[1:] == (TILE, TILE, 3) for s in shapes)


def test_translate_tiled_local_fn_matches_untiled(image):
    def fn(batch):  # per pixel, and 3 channels -> 2
        return np.tanh(2 * batch[..., :2]) * batch[..., 2:]

    tiled = T.translate_tiled(fn, image, TILE, STRIDE, overlap=OVERLAP, batch=3)
    assert tiled.shape == (38, 50, 2)
    np.testing.assert_allclose(tiled, T.translate_padded(fn, image, STRIDE), rtol=0, atol=1e-6)


def test_translate_tiled_spatial_fn_exact_away_from_seams(image):
    tiled = T.translate_tiled(box_blur, image, TILE, STRIDE, overlap=OVERLAP)
    whole = T.translate_padded(box_blur, image, STRIDE)
    seams = seam_mask(image.shape)
    error = np.abs(tiled - whole).max(axis=-1)
    assert seams.any() and (~seams).any()
    assert error[~seams].max() < 1e-6
    # At a seam the pixel on a tile's border (wrong context) has a small blend weight.
    assert 1e-4 < error[seams].max() < 0.05


def test_translate_tiled_small_image_and_default_overlap():
    x = np.random.default_rng(5).uniform(-1, 1, (10, 70, 1)).astype(np.float32)
    shapes = []

    def identity(batch):
        shapes.append(batch.shape)
        return batch

    out = T.translate_tiled(identity, x, 32, 8)  # default overlap 8; height pads to 16 only
    np.testing.assert_allclose(out, x, rtol=0, atol=1e-6)
    assert shapes == [(3, 16, 32, 1)]  # columns 0, 24, 40 of the 72-wide padded image


@pytest.mark.parametrize("tile,overlap,match", [(30, None, "multiple of the generator's stride"),
                                                (16, 16, "from 0 to tile - 1"),
                                                (16, -4, "from 0 to tile - 1")])
def test_translate_tiled_rejects_bad_tiling(tile, overlap, match):
    with pytest.raises(UserError, match=match):
        T.translate_tiled(lambda b: b, np.zeros((8, 8, 3), np.float32), tile, 8, overlap=overlap)


# ---------------------------------------------------------------- html


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("src", "href")]

    def handle_data(self, data):
        self.text.append(data)


def test_write_index_survives_a_move(tmp_path):
    out = tmp_path / "results"
    names = ["plain", "with space", "a<b>&c", "ünï"]
    rows = []
    for n in names:
        paths = {c: str(out / c / f"{n}.png") for c in ("input", "output", "target")}
        for p in paths.values():
            I.write_png(p, random_u8((2, 2, 3)))
        rows.append({"name": n, **paths})
    rows[0]["target"] = None
    os.remove(out / "target" / "plain.png")
    page = index_html.write_index(out, rows, "Results <test>")
    assert page == str(out / "index.html")

    moved = tmp_path / "moved elsewhere"
    shutil.move(str(out), str(moved))
    text = (moved / "index.html").read_text(encoding="utf-8")
    parser = Links()
    parser.feed(text)
    assert len(parser.urls) == 2 * (3 * len(names) - 1)  # href + src per image
    for url in parser.urls:
        assert "://" not in url and not url.startswith("/")
        assert " " not in url and "<" not in url and "ü" not in url  # quoted
        assert (moved / unquote(url)).is_file(), url
    assert "a&lt;b&gt;&amp;c" in text and "a<b>" not in text
    assert "Results &lt;test&gt;" in text
    assert "a<b>&c" in parser.text and "with space" in parser.text
    assert text.count("<tr>") == 1 + len(names)
    assert "<td></td>" in text  # the missing target
    assert "<script" not in text and "http" not in text
