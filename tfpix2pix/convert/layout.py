"""The state-dict layout of the PyTorch reference's generators, and where each tensor goes.

The reference (junyanz/pytorch-CycleGAN-and-pix2pix, ``models/networks.py``) names a
tensor by its module's path through ``nn.Sequential`` containers. For the U-Net, each
``UnetSkipConnectionBlock`` holds one Sequential, ``model``:

- outermost (level 1): ``[down conv, sub-block, ReLU, up deconv, Tanh]``;
- middle (levels 2..n-1): ``[LeakyReLU, down conv, down norm, sub-block, ReLU, up
  deconv, up norm(, Dropout)]``, so the next level sits at index 3;
- innermost (level n): ``[LeakyReLU, down conv, ReLU, up deconv, up norm]``.

The generator's own ``model`` is the outermost block, so level 2's conv is
``model.model.1.model.1`` and level 3's ``model.model.1.model.3.model.1``. The
``ResnetGenerator`` is one flat Sequential (``model.<i>``) whose residual blocks hold
``conv_block.<j>``; a Dropout inside a block shifts its second conv from index 5 to 6.

Biases and norms follow the reference's ``use_bias``: with BatchNorm no conv has a bias
except the last one; InstanceNorm has no affine parameters and every conv has a bias.

This module imports neither torch nor TensorFlow: the layout is data, so a file can be
checked against it (and the matching flags found) before either is loaded.
"""

from dataclasses import dataclass

from ..models.registry import GENERATORS

NORMS = ("batch", "instance")  # the reference's get_norm_layer names that map onto ours
RESNET_DOWNSAMPLING = 2  # fixed in the reference


@dataclass(frozen=True)
class Entry:
    """One state-dict key: its PyTorch shape and where its values go.

    ``layer`` and ``variable`` name the Keras layer and its weight (``kernel``, ``bias``,
    ``gamma``, ``beta``, ``moving_mean``, ``moving_variance``); ``layer`` is None for a
    tensor that is read and not used (BatchNorm's ``num_batches_tracked``). An
    ``optional`` key may be absent: files saved by old PyTorch versions lack some.
    """

    key: str
    shape: tuple
    layer: str | None = None
    variable: str | None = None
    optional: bool = False


@dataclass(frozen=True)
class Spec:
    """A reference generator: its architecture, norm and sizes."""

    netG: str
    norm: str
    ngf: int = 64
    input_nc: int = 3
    output_nc: int = 3
    use_dropout: bool = True  # changes the keys of a ResNet only

    def flags(self):
        dropout = "" if self.use_dropout or kind(self.netG) != "resnet" else " --no-dropout"
        return f"--netG {self.netG} --norm {self.norm}{dropout}"


def kind(netG):
    """"unet" or "resnet" for the generators the reference's classes build, else None."""
    arch = GENERATORS[netG]
    if arch.builder == "unet.unet_generator" and arch.defaults.get("skips", True):
        return "unet"
    if (arch.builder == "resnet.resnet_generator"
            and arch.defaults.get("n_downsampling") == RESNET_DOWNSAMPLING):
        return "resnet"
    return None


CONVERTIBLE = tuple(name for name in GENERATORS if kind(name))


def conv(key, out_ch, in_ch, size, layer, bias):
    """A Conv2d's (out, in, kh, kw) weight (and bias) -> Keras ``layer``."""
    entries = [Entry(f"{key}.weight", (out_ch, in_ch, size, size), layer, "kernel")]
    return entries + ([Entry(f"{key}.bias", (out_ch,), layer, "bias")] if bias else [])


def deconv(key, in_ch, out_ch, size, layer, bias):
    """A ConvTranspose2d's (in, out, kh, kw) weight (and bias) -> Keras ``layer``."""
    entries = [Entry(f"{key}.weight", (in_ch, out_ch, size, size), layer, "kernel")]
    return entries + ([Entry(f"{key}.bias", (out_ch,), layer, "bias")] if bias else [])


def norm(key, channels, layer, kind_):
    """BatchNorm2d's four vectors -> Keras BatchNormalization ``layer``; the reference's
    InstanceNorm2d holds nothing, except in files from PyTorch 0.3 and older, whose running
    statistics the reference's own loader drops (so do we)."""
    c = (channels,)
    if kind_ == "batch":
        return [Entry(f"{key}.weight", c, layer, "gamma"),
                Entry(f"{key}.bias", c, layer, "beta"),
                Entry(f"{key}.running_mean", c, layer, "moving_mean"),
                Entry(f"{key}.running_var", c, layer, "moving_variance"),
                Entry(f"{key}.num_batches_tracked", (), optional=True)]
    return [Entry(f"{key}.running_mean", c, optional=True),
            Entry(f"{key}.running_var", c, optional=True),
            Entry(f"{key}.num_batches_tracked", (), optional=True)]


