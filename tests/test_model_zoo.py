"""The model zoo (``tfpix2pix.models``): every registered G and D against its spec.

Parameter counts are computed here from each architecture's spec (conv kernels,
biases, norm parameters), not read from the models. Full-size models are only
built and shape-inferred; everything that runs a forward pass uses ngf/ndf 4-8 and
32-128 px inputs.
"""

import inspect
import subprocess
import sys
from types import SimpleNamespace

import keras
import numpy as np
import pytest

import tfpix2pix
from tfpix2pix.models import (DISCRIMINATORS, GENERATORS, discriminator_features,
                              discriminator_kwargs, generator_kwargs, stride)
from tfpix2pix.models.layers import ReflectionPad2D
from tfpix2pix.models.multiscale import AvgPoolExcludePad
from tfpix2pix.models.test_mode import inference_model

build_generator, build_discriminator = tfpix2pix.build_generator, tfpix2pix.build_discriminator
CONVS = (keras.layers.Conv2D, keras.layers.Conv2DTranspose)
NORM_LAYERS = (keras.layers.BatchNormalization, keras.layers.GroupNormalization)
# Same ops on the same values: bit-equal on a CPU; 1e-6 admits GPU kernels summing in another
# order. Against numpy float64 references, or graphs that order the same sums differently
# (moments, phases), float32 rounding on values of order 1 stays below 1e-5.
SAME_OPS, FLOAT32 = 1e-6, 1e-5


def n_trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def of_type(model, kind):
    return [layer for layer in model.layers if isinstance(layer, kind)]


