"""pix2pixHD's multi-scale discriminator, and the features of every discriminator.

``multiscale`` (Wang et al. 2018, pix2pixHD's MultiscaleDiscriminator): ``num_D``
PatchGANs of the same depth, each with its own weights. Scale i (1-based) sees the
pair downsampled i - 1 times by PyTorch's ``AvgPool2d(3, stride=2, padding=1,
count_include_pad=False)``. The output is the list of logit maps, finest first, the
order of pix2pixHD's forward.

Each scale is this package's n_layers PatchGAN (``patchgan.py``: padding 1, biases
as the pix2pix reference), so scale 1 alone is ``n_layers``, and ``basic`` for 3
layers. pix2pixHD's own NLayerDiscriminator differs in two ways: its 4x4 convs pad
by 2 (a 35x35 map instead of 30x30 at 256x256 with 3 layers) and every conv has a
bias. Its scale names also run the other way (its ``scale{num_D - 1}`` is the
finest); here ``scale1_*`` is the full resolution, ``scale{num_D}_*`` the coarsest.

``discriminator_features`` exposes, for any discriminator here, the logit maps and
the output of every LeakyReLU block: what pix2pixHD's feature-matching loss
compares (every block's output except the final logits).
"""

import keras

from .patchgan import pair_input, patchgan_logits


@keras.saving.register_keras_serializable(package="tfpix2pix")
class AvgPoolExcludePad(keras.layers.Layer):
    """PyTorch's ``AvgPool2d(3, stride=2, padding=1, count_include_pad=False)`` on NHWC.

    Output pixel i averages input rows 2i - 1 .. 2i + 1 (TF's "same" pooling would
    take 2i .. 2i + 2), and only the rows and columns inside the map: a border window
    is the mean of its 4 or 6 pixels, not of 9 with zeros. Computed as the "valid"
    3x3 mean of the zero-padded map over the same mean of a zero-padded map of ones
    (both divide by 9; the ratio is sum / count). H -> floor((H - 1) / 2) + 1.
    """

    PAD = ((0, 0), (1, 1), (1, 1), (0, 0))

    def call(self, inputs):
        def mean3x3(x):
            return keras.ops.average_pool(keras.ops.pad(x, self.PAD), 3, strides=2,
                                          padding="valid")

        return mean3x3(inputs) / mean3x3(keras.ops.ones_like(inputs[..., :1]))


def multiscale_discriminator(in_channels=6, ndf=64, n_layers=3, norm="batch", num_D=2,
                             name="discriminator"):
    """Build the multi-scale PatchGAN; see ``registry.build_discriminator`` for the arguments.

    One flat functional model: scale i's layers are named ``scale{i}_layer1_conv``, ...,
    ``scale{i}_patch_logits``, its input ``scale{i}_downsample`` (i > 1). Output: a list
    of ``num_D`` float32 logit maps, finest first.
    """
    if num_D < 1:
        raise ValueError(f"`num_D` must be at least 1. Received: num_D={num_D}")
    pair = pair_input(in_channels)
    x, logits = pair, []
    for scale in range(1, num_D + 1):
        if scale > 1:
            x = AvgPoolExcludePad(name=f"scale{scale}_downsample")(x)
        logits.append(patchgan_logits(x, ndf, n_layers, norm, prefix=f"scale{scale}_"))
    return keras.Model(pair, logits, name=name)


def discriminator_features(discriminator):
    """A model from ``discriminator``'s input to its logits and intermediate features.

    Args:
        discriminator: a model from ``build_discriminator`` (any ``netD``).

    Returns:
        A functional ``keras.Model`` built on ``discriminator``'s own layers (the same
        variables, so training through it trains the discriminator), taking the same
        ``pair`` input and returning ``{"logits": [map per scale], "features":
        [[outputs of scale 1's LeakyReLU blocks, in order], [scale 2's], ...]}``, finest
        scale first. For a single-scale discriminator both lists have length 1. The
        logits are not among the features.
    """
    logits = list(discriminator.outputs)
    # Single-scale models have unprefixed names; the multi-scale one prefixes scale{i}_.
    prefixes = [""] if len(logits) == 1 else [f"scale{i}_" for i in range(1, len(logits) + 1)]
    features = [[layer.output for layer in discriminator.layers
                 if isinstance(layer, keras.layers.LeakyReLU) and layer.name.startswith(prefix)]
                for prefix in prefixes]
    if not all(features):
        raise ValueError(f"`discriminator` {discriminator.name!r} has a scale without "
                         "LeakyReLU blocks; pass a model from build_discriminator.")
    return keras.Model(discriminator.input, {"logits": logits, "features": features},
                       name=f"{discriminator.name}_features")