def _unet(spec):
    depth = GENERATORS[spec.netG].defaults["num_downs"]
    bias = spec.norm == "instance"

    def width(level):  # the reference's ngf, 2ngf, 4ngf, then 8ngf down to the innermost
        return spec.ngf * min(2 ** (level - 1), 8)

    def block(level, prefix):
        seq = f"{prefix}.model"
        if level == 1:
            return (conv(f"{seq}.0", width(1), spec.input_nc, 4, "enc1_conv", bias)
                    + block(2, f"{seq}.1")
                    + deconv(f"{seq}.3", 2 * width(1), spec.output_nc, 4, "dec1_deconv", True))
        outer, inner = width(level - 1), width(level)
        if level == depth:
            return (conv(f"{seq}.1", inner, outer, 4, f"enc{level}_conv", bias)
                    + deconv(f"{seq}.3", inner, outer, 4, f"dec{level}_deconv", bias)
                    + norm(f"{seq}.4", outer, f"dec{level}_norm", spec.norm))
        return (conv(f"{seq}.1", inner, outer, 4, f"enc{level}_conv", bias)
                + norm(f"{seq}.2", inner, f"enc{level}_norm", spec.norm)
                + block(level + 1, f"{seq}.3")
                + deconv(f"{seq}.5", 2 * inner, outer, 4, f"dec{level}_deconv", bias)
                + norm(f"{seq}.6", outer, f"dec{level}_norm", spec.norm))

    return block(1, "model")


def _resnet(spec):
    n_blocks = GENERATORS[spec.netG].defaults["n_blocks"]
    bias, ngf, i = spec.norm == "instance", spec.ngf, 1  # model.0 is the ReflectionPad
    entries = conv(f"model.{i}", ngf, spec.input_nc, 7, "stem_conv", bias)
    entries += norm(f"model.{i + 1}", ngf, "stem_norm", spec.norm)
    i += 3  # conv, norm, ReLU
    for d in range(1, RESNET_DOWNSAMPLING + 1):
        entries += conv(f"model.{i}", ngf * 2 ** d, ngf * 2 ** (d - 1), 3, f"down{d}_conv", bias)
        entries += norm(f"model.{i + 1}", ngf * 2 ** d, f"down{d}_norm", spec.norm)
        i += 3
    width = ngf * 2 ** RESNET_DOWNSAMPLING
    second = 6 if spec.use_dropout else 5  # [pad, conv, norm, ReLU, (Dropout), pad, conv, norm]
    for b in range(1, n_blocks + 1):
        seq = f"model.{i}.conv_block"
        entries += conv(f"{seq}.1", width, width, 3, f"block{b}_1_conv", bias)
        entries += norm(f"{seq}.2", width, f"block{b}_1_norm", spec.norm)
        entries += conv(f"{seq}.{second}", width, width, 3, f"block{b}_2_conv", bias)
        entries += norm(f"{seq}.{second + 1}", width, f"block{b}_2_norm", spec.norm)
        i += 1
    for u in range(1, RESNET_DOWNSAMPLING + 1):
        wide = ngf * 2 ** (RESNET_DOWNSAMPLING - u + 1)
        entries += deconv(f"model.{i}", wide, wide // 2, 3, f"up{u}_deconv", bias)
        entries += norm(f"model.{i + 1}", wide // 2, f"up{u}_norm", spec.norm)
        i += 3
    return entries + conv(f"model.{i + 1}", spec.output_nc, ngf, 7, "head_conv", True)


def layout(spec):
    """The state-dict entries of ``spec``'s reference generator, in ``state_dict()`` order."""
    return _unet(spec) if kind(spec.netG) == "unet" else _resnet(spec)


def sizes(shapes, netG):
    """(ngf, input_nc, output_nc) as a state dict of ``netG`` shows them, or None.

    ``shapes`` maps keys to shapes. ngf and input_nc are read from the first conv's
    (ngf, in, k, k); output_nc from the output layer, the U-Net's outer deconv
    (2ngf, out, 4, 4) or the ResNet's last conv (out, ngf, 7, 7), else 3. None when
    the first conv is not there: the file is another architecture.
    """
    entries = layout(Spec(netG, NORMS[0]))  # the first and last weights are the same in all
    first, last = shapes.get(entries[0].key), shapes.get(entries[-2].key)
    if first is None or len(first) != 4:
        return None
    out = 3
    if last is not None and len(last) == 4:
        out = last[1] if kind(netG) == "unet" else last[0]
    return first[0], first[1], out


def mismatch(shapes, spec):
    """The first way the state dict (``shapes``: key -> shape) differs from ``spec``'s
    layout, as a phrase naming the key and the shapes, or None if it matches."""
    entries = layout(spec)
    for e in entries:
        got = shapes.get(e.key)
        if got is None and not e.optional:
            return f"key {e.key} is missing (expected shape {_shown(e.shape)})"
        if got is not None and tuple(got) != e.shape:
            return f"key {e.key} has shape {_shown(got)}, but {spec.flags()} expects " \
                   f"{_shown(e.shape)}"
    known = {e.key for e in entries}
    for key, shape in shapes.items():
        if key not in known:
            return f"key {key} (shape {_shown(shape)}) is not part of {spec.flags()}"
    return None


def matching(shapes):
    """The ``Spec``s of the reference generators that ``shapes`` matches exactly."""
    found = []
    for netG in CONVERTIBLE:
        guessed = sizes(shapes, netG)
        if guessed is None:
            continue
        dropouts = (True, False) if kind(netG) == "resnet" else (True,)
        for norm_ in NORMS:
            for use_dropout in dropouts:
                spec = Spec(netG, norm_, *guessed, use_dropout=use_dropout)
                if mismatch(shapes, spec) is None:
                    found.append(spec)
    return found


def _shown(shape):
    return str(tuple(shape))