def images(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype("float32")


def as_list(out):
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


# --- parameter counts from the spec ---------------------------------------------------------

def conv_params(k, cin, cout, bias):
    return k * k * cin * cout + (cout if bias else 0)


def norm_params(norm, channels):
    return 2 * channels if norm == "batch" else 0  # BN's gamma, beta; instance norm has none


def unet_params(num_downs, norm, skips=True, ngf=64, cin=3, cout=3):
    """Paper + errata: C64-C128-C256-C512..., no norm on level 1 and the innermost level;
    decoder deconvs take (skip +) up channels; with BN only the output deconv has a bias."""
    bias = norm != "batch"
    width = [None] + [ngf * min(2 ** (level - 1), 8) for level in range(1, num_downs + 1)]
    total = conv_params(4, cin, width[1], bias)
    for level in range(2, num_downs + 1):
        total += conv_params(4, width[level - 1], width[level], bias)
        total += norm_params(norm, width[level]) if level < num_downs else 0
    for level in range(num_downs, 1, -1):
        fan_in = width[level] * (2 if skips and level < num_downs else 1)
        total += conv_params(4, fan_in, width[level - 1], bias)
        total += norm_params(norm, width[level - 1])
    return total + conv_params(4, width[1] * (2 if skips else 1), cout, True)


def resnet_params(n_blocks, norm, ngf=64, cin=3, cout=3):
    """The reference's ResnetGenerator: c7s1-ngf, d2ngf, d4ngf, n_blocks x R4ngf (two 3x3
    convs each), u2ngf, ungf (3x3 deconvs), c7s1-out with a bias."""
    bias = norm != "batch"

    def unit(k, a, b):
        return conv_params(k, a, b, bias) + norm_params(norm, b)

    total = unit(7, cin, ngf) + unit(3, ngf, 2 * ngf) + unit(3, 2 * ngf, 4 * ngf)
    total += n_blocks * 2 * unit(3, 4 * ngf, 4 * ngf)
    total += unit(3, 4 * ngf, 2 * ngf) + unit(3, 2 * ngf, ngf)
    return total + conv_params(7, ngf, cout, True)


def patchgan_params(n_layers, norm, cin=6, ndf=64):
    """C64 (bias, no norm), then n_layers normed convs doubling up to 8 ndf, then 1 logit (bias)."""
    bias = norm != "batch"
    widths = [ndf * min(2 ** n, 8) for n in range(n_layers + 1)]
    total = conv_params(4, cin, ndf, True)
    for a, b in zip(widths, widths[1:]):
        total += conv_params(4, a, b, bias) + norm_params(norm, b)
    return total + conv_params(4, widths[-1], 1, True)


def pixel_params(norm, cin=6, ndf=64):
    """The reference's PixelDiscriminator: bias on the 1st conv; on the 2nd and the logits
    conv only without BN (``bias=use_bias`` on both in networks.py)."""
    bias = norm != "batch"
    return (conv_params(1, cin, ndf, True) + conv_params(1, ndf, 2 * ndf, bias)
            + norm_params(norm, 2 * ndf) + conv_params(1, 2 * ndf, 1, bias))


def torch_conv_out(size, strides, k=4, p=1):
    """Output side of PyTorch Conv2d(k, padding=p) applied with these strides in turn."""
    for s in strides:
        size = (size + 2 * p - k) // s + 1
    return size


def torch_pool_out(size):
    return (size + 2 - 3) // 2 + 1  # AvgPool2d(3, stride=2, padding=1)


def patch_sides(size, n_layers, num_D=1):
    sides = []
    for _ in range(num_D):
        sides.append(torch_conv_out(size, [2] * n_layers + [1, 1]))
        size = torch_pool_out(size)
    return sides


# The reference prints "Total number of parameters : %.3f M" (trainable count / 1e6).
# Confirmed in public training logs and READMEs: pix2pix unet_256 batch "54.414 M" and basic D
# batch "2.769 M"; CycleGAN (instance norm, 3-channel D input) "11.378 million" for
# resnet_9blocks and "2.765 million" for the basic D. Our formulas give 54,413,955, 2,768,705,
# 11,378,179 and 2,764,737, which print as those figures. The other counts below follow the
# reference's code (layer widths and its use_bias rule), which is what it counts.
PRINTED = {("unet_256", "batch", 3): "54.414", ("basic", "batch", 6): "2.769",
           ("resnet_9blocks", "instance", 3): "11.378", ("basic", "instance", 3): "2.765"}

G_SPECS = {  # name: (full image size, trainable parameters for a norm)
    "unet_64": (64, lambda norm: unet_params(6, norm)),
    "unet_128": (128, lambda norm: unet_params(7, norm)),
    "unet_256": (256, lambda norm: unet_params(8, norm)),
    "unet_512": (512, lambda norm: unet_params(9, norm)),
    "encoder_decoder_256": (256, lambda norm: unet_params(8, norm, skips=False)),
    "resnet_6blocks": (256, lambda norm: resnet_params(6, norm)),
    "resnet_9blocks": (256, lambda norm: resnet_params(9, norm)),
}
D_CASES = [  # (netD, options, in_channels, count(norm, in_channels), logit map sides at 256)
    ("basic", {}, 6, lambda norm, c: patchgan_params(3, norm, c), patch_sides(256, 3)),
    ("basic", {}, 3, lambda norm, c: patchgan_params(3, norm, c), patch_sides(256, 3)),
    *[("n_layers", {"n_layers": k}, 6, lambda norm, c, k=k: patchgan_params(k, norm, c),
       patch_sides(256, k)) for k in range(1, 6)],
    ("pixel", {}, 6, lambda norm, c: pixel_params(norm, c), [256]),
    ("multiscale", {}, 6, lambda norm, c: 2 * patchgan_params(3, norm, c), patch_sides(256, 3, 2)),
    ("multiscale", {"num_D": 3, "n_layers": 2}, 6, lambda norm, c: 3 * patchgan_params(2, norm, c),
     patch_sides(256, 2, 3)),
]


def test_every_registered_model_has_a_spec_here():
    assert set(G_SPECS) == set(GENERATORS)
    assert {case[0] for case in D_CASES} == set(DISCRIMINATORS)
    # The logit map sides, worked by hand from PyTorch's (n + 2 - 4) // s + 1.
    assert [patch_sides(256, k)[0] for k in range(1, 6)] == [126, 62, 30, 14, 6]
    assert patch_sides(256, 3, 2) == [30, 14] and patch_sides(256, 2, 3) == [62, 30, 14]


def check_printed(key, count):
    if key in PRINTED:
        assert f"{count / 1e6:.3f}" == PRINTED[key], key


@pytest.mark.parametrize("norm", ["batch", "instance"])
@pytest.mark.parametrize("name", sorted(G_SPECS))
def test_full_size_generator_count_and_shape(name, norm):
    size, count = G_SPECS[name]
    g = build_generator(name, norm=norm)
    assert n_trainable(g) == count(norm)
    check_printed((name, norm, 3), count(norm))
    assert tuple(g.compute_output_shape((1, size, size, 3))) == (1, size, size, 3)
    assert size % stride(name) == 0
    if name.startswith("encoder_decoder"):
        assert not of_type(g, keras.layers.Concatenate)


@pytest.mark.parametrize("norm", ["batch", "instance"])
@pytest.mark.parametrize("name, options, channels, count, sides", D_CASES)
def test_full_size_discriminator_count_and_shape(name, options, channels, count, sides, norm):
    d = build_discriminator(name, in_channels=channels, norm=norm, **options)
    assert n_trainable(d) == count(norm, channels)
    check_printed((name, norm, channels), count(norm, channels))
    shapes = d.compute_output_shape((1, 256, 256, channels))
    shapes = shapes if isinstance(shapes, list) else [shapes]
    assert [tuple(s) for s in shapes] == [(1, side, side, 1) for side in sides]
    assert d.inputs[0].name == "pair"


def test_exact_reference_counts():
    assert unet_params(8, "batch") == 54_413_955
    assert patchgan_params(3, "batch") == 2_768_705
    assert resnet_params(9, "instance") == 11_378_179
    assert patchgan_params(3, "instance", cin=3) == 2_764_737


# --- receptive fields -----------------------------------------------------------------------

def receptive_field(model):
    """Input pixels one output sees, from the conv layers' kernel sizes and strides."""
    field, jump = 1, 1
    for layer in of_type(model, CONVS):
        field += (layer.kernel_size[0] - 1) * jump
        jump *= layer.strides[0]
    return field


@pytest.mark.parametrize("k, field", [(1, 16), (2, 34), (3, 70), (4, 142), (5, 286)])
def test_n_layers_receptive_fields(k, field):
    assert receptive_field(build_discriminator("n_layers", n_layers=k, ndf=4)) == field


def test_pixel_discriminator_sees_one_pixel():
    d = build_discriminator("pixel", ndf=4)
    assert receptive_field(d) == 1
    assert as_list(d(images((1, 20, 12, 6))))[0].shape == (1, 20, 12, 1)


# --- ResNet generator: the reference's layout and PyTorch's alignment ------------------------

def torch_conv2d(x, kernel, stride, padding):
    """PyTorch's Conv2d (zero padding on every side) on one HWC image; Keras kernel layout."""
    x = np.pad(x, ((padding, padding), (padding, padding), (0, 0)))
    k = kernel.shape[0]
    h, w = (x.shape[0] - k) // stride + 1, (x.shape[1] - k) // stride + 1
    out = np.zeros((h, w, kernel.shape[3]))
    for i in range(h):
        for j in range(w):
            out[i, j] = np.tensordot(x[i * stride:i * stride + k, j * stride:j * stride + k],
                                     kernel, axes=3)
    return out


def torch_conv_transpose2d(x, kernel, stride, padding, output_padding):
    """PyTorch's ConvTranspose2d on one HWC image; Keras kernel layout (kh, kw, out, in).

    Input (i, j) adds kernel * x[i, j] at (i * stride, j * stride) of the full output; the
    result is the full output from ``padding`` on, (n - 1) * s - 2p + k + output_padding long.
    """
    (h, w, _), k = x.shape, kernel.shape[0]
    full = np.zeros(((h - 1) * stride + k + output_padding, (w - 1) * stride + k + output_padding,
                     kernel.shape[2]))
    for i in range(h):
        for j in range(w):
            full[i * stride:i * stride + k, j * stride:j * stride + k] += kernel @ x[i, j]
    out_h = (h - 1) * stride - 2 * padding + k + output_padding
    out_w = (w - 1) * stride - 2 * padding + k + output_padding
    return full[padding:padding + out_h, padding:padding + out_w]


@pytest.fixture(scope="module")
def tiny_resnet():
    return build_generator("resnet_6blocks", ngf=2, norm="none", use_dropout=False)


def test_resnet_downsample_is_pytorch_padding_1_by_hand(tiny_resnet):
    pad, conv = tiny_resnet.get_layer("down1_pad"), tiny_resnet.get_layer("down1_conv")
    conv.kernel.assign(np.ones(conv.kernel.shape, "float32"))  # (3, 3, 2, 4)
    y = np.asarray(conv(pad(np.ones((1, 4, 4, 2), "float32"))))
    # Output (i, j) sums rows 2i-1..2i+1 and columns 2j-1..2j+1 that lie inside the 4x4 map:
    # 2 or 3 of each, times 2 input channels. Keras "same" (pad 0 before, 1 after) would sum
    # rows 2i..2i+2 and give [[9, 6], [6, 4]] * 2 instead.
    np.testing.assert_array_equal(y[0, :, :, 0], 2 * np.array([[4, 6], [6, 9]]))


def test_resnet_upsample_is_pytorch_output_padding_by_hand(tiny_resnet):
    deconv, crop = tiny_resnet.get_layer("up2_deconv"), tiny_resnet.get_layer("up2_crop")
    deconv.kernel.assign(np.ones(deconv.kernel.shape, "float32"))  # (3, 3, 2 out, 4 in)
    y = np.asarray(crop(deconv(np.ones((1, 2, 2, 4), "float32"))))
    # Row r of the full 5-row transposed output gets input rows i with 2i <= r <= 2i + 2:
    # 1, 1, 2, 1, 1 of them. PyTorch (p=1, output_padding=1) keeps r = 1..4: 1, 2, 1, 1;
    # Keras "same" keeps r = 0..3: 1, 1, 2, 1. Times 4 input channels.
    per_axis = np.array([1, 2, 1, 1])
    np.testing.assert_array_equal(y[0, :, :, 0], 4 * np.outer(per_axis, per_axis))


@pytest.mark.parametrize("level", [1, 2])
def test_resnet_down_and_up_match_numpy_pytorch_semantics(tiny_resnet, level):
    g = tiny_resnet
    pad, conv = g.get_layer(f"down{level}_pad"), g.get_layer(f"down{level}_conv")
    deconv, crop = g.get_layer(f"up{level}_deconv"), g.get_layer(f"up{level}_crop")
    for layer in (conv, deconv):  # random kernels: a flipped or shifted kernel shows
        layer.kernel.assign(images(layer.kernel.shape, seed=20 + level))
    x = images((1, 6, 10, conv.kernel.shape[2]), seed=level)  # non-square, even sides
    expected = torch_conv2d(x[0], conv.kernel.numpy(), stride=2, padding=1)
    np.testing.assert_allclose(np.asarray(conv(pad(x)))[0], expected, atol=FLOAT32)

    x = images((1, 3, 5, deconv.kernel.shape[3]), seed=10 + level)
    expected = torch_conv_transpose2d(x[0], deconv.kernel.numpy(), 2, 1, 1)
    assert expected.shape[:2] == (6, 10)
    np.testing.assert_allclose(np.asarray(crop(deconv(x)))[0], expected, atol=FLOAT32)


def test_reflection_pad_is_pytorch_reflection_and_serializes():
    x = images((2, 5, 4, 3))
    layer = ReflectionPad2D(3)
    # numpy's "reflect" mirrors without repeating the edge, as PyTorch's ReflectionPad2d.
    expected = np.pad(x, ((0, 0), (3, 3), (3, 3), (0, 0)), mode="reflect")
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)
    clone = ReflectionPad2D.from_config(layer.get_config())
    assert clone.padding == 3


