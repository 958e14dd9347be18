"""The evaluation's numbers (``tfpix2pix.evaluation``): L1/PSNR/SSIM and their intervals,
label-map palettes and scores, FID and KID, and the resize to Inception's 299 px, each
checked against values computed another way."""

import numpy as np
import pytest
from PIL import Image

from tfpix2pix.errors import UserError
from tfpix2pix.evaluation import distances, inception, metrics, palettes


def photo(facades, name="1.jpg", split="test"):
    """The photo half (left) of a real facades pair, uint8 256 x 256 x 3."""
    with Image.open(facades / split / name) as im:
        return np.asarray(im.convert("RGB"))[:, :256]


# ---------------------------------------------------------------- L1, PSNR, SSIM

def test_identical_images_score_zero_l1_capped_psnr_and_ssim_one():
    image = np.random.default_rng(0).uniform(0, 1, (32, 32, 3)).astype(np.float32)
    scores = metrics.image_scores(image, image)
    assert scores["l1"] == 0.0
    assert scores["psnr"] == metrics.PSNR_CAP == 100.0
    assert scores["ssim"] == pytest.approx(1.0, abs=1e-6)
    other = {"l1": 0.1, "psnr": 20.0, "ssim": 0.5}
    summary = metrics.summarise([scores, other])
    assert summary["psnr_capped"] == 1
    assert summary["psnr"]["mean"] == pytest.approx(60.0)


def test_a_known_difference_gives_its_l1_and_psnr():
    target = np.full((16, 16, 3), 0.5, np.float32)
    output = target + 0.1  # MSE 0.01: PSNR 20 dB
    scores = metrics.image_scores(output, target)
    assert scores["l1"] == pytest.approx(0.1, abs=1e-6)
    assert scores["psnr"] == pytest.approx(20.0, abs=1e-4)


def test_ssim_of_two_flat_images_is_the_luminance_term():
    """With no variance, SSIM = (2 a b + C1) / (a^2 + b^2 + C1), C1 = (K1 * 1)^2.

    To 2e-4, not closer: tf.image.ssim works in float32, where its window's weights sum to
    1 + ~2e-6, so flat images get a variance of ~-1e-6, which the contrast term's
    C2 = 9e-4 turns into 1.3e-4 (1.0001334 here)."""
    a, b, c1 = 0.25, 0.5, 0.01 ** 2
    scores = metrics.image_scores(np.full((24, 24, 3), a, np.float32),
                                  np.full((24, 24, 3), b, np.float32))
    assert scores["ssim"] == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), abs=2e-4)


def _gaussian_window(size=11, sigma=1.5):
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-x ** 2 / (2 * sigma ** 2))
    window = np.outer(g, g)
    return window / window.sum()


def _filter_valid(x, window):
    k = len(window)
    h, w = x.shape[0] - k + 1, x.shape[1] - k + 1
    out = np.zeros((h, w))
    for i in range(k):
        for j in range(k):
            out += window[i, j] * x[i:i + h, j:j + w]
    return out


def numpy_ssim(x, y, k1=0.01, k2=0.03):
    """Wang et al.'s SSIM, written out: Gaussian-weighted local statistics, valid region,
    the map's mean over pixels, then over channels."""
    window = _gaussian_window()
    c1, c2 = k1 ** 2, k2 ** 2
    values = []
    for ch in range(x.shape[-1]):
        a, b = x[..., ch].astype(np.float64), y[..., ch].astype(np.float64)
        mu_a, mu_b = _filter_valid(a, window), _filter_valid(b, window)
        var_a = _filter_valid(a * a, window) - mu_a ** 2
        var_b = _filter_valid(b * b, window) - mu_b ** 2
        cov = _filter_valid(a * b, window) - mu_a * mu_b
        ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)
                    / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)))
        values.append(ssim_map.mean())
    return float(np.mean(values))


def test_ssim_of_a_shifted_photo_matches_the_formula_written_out(facades):
    image = photo(facades)[:64, :65].astype(np.float32) / 255
    target, shifted = image[:, :64], image[:, 1:]  # the same photo, one pixel to the left
    expected = numpy_ssim(shifted, target)
    assert 0.2 < expected < 0.95
    assert metrics.image_scores(shifted, target)["ssim"] == pytest.approx(expected, abs=1e-5)


