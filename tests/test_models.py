"""The U-Net generator and PatchGAN discriminator against the paper (FIELD_NOTES section 1).

Full-size models are built once per module and only run forward; everything
that can be shown on a small model uses ngf/ndf 8 and 64 px inputs.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfpix2pix
from tfpix2pix.models import DISCRIMINATORS, GENERATORS, NORMS

CONV_TYPES = (keras.layers.Conv2D, keras.layers.Conv2DTranspose)
NORM_TYPES = (keras.layers.BatchNormalization, keras.layers.GroupNormalization)


def n_trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def convs(model):
    return [layer for layer in model.layers if isinstance(layer, CONV_TYPES)]


def of_type(model, kind):
    return [layer for layer in model.layers if isinstance(layer, kind)]


def random_images(shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).uniform(-1, 1, shape) * scale).astype("float32")


def pytorch_out(size, strides):
    """Output size of PyTorch Conv2d(k=4, p=1) with these strides, applied in turn."""
    for s in strides:
        size = (size + 2 - 4) // s + 1
    return size


@pytest.fixture(scope="module")
def generator():
    return tfpix2pix.build_generator()


@pytest.fixture(scope="module")
def discriminator():
    return tfpix2pix.build_discriminator()


@pytest.fixture(scope="module")
def tiny_instance_generator():
    return tfpix2pix.build_generator("unet_64", ngf=8, norm="instance")


# --- full-size defaults -----------------------------------------------------------------------

def test_generator_param_count_matches_pytorch_reference(generator):
    # 54,414,979 would mean BN on the bottleneck (the TF tutorial's bug); other
    # numbers mean wrong biases or widths.
    assert n_trainable(generator) == 54_413_955


def test_generator_maps_256_image_to_256_image_in_unit_range(generator):
    x = random_images((1, 256, 256, 3))
    y = np.asarray(generator(x, training=False))
    assert y.shape == (1, 256, 256, 3)
    assert y.dtype == np.float32
    assert np.all(np.abs(y) <= 1.0)
    assert y.std() > 0  # not a constant map
    # A huge input saturates tanh; the output still never leaves [-1, 1].
    big = np.asarray(generator(x * 1e4, training=False))
    assert np.all(np.abs(big) <= 1.0) and np.abs(big).max() > 0.99


def test_discriminator_param_count_and_30x30_patch_map(discriminator):
    assert n_trainable(discriminator) == 2_768_705
    out = discriminator(random_images((1, 256, 256, 6)), training=False)
    assert tuple(out.shape) == (1, 30, 30, 1)
    assert out.dtype == tf.float32


def test_unet_128_full_size_on_128_images():
    g = tfpix2pix.build_generator("unet_128")
    # One 512-filter level fewer than unet_256: enc7 is the innermost (no norm), no enc8.
    names = {layer.name for layer in g.layers}
    assert "enc7_conv" in names and "enc8_conv" not in names and "enc7_norm" not in names
    assert "enc6_norm" in names
    y = g(random_images((1, 128, 128, 3)), training=False)
    assert tuple(y.shape) == (1, 128, 128, 3)
    # The innermost level must reach 1x1 on a 128 input.
    inner = keras.Model(g.input, g.get_layer("enc7_conv").output)
    assert tuple(inner(random_images((1, 128, 128, 3))).shape[1:3]) == (1, 1)


# --- paper structure ------------------------------------------------------------------------

def test_batchnorm_generator_only_output_deconv_has_bias(generator):
    with_bias = [layer.name for layer in convs(generator) if layer.use_bias]
    assert with_bias == ["dec1_deconv"]
    assert len(convs(generator)) == 16  # 8 encoder convs + 8 decoder deconvs


def test_batchnorm_discriminator_bias_only_on_first_and_last_conv(discriminator):
    with_bias = sorted(layer.name for layer in convs(discriminator) if layer.use_bias)
    assert with_bias == ["layer1_conv", "logits_conv"]


def test_generator_layer_widths_follow_paper(generator):
    enc = [generator.get_layer(f"enc{i}_conv").filters for i in range(1, 9)]
    assert enc == [64, 128, 256, 512, 512, 512, 512, 512]
    dec = [generator.get_layer(f"dec{i}_deconv").filters for i in range(8, 0, -1)]
    assert dec == [512, 512, 512, 512, 256, 128, 64, 3]
    for layer in convs(generator):
        assert tuple(layer.kernel_size) == (4, 4) and tuple(layer.strides) == (2, 2), layer.name


def test_no_norm_on_first_and_innermost_encoder_level(generator):
    names = {layer.name for layer in generator.layers}
    assert "enc1_norm" not in names
    assert "enc8_norm" not in names
    assert {f"enc{i}_norm" for i in range(2, 8)} <= names
    assert {f"dec{i}_norm" for i in range(2, 9)} <= names
    assert "dec1_norm" not in names
    # The bare first conv feeds enc2's LeakyReLU and the skip directly; enc8's output
    # goes straight into the innermost decoder block.
    assert generator.get_layer("enc2_lrelu").input is generator.get_layer("enc1_conv").output
    assert generator.get_layer("dec8_relu").input is generator.get_layer("enc8_conv").output
    assert len(of_type(generator, keras.layers.BatchNormalization)) == 6 + 7


def test_batchnorm_uses_pytorch_defaults(generator, discriminator):
    bns = of_type(generator, keras.layers.BatchNormalization) + \
        of_type(discriminator, keras.layers.BatchNormalization)
    assert len(bns) == 13 + 3
    for bn in bns:
        assert bn.momentum == pytest.approx(0.9), bn.name  # PyTorch momentum 0.1
        assert bn.epsilon == pytest.approx(1e-5), bn.name
        assert bn.center and bn.scale, bn.name


def test_activations_leaky_02_in_encoder_and_d_relu_in_decoder(generator, discriminator):
    g_leaky = of_type(generator, keras.layers.LeakyReLU)
    assert sorted(layer.name for layer in g_leaky) == sorted(f"enc{i}_lrelu" for i in range(2, 9))
    for layer in g_leaky:
        assert layer.get_config()["negative_slope"] == pytest.approx(0.2), layer.name
    g_relu = of_type(generator, keras.layers.ReLU)
    assert sorted(layer.name for layer in g_relu) == sorted(f"dec{i}_relu" for i in range(1, 9))
    for layer in g_relu:
        cfg = layer.get_config()
        assert cfg["negative_slope"] == 0 and cfg["max_value"] is None and cfg["threshold"] == 0
    d_leaky = of_type(discriminator, keras.layers.LeakyReLU)
    assert len(d_leaky) == 4
    for layer in d_leaky:
        assert layer.get_config()["negative_slope"] == pytest.approx(0.2), layer.name
    assert not of_type(discriminator, keras.layers.ReLU)
    assert generator.get_layer("output").get_config()["activation"] == "tanh"


def test_leaky_relu_slope_is_numerically_02(generator, discriminator):
    for layer in (generator.get_layer("enc3_lrelu"), discriminator.get_layer("layer2_lrelu")):
        out = np.asarray(layer(np.array([[-1.0, -10.0, 0.0, 3.0]], "float32")))
        # One float32 multiply and max per value: exact to float32 rounding (~6e-8 relative).
        np.testing.assert_allclose(out, [[-0.2, -2.0, 0.0, 3.0]], rtol=1e-6)


def test_three_dropouts_on_innermost_decoder_blocks(generator):
    drops = of_type(generator, keras.layers.Dropout)
    assert len(drops) == 3
    assert all(d.rate == pytest.approx(0.5) for d in drops)
    probe = keras.Model(generator.input, [d.output for d in drops])
    outs = probe(random_images((1, 256, 256, 3)), training=False)
    assert sorted(int(o.shape[1]) for o in outs) == [2, 4, 8]
    # Each dropout follows its block's norm (CD = conv -> norm -> dropout).
    for d in drops:
        level = d.name.split("_")[0]
        assert d.input is generator.get_layer(f"{level}_norm").output


@pytest.mark.parametrize("name", ["unet_64", "resnet_6blocks"])
def test_use_dropout_false_removes_the_dropout_layers_and_nothing_else(name):
    keras.utils.set_random_seed(0)
    on = tfpix2pix.build_generator(name, ngf=8, use_dropout=True)
    off = tfpix2pix.build_generator(name, ngf=8, use_dropout=False)
    assert of_type(on, keras.layers.Dropout) and not of_type(off, keras.layers.Dropout)
    assert [layer.name for layer in off.layers] == [
        layer.name for layer in on.layers if not isinstance(layer, keras.layers.Dropout)]
    off.set_weights(on.get_weights())
    x = random_images((2, 64, 64, 3))
    # With the same weights the two compute the same function wherever dropout is off...
    np.testing.assert_allclose(np.asarray(off(x, training=False)),
                               np.asarray(on(x, training=False)), atol=1e-6)
    # ...and in training only the one with dropout draws masks: two passes of it differ by
    # far more than the 1e-6 that different kernel summation orders could explain.
    assert np.abs(np.asarray(on(x, training=True)) - np.asarray(on(x, training=True))).max() > 1e-2
    np.testing.assert_allclose(np.asarray(off(x, training=True)),
                               np.asarray(off(x, training=True)), atol=1e-6)


def test_pre_activation_order_and_skips_carry_normalised_output(generator):
    get = generator.get_layer
    for level in range(2, 8):
        concat = get(f"dec{level}_concat")
        assert concat.input[0] is get(f"enc{level}_norm").output, level
        # The decoder block activates the concatenation: ReLU comes after the concat.
        assert get(f"dec{level}_relu").input is concat.output
        assert get(f"dec{level}_deconv").input is get(f"dec{level}_relu").output
        assert get(f"dec{level}_norm").input is get(f"dec{level}_deconv").output
    assert get("dec7_concat").input[1] is get("dec8_dropout").output
    assert get("dec1_concat").input[0] is get("enc1_conv").output
    assert get("dec2_concat").input[1] is get("dec3_norm").output  # no dropout that deep
    for level in range(2, 9):  # encoder: LeakyReLU -> Conv -> Norm
        assert get(f"enc{level}_conv").input is get(f"enc{level}_lrelu").output
        if level < 8:
            assert get(f"enc{level}_norm").input is get(f"enc{level}_conv").output
        prev = "enc1_conv" if level == 2 else f"enc{level - 1}_norm"
        assert get(f"enc{level}_lrelu").input is get(prev).output
    assert get("output").input is get("dec1_deconv").output


def test_discriminator_block_order_and_strides(discriminator):
    get = discriminator.get_layer
    assert [get(f"layer{i}_conv").strides[0] for i in range(1, 5)] == [2, 2, 2, 1]
    assert get("logits_conv").strides[0] == 1 and get("logits_conv").filters == 1
    assert [get(f"layer{i}_conv").filters for i in range(1, 5)] == [64, 128, 256, 512]
    assert "layer1_norm" not in {layer.name for layer in discriminator.layers}
    for i in range(2, 5):  # Conv -> Norm -> LeakyReLU
        assert get(f"layer{i}_norm").input is get(f"layer{i}_conv").output
        assert get(f"layer{i}_lrelu").input is get(f"layer{i}_norm").output
    assert get("layer1_lrelu").input is get("layer1_conv").output


# --- instance norm --------------------------------------------------------------------------

def test_instance_norm_models_have_bias_everywhere_and_no_norm_params(tiny_instance_generator):
    d = tfpix2pix.build_discriminator(ndf=8, norm="instance")
    for model in (tiny_instance_generator, d):
        assert not of_type(model, keras.layers.BatchNormalization)
        norms = of_type(model, keras.layers.GroupNormalization)
        assert norms, model.name
        for layer in norms:
            assert layer.trainable_weights == [] and layer.weights == [], layer.name
        for layer in convs(model):
            assert layer.use_bias, layer.name
        # Trainable parameters are exactly the conv kernels and biases.
        expected = sum(int(np.prod(layer.kernel.shape)) + layer.filters for layer in convs(model))
        assert n_trainable(model) == expected


def test_instance_norm_normalises_each_image_and_channel(tiny_instance_generator):
    g = tiny_instance_generator
    probe = keras.Model(g.input, g.get_layer("enc2_norm").output)
    a = random_images((1, 64, 64, 3), seed=1, scale=50.0)
    b = random_images((1, 64, 64, 3), seed=2, scale=5000.0) + 3000.0
    both = np.concatenate([a, b])
    out = np.asarray(probe(both, training=True))
    assert out.shape == (2, 16, 16, 16)
    mean, std = out.mean(axis=(1, 2)), out.std(axis=(1, 2))  # per image, per channel
    # 16x16 = 256 values per image and channel, normalised in float32: the mean is 0 to
    # rounding. The std is sqrt(var / (var + 1e-5)), 1 up to the eps and float32 variance
    # rounding; a norm over the batch instead of the image would miss both by far more (the
    # two images differ in scale by 100x and in offset by 3000).
    np.testing.assert_allclose(mean, 0.0, atol=1e-3)
    np.testing.assert_allclose(std, 1.0, atol=2e-2)
    # Independent of the rest of the batch, and identical in training and inference: the
    # same per-image moments computed in another batch, so only float32 rounding differs.
    alone = np.asarray(probe(a, training=False))
    np.testing.assert_allclose(alone[0], out[0], atol=1e-4)


def test_instance_norm_layer_directly():
    from tfpix2pix.models.layers import normalization
    layer = normalization("instance", "in")
    rng = np.random.default_rng(0)
    # Channel c of image n has mean 10*c - 7*n and scale 1 + 100*n + c.
    x = rng.normal(size=(2, 8, 8, 4))
    x = x * (1 + 100 * np.arange(2)[:, None, None, None] + np.arange(4)) \
        + 10 * np.arange(4) - 7 * np.arange(2)[:, None, None, None]
    out = np.asarray(layer(x.astype("float32")))
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    ref = (x - mean) / np.sqrt(var + 1e-5)
    # float32 moments of values up to ~500 against float64 ones: errors near 1e-5 on an
    # output of unit scale; a wrong axis or eps (1e-3 instead of 1e-5) is off by > 1e-2.
    np.testing.assert_allclose(out, ref, atol=1e-3)
    assert normalization("none", "x") is None


# --- initialisation -------------------------------------------------------------------------

def test_conv_kernels_are_normal_0_002(generator, discriminator):
    for model, name in ((generator, "enc5_conv"), (generator, "dec6_deconv"),
                        (discriminator, "layer4_conv")):
        kernel = model.get_layer(name).kernel.numpy()
        # Each kernel has >= 2.1M values: the sample mean's standard error is 0.02 / 1450 =
        # 1.4e-5 and the sample std's 1e-5, so these bounds are > 10 standard errors wide.
        assert abs(kernel.mean()) < 2e-4, name
        # A truncated normal would give ~0.0176, Glorot far more or less.
        assert kernel.std() == pytest.approx(0.02, abs=3e-4), name
        # Gaussian tails: about 4.6% beyond 2 sigma (a truncated normal has none); the
        # fraction's standard error is 1.4e-4.
        assert np.mean(np.abs(kernel) > 0.04) == pytest.approx(0.0455, abs=0.005), name


def test_batchnorm_gamma_normal_1_002_and_beta_zero(generator):
    bns = of_type(generator, keras.layers.BatchNormalization)
    gamma = np.concatenate([bn.gamma.numpy() for bn in bns])
    assert gamma.size == 4928  # 13 BN layers: enc2-7 and dec8-2
    # 4928 draws: standard errors 2.8e-4 (mean) and 2e-4 (std); the bounds are 7-10 of them.
    assert gamma.mean() == pytest.approx(1.0, abs=2e-3)
    assert gamma.std() == pytest.approx(0.02, abs=2e-3)
    for bn in bns:
        assert not np.any(bn.beta.numpy()), bn.name
        assert not np.any(bn.moving_mean.numpy()), bn.name
        np.testing.assert_array_equal(bn.moving_variance.numpy(), 1.0)


def test_biases_start_at_zero(generator, discriminator):
    inst = tfpix2pix.build_discriminator(ndf=8, norm="instance")
    layers = [generator.get_layer("dec1_deconv"), discriminator.get_layer("layer1_conv"),
              discriminator.get_layer("logits_conv")] + convs(inst)
    for layer in layers:
        assert layer.use_bias
        assert not np.any(layer.bias.numpy()), layer.name


def test_two_builds_get_different_weights():
    g1 = tfpix2pix.build_generator("unet_64", ngf=8)
    g2 = tfpix2pix.build_generator("unet_64", ngf=8)
    k1 = g1.get_layer("enc3_conv").kernel.numpy()
    k2 = g2.get_layer("enc3_conv").kernel.numpy()
    assert not np.allclose(k1, k2)


# --- discriminator depth --------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_n_layers_output_size(k):
    d = tfpix2pix.build_discriminator("n_layers", n_layers=k, ndf=4)
    strides = [2] * k + [1, 1]  # layer1 + (k-1) strided + 1 stride-1 + the logit conv
    expected = pytorch_out(256, strides)
    out = d(np.zeros((1, 256, 256, 6), "float32"), training=False)
    assert tuple(out.shape) == (1, expected, expected, 1)
    assert len(convs(d)) == k + 2
    assert expected == {1: 126, 2: 62, 3: 30, 4: 14, 5: 6}[k]  # the formula, worked by hand


@pytest.mark.parametrize("k, field", [(1, 16), (2, 34), (3, 70), (4, 142), (5, 286)])
def test_n_layers_receptive_field(k, field):
    d = tfpix2pix.build_discriminator("n_layers", n_layers=k, ndf=4)
    x = tf.Variable(random_images((1, 384, 384, 6), seed=k))
    with tf.GradientTape() as tape:
        out = d(x, training=False)
        c = out.shape[1] // 2
        target = out[0, c, c, 0]
    grad = np.abs(np.asarray(tape.gradient(target, x)))[0].sum(axis=-1)
    rows, cols = np.nonzero(grad.sum(axis=1))[0], np.nonzero(grad.sum(axis=0))[0]
    assert rows.max() - rows.min() + 1 == field
    assert cols.max() - cols.min() + 1 == field


def test_basic_equals_n_layers_3():
    basic = tfpix2pix.build_discriminator("basic", ndf=8)
    three = tfpix2pix.build_discriminator("n_layers", n_layers=3, ndf=8)
    assert [w.shape for w in basic.weights] == [w.shape for w in three.weights]


# --- bad names ------------------------------------------------------------------------------

@pytest.mark.parametrize("call, what, bad, allowed", [
    (lambda: tfpix2pix.build_generator("unet_1024"), "netG", "unet_1024", tuple(GENERATORS)),
    (lambda: tfpix2pix.build_generator(norm="group"), "norm", "group", NORMS),
    (lambda: tfpix2pix.build_discriminator("patch"), "netD", "patch", DISCRIMINATORS),
    (lambda: tfpix2pix.build_discriminator(norm="layer"), "norm", "layer", NORMS),
])
def test_unknown_names_raise_value_error_listing_choices(call, what, bad, allowed):
    with pytest.raises(ValueError) as info:
        call()
    msg = str(info.value)
    assert what in msg
    assert repr(bad) in msg or bad in msg
    for name in allowed:
        assert name in msg


def test_allowed_names_are_the_documented_ones():
    assert set(GENERATORS) == {"unet_64", "unet_128", "unet_256", "unet_512",
                               "encoder_decoder_256", "resnet_6blocks", "resnet_9blocks"}
    assert set(DISCRIMINATORS) == {"basic", "n_layers", "pixel", "multiscale"}
    assert set(NORMS) == {"batch", "sync_batch", "instance", "none"}


@pytest.mark.parametrize("n", [1, 2, 4, 5])
def test_basic_rejects_other_depths(n):
    with pytest.raises(ValueError, match="n_layers"):
        tfpix2pix.build_discriminator("basic", n_layers=n)


@pytest.mark.parametrize("n", [0, 9, -1])
def test_n_layers_out_of_range(n):
    with pytest.raises(ValueError, match=f"n_layers={n}"):
        tfpix2pix.build_discriminator("n_layers", n_layers=n)


def test_num_downs_below_two_rejected():
    with pytest.raises(ValueError, match="num_downs"):
        tfpix2pix.build_generator("unet_64", ngf=8, num_downs=1)


# --- inputs, tiny models, options -----------------------------------------------------------

def test_named_inputs(generator, discriminator):
    assert isinstance(generator.get_layer("image"), keras.layers.InputLayer)
    assert generator.inputs[0].name == "image"
    assert isinstance(discriminator.get_layer("pair"), keras.layers.InputLayer)
    assert discriminator.inputs[0].name == "pair"
    assert tuple(generator.inputs[0].shape) == (None, None, None, 3)
    assert tuple(discriminator.inputs[0].shape) == (None, None, None, 6)


def test_tiny_unet_64_on_64_images_and_non_square():
    g = tfpix2pix.build_generator("unet_64", ngf=8)
    assert "enc6_conv" in {layer.name for layer in g.layers}
    assert "enc7_conv" not in {layer.name for layer in g.layers}
    y = g(random_images((2, 64, 64, 3)), training=True)
    assert tuple(y.shape) == (2, 64, 64, 3)
    # Fully convolutional: any multiple of 2**depth works, including non-square.
    y = g(random_images((1, 64, 128, 3)), training=False)
    assert tuple(y.shape) == (1, 64, 128, 3)


def test_num_downs_override():
    g = tfpix2pix.build_generator("unet_256", ngf=8, num_downs=5)
    names = {layer.name for layer in g.layers}
    assert "enc5_conv" in names and "enc6_conv" not in names
    assert "enc5_norm" not in names and "enc4_norm" in names  # the new innermost has no norm
    assert len(of_type(g, keras.layers.Dropout)) == 3
    y = g(random_images((1, 32, 32, 3)), training=False)
    assert tuple(y.shape) == (1, 32, 32, 3)
    inner = keras.Model(g.input, g.get_layer("enc5_conv").output)
    assert tuple(inner(random_images((1, 32, 32, 3))).shape[1:3]) == (1, 1)


def test_channel_options():
    g = tfpix2pix.build_generator("unet_64", in_channels=1, out_channels=2, ngf=8)
    assert tuple(g(random_images((1, 64, 64, 1))).shape) == (1, 64, 64, 2)
    d = tfpix2pix.build_discriminator(in_channels=3, ndf=8)
    assert tuple(d(random_images((1, 64, 64, 3))).shape) == (1, 6, 6, 1)


def test_norm_none_has_no_norm_layers_and_biases_everywhere():
    g = tfpix2pix.build_generator("unet_64", ngf=8, norm="none")
    d = tfpix2pix.build_discriminator(ndf=8, norm="none")
    for model in (g, d):
        assert not of_type(model, NORM_TYPES)
        assert all(layer.use_bias for layer in convs(model))
    assert tuple(g(random_images((1, 64, 64, 3))).shape) == (1, 64, 64, 3)


def test_mixed_precision_keeps_outputs_float32():
    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        g = tfpix2pix.build_generator("unet_64", ngf=8)
        d = tfpix2pix.build_discriminator(ndf=8)
    finally:
        keras.config.set_dtype_policy(old)
    assert g.get_layer("enc2_conv").compute_dtype == "float16"
    assert g(random_images((1, 64, 64, 3))).dtype == tf.float32
    assert d(random_images((1, 64, 64, 6))).dtype == tf.float32


def test_tiny_generator_round_trips_through_keras_file(tmp_path):
    g = tfpix2pix.build_generator("unet_64", ngf=8)
    d = tfpix2pix.build_discriminator(ndf=8)
    for model, shape in ((g, (1, 64, 64, 3)), (d, (1, 64, 64, 6))):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        x = random_images(shape, seed=3)
        # The same weights through the same graph: bit-equal on a CPU; 1e-6 allows another
        # kernel choice on a GPU. A wrong or missing weight changes outputs by ~1e-2 or more.
        np.testing.assert_allclose(np.asarray(loaded(x, training=False)),
                                   np.asarray(model(x, training=False)), atol=1e-6)
        leaky = [layer for layer in loaded.layers if isinstance(layer, keras.layers.LeakyReLU)]
        assert leaky and all(layer.negative_slope == pytest.approx(0.2) for layer in leaky)