def test_resnet_layer_sequence_is_the_references():
    g = build_generator("resnet_9blocks", ngf=4, norm="batch")
    ngf, seq = 4, []
    for layer in g.layers:
        if isinstance(layer, CONVS):
            seq.append((type(layer).__name__, tuple(layer.kernel.shape), tuple(layer.strides),
                        layer.use_bias))
        elif isinstance(layer, (keras.layers.BatchNormalization, keras.layers.Dropout,
                                keras.layers.Add)):
            seq.append(type(layer).__name__)
    conv, deconv = "Conv2D", "Conv2DTranspose"
    block = [(conv, (3, 3, 4 * ngf, 4 * ngf), (1, 1), False), "BatchNormalization", "Dropout",
             (conv, (3, 3, 4 * ngf, 4 * ngf), (1, 1), False), "BatchNormalization", "Add"]
    expected = ([(conv, (7, 7, 3, ngf), (1, 1), False), "BatchNormalization",
                 (conv, (3, 3, ngf, 2 * ngf), (2, 2), False), "BatchNormalization",
                 (conv, (3, 3, 2 * ngf, 4 * ngf), (2, 2), False), "BatchNormalization"]
                + block * 9
                + [(deconv, (3, 3, 2 * ngf, 4 * ngf), (2, 2), False), "BatchNormalization",
                   (deconv, (3, 3, ngf, 2 * ngf), (2, 2), False), "BatchNormalization",
                   (conv, (7, 7, ngf, 3), (1, 1), True)])
    assert seq == expected
    # A residual block adds its input to its second norm's output; ReLU, then dropout.
    get = g.get_layer
    assert get("block3_add").input[0] is get("block2_add").output
    assert get("block3_add").input[1] is get("block3_2_norm").output
    assert get("block3_dropout").input is get("block3_1_relu").output
    assert get("block1_add").input[0] is get("down2_relu").output
    assert isinstance(get("block1_1_pad"), ReflectionPad2D) and get("block1_1_pad").padding == 1
    assert get("stem_pad").padding == 3 and get("head_pad").padding == 3
    assert get("output").get_config()["activation"] == "tanh"