def test_pairs_of_different_sizes_or_too_small_for_ssim_are_named():
    with pytest.raises(UserError, match=r"^7\.png: the prediction is 32x32 with 3 channels but "
                                        r"the target is 32x30 with 3 channels"):
        metrics.image_scores(np.zeros((32, 32, 3)), np.zeros((30, 32, 3)), "7.png")
    with pytest.raises(UserError, match=r"^8\.png: 10x10 with 1 channel is smaller than SSIM"):
        metrics.image_scores(np.zeros((10, 10, 1)), np.zeros((10, 10, 1)), "8.png")


def test_the_bootstrap_interval_is_seeded_and_brackets_the_mean():
    values = np.random.default_rng(3).normal(0.3, 0.1, 50)
    lo, hi = metrics.bootstrap_interval(values)
    assert (lo, hi) == tuple(metrics.bootstrap_interval(values))
    assert lo < values.mean() < hi
    # the standard error of a mean of 50 values of sd 0.1 is 0.014: the interval is ~ +-0.028
    assert 0.04 < hi - lo < 0.08
    assert metrics.bootstrap_interval([0.25] * 7) == [0.25, 0.25]
    assert metrics.summary([0.5]) == {"mean": 0.5, "ci95": [0.5, 0.5]}


# ---------------------------------------------------------------- palettes

TINY = palettes._palette("tiny", [("a", (0, 0, 0)), ("b", (255, 0, 0)), ("c", (0, 0, 255))])