@pytest.mark.parametrize("norm", ["instance", "none"])
def test_resnet_without_batchnorm_has_bias_on_every_conv(norm):
    g = build_generator("resnet_6blocks", ngf=4, norm=norm)
    assert all(layer.use_bias for layer in of_type(g, CONVS))
    assert not of_type(g, keras.layers.BatchNormalization)
    if norm == "none":
        assert not of_type(g, NORM_LAYERS)


def test_tiny_resnet_maps_images_of_multiples_of_4():
    g = build_generator("resnet_9blocks", ngf=8)
    y = np.asarray(g(images((2, 32, 44, 3)), training=True))
    assert y.shape == (2, 32, 44, 3) and np.all(np.abs(y) <= 1)
    assert len(of_type(g, keras.layers.Dropout)) == 9
    assert not of_type(build_generator("resnet_6blocks", ngf=4, use_dropout=False),
                       keras.layers.Dropout)


# --- encoder-decoder ------------------------------------------------------------------------

def test_encoder_decoder_is_unet_without_skips():
    unet = build_generator("unet_256", ngf=8, num_downs=5)
    plain = build_generator("encoder_decoder_256", ngf=8, num_downs=5)
    assert not of_type(plain, keras.layers.Concatenate)
    assert len(of_type(unet, keras.layers.Concatenate)) == 4  # levels 4..1
    deconvs = [(l.name, l.filters) for l in of_type(unet, keras.layers.Conv2DTranspose)]
    assert deconvs == [(l.name, l.filters) for l in of_type(plain, keras.layers.Conv2DTranspose)]
    assert [w.shape for w in unet.get_layer("enc3_conv").weights] == \
        [w.shape for w in plain.get_layer("enc3_conv").weights]
    # Each decoder block reads only the previous block's output.
    assert plain.get_layer("dec4_relu").input is plain.get_layer("dec5_dropout").output
    assert plain.get_layer("dec3_deconv").kernel.shape[3] == 32  # unet: 64 (skip + up)
    assert n_trainable(plain) == unet_params(5, "batch", skips=False, ngf=8)
    assert tuple(plain(images((1, 32, 32, 3))).shape) == (1, 32, 32, 3)


# --- pixel and multi-scale discriminators ---------------------------------------------------

def test_pixel_discriminator_biases_follow_the_reference():
    batch = build_discriminator("pixel", ndf=4)
    assert [(l.name, l.use_bias) for l in of_type(batch, CONVS)] == \
        [("layer1_conv", True), ("layer2_conv", False), ("logits_conv", False)]
    assert all(tuple(l.kernel_size) == (1, 1) for l in of_type(batch, CONVS))
    inst = build_discriminator("pixel", ndf=4, norm="instance")
    assert all(l.use_bias for l in of_type(inst, CONVS))
    assert n_trainable(batch) == pixel_params("batch", ndf=4)


def torch_avg_pool_exclude_pad(x):
    """PyTorch's AvgPool2d(3, stride=2, padding=1, count_include_pad=False) on one HWC map."""
    h, w = x.shape[:2]
    out = np.zeros((torch_pool_out(h), torch_pool_out(w), x.shape[2]))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            window = x[max(2 * i - 1, 0):2 * i + 2, max(2 * j - 1, 0):2 * j + 2]
            out[i, j] = window.mean(axis=(0, 1))  # the pixels inside the map only
    return out


@pytest.mark.parametrize("shape", [(7, 8), (8, 5), (1, 2)])
def test_downsample_is_pytorch_avg_pool_without_padding_in_the_count(shape):
    x = images((2, *shape, 3), seed=shape[0])
    y = np.asarray(AvgPoolExcludePad()(x))
    for n in range(2):
        np.testing.assert_allclose(y[n], torch_avg_pool_exclude_pad(x[n]), atol=FLOAT32)
    # A constant map stays constant (counting the zero pads would give 4/9 in the corners).
    np.testing.assert_allclose(np.asarray(AvgPoolExcludePad()(np.ones((1, 6, 6, 1)))), 1.0)