def draw(classes, palette, noise=0, seed=0):
    """A label map drawn in ``palette``'s colours, with +-noise on every channel."""
    image = palette.colors[np.asarray(classes)].astype(np.int64)
    image += np.random.default_rng(seed).integers(-noise, noise + 1, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def test_scores_of_a_hand_made_confusion():
    target = np.array([[0, 0, 1], [1, 2, 2]])
    output = np.array([[0, 1, 1], [1, 2, 0]])
    # quantising noisy drawings recovers the classes
    t, o = (palettes.quantise(draw(c, TINY, noise=40, seed=s), TINY)
            for s, c in enumerate((target, output)))
    np.testing.assert_array_equal(t, target)
    np.testing.assert_array_equal(o, output)
    matrix = palettes.confusion(t, o, TINY)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    scores = palettes.scores(matrix, TINY)
    assert scores["pixel_accuracy"] == pytest.approx(4 / 6)
    assert scores["mean_class_accuracy"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    # IoU = TP / (target + output - TP): a 1/(2+2-1), b 2/(2+3-2), c 1/(2+1-1)
    ious = [scores["classes"][c]["iou"] for c in "abc"]
    assert ious == pytest.approx([1 / 3, 2 / 3, 1 / 2])
    assert scores["mean_iou"] == pytest.approx(0.5)


def test_an_ignored_class_is_not_scored_as_target_but_counts_as_a_wrong_output():
    palette = palettes._palette("tiny", [("a", (0, 0, 0)), ("b", (255, 0, 0)),
                                         ("void", (0, 0, 255))], ignore=("void",))
    target = np.array([[0, 0, 1], [1, 2, 2]])
    output = np.array([[0, 2, 1], [1, 2, 0]])
    matrix = palettes.confusion(target, output, palette)
    np.testing.assert_array_equal(matrix, [[1, 0, 1], [0, 2, 0], [0, 0, 0]])
    scores = palettes.scores(matrix, palette)
    assert scores["pixel_accuracy"] == pytest.approx(3 / 4)
    assert set(scores["classes"]) == {"a", "b"}
    assert scores["classes"]["a"]["iou"] == pytest.approx(1 / 2)
    assert scores["mean_iou"] == pytest.approx((1 / 2 + 1) / 2)


def test_a_class_absent_from_target_and_output_has_no_score():
    matrix = palettes.confusion(np.zeros((2, 2), int), np.zeros((2, 2), int), TINY)
    scores = palettes.scores(matrix, TINY)
    assert scores["classes"]["b"] == {"accuracy": None, "iou": None, "target_pixels": 0}
    assert scores["mean_iou"] == 1.0 and scores["mean_class_accuracy"] == 1.0


def test_the_builtin_palettes():
    assert len(palettes.FACADES) == 12 and not palettes.FACADES.ignore
    city = palettes.load("cityscapes")
    assert len(city) == 20 and len(city.scored) == 19
    assert city.classes[city.ignore[0]] == "void"
    assert tuple(city.colors[city.classes.index("road")]) == (128, 64, 128)
    for palette in (palettes.FACADES, city):
        assert len({tuple(c) for c in palette.colors}) == len(palette)


def test_the_facades_colours_are_those_of_the_real_label_images(facades):
    """Away from class boundaries (pixels whose 5x5 neighbourhood quantises to one class),
    >= 95% of the label pixels of real files lie within 20 of a palette colour. Near
    boundaries JPEG's chroma blur mixes neighbouring colours, so all pixels would not."""
    colors = palettes.FACADES.colors.astype(np.float64)
    for name in ("1.jpg", "10.jpg", "100.jpg"):
        with Image.open(facades / "test" / name) as im:
            labels = np.asarray(im.convert("RGB"))[:, 256:]
        classes = palettes.quantise(labels, palettes.FACADES)
        distance = np.linalg.norm(labels[:, :, None].astype(np.float64) - colors, axis=-1).min(-1)
        padded = np.pad(classes, 2, mode="edge")
        inside = np.ones(classes.shape, bool)
        for dy in range(5):
            for dx in range(5):
                inside &= padded[dy:dy + 256, dx:dx + 256] == classes
        assert inside.mean() > 0.4, name
        assert (distance[inside] <= 20).mean() >= 0.95, name
        assert len(np.unique(classes[inside])) >= 4, name


def test_a_palette_file(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("# classes of my maps\n\nsky 70 130 180\nroad 128 64 128  # the road\n"
                    "void 0 0 0 ignore\n")
    palette = palettes.load(str(path))
    assert palette.classes == ("sky", "road", "void") and palette.ignore == (2,)
    assert palette.colors.tolist() == [[70, 130, 180], [128, 64, 128], [0, 0, 0]]


@pytest.mark.parametrize("text, message", [
    ("sky 70 130\nroad 1 2 3\n", r"line 1: 'sky 70 130' is not 'name r g b'"),
    ("sky 70 130 180 skip\nroad 1 2 3\n", r"line 1: .* is not 'name r g b'"),
    ("sky 70 130 300\nroad 1 2 3\n", r"line 1: r g b must be integers from 0 to 255"),
    ("sky 1 2 3\nsky 4 5 6\n", r"line 2: the class 'sky' is named twice"),
    ("sky 1 2 3\nroad 1 2 3\n", r"line 2: the colour 1 2 3 is taken by 'sky'"),
    ("sky 1 2 3\nvoid 0 0 0 ignore\n", r"needs at least two scored classes, found 1"),
])
def test_a_bad_palette_file_is_refused_with_its_line(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as raised:
        palettes.load(str(path))
    assert str(raised.value).startswith(f"--palette {path}")


def test_an_unknown_palette_name_is_refused():
    with pytest.raises(UserError, match=r"^--palette pascal: neither facades nor cityscapes "
                                        r"nor a file"):
        palettes.load("pascal")
    with pytest.raises(UserError, match="needs RGB label maps"):
        palettes.quantise(np.zeros((4, 4, 1), np.uint8), TINY)


# ---------------------------------------------------------------- FID and KID

def denman_beavers_sqrtm(a, steps=60):
    """The principal square root of a matrix with positive eigenvalues, by iteration."""
    y, z = a.copy(), np.eye(len(a))
    for _ in range(steps):
        y, z = (y + np.linalg.inv(z)) / 2, (z + np.linalg.inv(y)) / 2
    return y


def random_covariance(rng, d):
    m = rng.normal(size=(d, d + 3))
    return m @ m.T / (d + 3)


def test_the_trace_of_the_square_root_against_two_other_ways():
    rng = np.random.default_rng(0)
    # 2 x 2: for M with positive eigenvalues, tr(sqrt(M)) = sqrt(tr(M) + 2 sqrt(det(M))).
    s1, s2 = random_covariance(rng, 2), random_covariance(rng, 2)
    product = s1 @ s2
    closed = np.sqrt(np.trace(product) + 2 * np.sqrt(np.linalg.det(product)))
    assert distances.trace_sqrt_product(s1, s2) == pytest.approx(closed, rel=1e-10)
    # 6 x 6, matrices that do not commute: the Denman-Beavers iteration on S1 S2 itself.
    s1, s2 = random_covariance(rng, 6), random_covariance(rng, 6)
    assert not np.allclose(s1 @ s2, s2 @ s1)
    expected = np.trace(denman_beavers_sqrtm(s1 @ s2))
    assert distances.trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-9)


def test_fid_of_known_gaussians():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 5))
    assert distances.fid(x, x) == pytest.approx(0.0, abs=1e-9)
    shift = np.array([1.0, -2.0, 0.0, 0.5, 0.0])
    assert distances.fid(x, x + shift) == pytest.approx(np.sum(shift ** 2), rel=1e-9)
    # N(0, I) against N(0, 4 I) in d dims: d (1 + 4 - 2 * 2) = d, here on exact statistics
    assert distances.frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), 4 * np.eye(3)) == \
        pytest.approx(3.0)