def scale_weights(d, scale):
    return [w for layer in d.layers if layer.name.startswith(f"scale{scale}_")
            for w in layer.weights]


def test_multiscale_is_n_layers_patchgans_on_halved_inputs():
    d = build_discriminator("multiscale", ndf=4, num_D=3)
    x = images((2, 128, 96, 6), seed=3)
    logits = as_list(d(x, training=False))
    assert [l.shape for l in logits] == [(2, 14, 10, 1), (2, 6, 4, 1), (2, 2, 1, 1)]
    single = build_discriminator("n_layers", ndf=4)
    x_scale = x
    for scale in (1, 2, 3):
        single.set_weights([w.numpy() for w in scale_weights(d, scale)])
        np.testing.assert_allclose(logits[scale - 1],
                                   np.asarray(single(x_scale, training=False)), atol=FLOAT32)
        x_scale = np.stack([torch_avg_pool_exclude_pad(image) for image in x_scale])
        x_scale = x_scale.astype("float32")
    # The flat model names every layer by scale; pix2pixHD's defaults are 2 scales.
    assert {l.name.split("_")[0] for l in d.layers} == {"pair", "scale1", "scale2", "scale3"}
    assert len(as_list(build_discriminator("multiscale", ndf=4)(x[:1]))) == 2


@pytest.mark.parametrize("name, options, n_features", [
    ("basic", {}, [4]), ("n_layers", {"n_layers": 2}, [3]), ("pixel", {}, [2]),
    ("multiscale", {"num_D": 2}, [4, 4])])
def test_discriminator_features_are_the_discriminators_tensors(name, options, n_features):
    d = build_discriminator(name, ndf=4, **options)
    features_model = discriminator_features(d)
    x = images((2, 64, 64, 6), seed=4)
    out = features_model(x, training=False)
    assert set(out) == {"logits", "features"}
    assert [len(f) for f in out["features"]] == n_features
    for got, want in zip(as_list(out["logits"]), as_list(d(x, training=False)), strict=True):
        np.testing.assert_allclose(got, want, atol=SAME_OPS)
    # The same layers and variables: training through it trains D.
    assert {id(v) for v in features_model.trainable_variables} == \
        {id(v) for v in d.trainable_variables}
    prefixes = [""] if len(n_features) == 1 else ["scale1_", "scale2_"]
    for prefix, features, logits in zip(prefixes, out["features"], as_list(out["logits"])):
        # Each feature is a LeakyReLU block's output; the last one is what the logits see.
        last = np.asarray(features[-1])
        for layer in ("logits_pad", "logits_conv", "patch_logits"):
            if prefix + layer in {l.name for l in d.layers}:
                last = d.get_layer(prefix + layer)(last)
        np.testing.assert_allclose(np.asarray(last), logits, atol=SAME_OPS)
    first = x
    for layer in ("layer1_pad", "layer1_conv", "layer1_lrelu"):  # scale 1's first block by hand
        if prefixes[0] + layer in {l.name for l in d.layers}:
            first = d.get_layer(prefixes[0] + layer)(first)
    np.testing.assert_allclose(np.asarray(out["features"][0][0]), np.asarray(first),
                               atol=SAME_OPS)
    if name == "multiscale":  # scale 2 works on the half-size input
        assert out["features"][1][0].shape[1:3] == (16, 16)


# --- inference and round trips --------------------------------------------------------------

def tiny_generator(name, **kwargs):
    if "num_downs" in GENERATORS[name].options:
        kwargs.setdefault("num_downs", 5)
    return build_generator(name, ngf=8, **kwargs)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_inference_model_eval_is_the_generator_in_eval_mode(name):
    keras.utils.set_random_seed(1)
    g = tiny_generator(name)
    for seed in range(2):  # move BatchNorm's moving statistics off 0 / 1
        g(images((2, 32, 32, 3), seed) * 0.5 + 0.2, training=True)
    x = images((2, 32, 32, 3), seed=7)
    expected = np.asarray(g(x, training=False))
    for phase_deconv in (False, True):
        model = inference_model(g, "eval", phase_deconv=phase_deconv)
        np.testing.assert_allclose(np.asarray(model(x)), expected, atol=FLOAT32)


def test_resnet_per_image_mode_is_batchnorm_on_one_image():
    g = build_generator("resnet_9blocks", ngf=8, use_dropout=False)
    x = images((1, 32, 32, 3), seed=8)
    np.testing.assert_allclose(np.asarray(inference_model(g, "per_image")(x)),
                               np.asarray(g(x, training=True)), atol=FLOAT32)


def test_new_models_round_trip_through_keras_files(tmp_path):
    cases = [(build_generator("resnet_6blocks", ngf=4), (1, 32, 32, 3)),
             (build_discriminator("multiscale", ndf=4), (1, 64, 64, 6)),
             (build_discriminator("pixel", ndf=4), (1, 16, 16, 6))]
    for model, shape in cases:
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        x = images(shape, seed=9)
        for a, b in zip(as_list(loaded(x, training=False)), as_list(model(x, training=False)),
                        strict=True):
            np.testing.assert_allclose(a, b, atol=SAME_OPS)