def test_fid_through_small_matrices_is_fid_through_covariances():
    """Fewer images than features (singular covariances), as with 2048 Inception features:
    ``fid`` works with N1 x N2 matrices, ``frechet_distance`` with d x d covariances."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(12, 64)) @ rng.normal(size=(64, 64))
    y = 0.7 * rng.normal(size=(9, 64)) @ rng.normal(size=(64, 64)) + 0.5
    by_covariance = distances.frechet_distance(*distances.gaussian(x), *distances.gaussian(y))
    assert distances.fid(x, y) == pytest.approx(by_covariance, rel=1e-7)  # 2e-8 apart
    assert distances.fid(x, x) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="at least 2 images"):
        distances.fid(x[:1], y)


def test_kid_of_a_hand_computed_case():
    """x = {(1,0), (0,1)}, y = {(1,1), (0,0)}, d = 2, k = (x.y/2 + 1)^3:
    k(x1,x2) = k(y1,y2) = 1; k(xi,y1) = 1.5^3 = 3.375, k(xi,y2) = 1;
    MMD^2 = 1 + 1 - 2 (2 * 3.375 + 2) / 4 = -2.375."""
    x, y = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 1.0], [0.0, 0.0]])
    assert distances.mmd2_unbiased(x, y) == pytest.approx(-2.375)
    assert distances.kid(x, y) == {"mean": pytest.approx(-2.375), "std": 0.0, "subsets": 1,
                                   "subset_size": 2}


def test_kid_over_subsets_is_the_mean_of_the_subsets_estimates():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 8)), rng.normal(0.3, 1.0, size=(30, 8))
    found = distances.kid(x, y, subsets=5, subset_size=20, seed=7)
    pick = np.random.default_rng(7)
    values = [distances.mmd2_unbiased(x[pick.choice(40, 20, replace=False)],
                                      y[pick.choice(30, 20, replace=False)]) for _ in range(5)]
    assert found == {"mean": pytest.approx(np.mean(values)), "std": pytest.approx(np.std(values)),
                     "subsets": 5, "subset_size": 20}
    assert found["mean"] > 0  # the sets differ by a shift
    same = distances.kid(x[:20], x[20:])
    assert abs(same["mean"]) < found["mean"]


# ---------------------------------------------------------------- the resize to 299

def pil_float_bicubic(image, size):
    """PIL's bicubic resize of each channel in float mode ("F"), clipped to [0, 255]."""
    channels = [np.asarray(Image.fromarray(image[..., c].astype(np.float32), "F")
                           .resize((size, size), Image.BICUBIC)) for c in range(3)]
    return np.clip(np.stack(channels, -1), 0, 255)


def test_the_inception_resize_is_pils_float_bicubic(facades):
    """Measured: at most 0.002 (of 255) apart, up- and downscaling, on real photos."""
    small = photo(facades)
    large = np.asarray(Image.fromarray(photo(facades, "2.jpg")).resize((512, 512),
                                                                        Image.BICUBIC))
    for image in (small, large, small[:150, :200]):
        ours = inception.resize(image)
        assert ours.shape == (299, 299, 3) and ours.dtype == np.float32
        assert np.abs(ours - pil_float_bicubic(image, 299)).max() <= 0.01


def test_the_resize_is_a_no_op_at_299():
    image = np.random.default_rng(0).integers(0, 256, (299, 299, 3), dtype=np.uint8)
    np.testing.assert_allclose(inception.resize(image), image, atol=1e-3)