def test_mixed_precision_keeps_outputs_float32():
    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        g = build_generator("resnet_6blocks", ngf=4)
        ds = [build_discriminator(n, ndf=4) for n in ("pixel", "multiscale")]
    finally:
        keras.config.set_dtype_policy(old)
    assert g.get_layer("block1_1_conv").compute_dtype == "float16"
    assert np.asarray(g(images((1, 16, 16, 3)))).dtype == np.float32
    for d in ds:
        assert d.get_layer("patch_logits" if d.name.endswith("pixel") else
                           "scale2_logits_conv").compute_dtype == "float32"
        assert all(logits.dtype == np.float32 for logits in as_list(d(images((1, 64, 64, 6)))))


# --- registry -------------------------------------------------------------------------------

def test_registry_imports_no_tensorflow():
    code = ("import sys, tfpix2pix.models.registry as r; r.stride('resnet_9blocks'); "
            "sys.exit(int('tensorflow' in sys.modules or 'keras' in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_registry_entries_name_their_builder_and_its_keywords():
    for registry in (GENERATORS, DISCRIMINATORS):
        for name, arch in registry.items():
            module, function = arch.builder.rsplit(".", 1)
            builder = getattr(__import__(f"tfpix2pix.models.{module}", fromlist=[function]),
                              function)
            params = inspect.signature(builder).parameters
            assert set(arch.defaults) | set(arch.options) <= set(params), name
            assert arch.summary, name


def test_stride_of_every_generator():
    assert {name: stride(name) for name in GENERATORS} == {
        "unet_64": 64, "unet_128": 128, "unet_256": 256, "unet_512": 512,
        "encoder_decoder_256": 256, "resnet_6blocks": 4, "resnet_9blocks": 4}
    assert stride("unet_512", 5) == stride("encoder_decoder_256", 5) == 32
    assert stride("resnet_9blocks", 0) == stride("resnet_9blocks", None) == 4


def test_config_sections_become_builder_arguments():
    m = SimpleNamespace(netG="resnet_6blocks", ngf=4, norm="instance", no_dropout=True,
                        num_downs=0, netD="multiscale", ndf=4, n_layers_D=2, num_D=3)
    g = build_generator(**generator_kwargs(m, SimpleNamespace(input_nc=1, output_nc=2)))
    assert tuple(g.compute_output_shape((1, 16, 16, 1))) == (1, 16, 16, 2)
    assert not of_type(g, keras.layers.Dropout)
    assert generator_kwargs(m)["in_channels"] == generator_kwargs(m)["out_channels"] == 3
    kwargs = discriminator_kwargs(m, in_channels=3)
    assert kwargs == {"name": "multiscale", "in_channels": 3, "ndf": 4, "n_layers": 2,
                      "norm": "instance", "num_D": 3}
    assert len(build_discriminator(**kwargs).outputs) == 3


@pytest.mark.parametrize("call, message", [
    (lambda: build_generator("resnet_9blocks", num_downs=5),
     "`num_downs` does not apply to netG='resnet_9blocks'"),
    (lambda: stride("resnet_6blocks", 3), "`num_downs` does not apply to netG='resnet_6blocks'"),
    (lambda: build_discriminator("pixel", n_layers=4), "`n_layers` does not apply to netD='pixel'"),
    (lambda: build_discriminator("basic", num_D=3), "`num_D` does not apply to netD='basic'"),
    (lambda: build_discriminator("multiscale", num_D=0),
     "`num_D` must be at least 1. Received: num_D=0"),
    (lambda: build_discriminator("multiscale", n_layers=9),
     "`n_layers` must be between 1 and 8. Received: n_layers=9"),
    (lambda: build_discriminator("patch"),
     "`netD` must be one of basic, n_layers, pixel, multiscale. Received: netD='patch'"),
    (lambda: build_generator("unet_1024"),
     "`netG` must be one of unet_64, unet_128, unet_256, unet_512, encoder_decoder_256, "
     "resnet_6blocks, resnet_9blocks. Received: netG='unet_1024'"),
])
def test_bad_options_raise_in_the_house_style(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)
    assert "Received:" in str(info.value)
