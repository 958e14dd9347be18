"""python -m tfpix2pix.convert: PyTorch reference generators -> run folders, checked on facades.

The PyTorch side is a small re-implementation of the reference's UnetGenerator and
ResnetGenerator (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py) with its
module nesting, so its state_dict() has the reference's keys and layouts. Its BatchNorm
statistics come from a few training-mode passes over facades images, so that the
eval-mode outputs compared here are neither tiny nor saturated.
"""

import io
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

try:
    import torch
    from torch import nn
except ModuleNotFoundError:
    if os.environ.get("CI"):
        raise  # CI installs the pytorch extra: there a missing torch is a failure
    pytest.skip("torch is not installed (pip install 'tfpix2pix[pytorch]')",
                allow_module_level=True)

import tfpix2pix  # noqa: E402
from tfpix2pix import run_folder  # noqa: E402
from tfpix2pix.convert import layout  # noqa: E402
from tfpix2pix.convert.__main__ import main  # noqa: E402
from tfpix2pix.convert.command import CONVERTED_FROM  # noqa: E402
from tfpix2pix.models.test_mode import inference_model  # noqa: E402

TOLERANCE = 1e-4  # max |diff| in [-1, 1]


# --- the reference's generators, by their module nesting -----------------------------------

def _norm(kind, channels):
    # The reference's get_norm_layer: BatchNorm2d(affine), or InstanceNorm2d without affine
    # parameters or running statistics.
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.InstanceNorm2d(channels)


class SkipBlock(nn.Module):
    """One U-Net level; ``model`` is [down..., sub-block, up...], the output concat(x, model(x))."""

    def __init__(self, outer, inner, norm, in_ch=None, sub=None, outermost=False,
                 innermost=False, dropout=False):
        super().__init__()
        bias = norm == "instance"
        down = nn.Conv2d(in_ch or outer, inner, 4, stride=2, padding=1, bias=bias)
        if outermost:
            parts = [down, sub, nn.ReLU(True),
                     nn.ConvTranspose2d(2 * inner, outer, 4, stride=2, padding=1), nn.Tanh()]
        elif innermost:
            parts = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True),
                     nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=bias),
                     _norm(norm, outer)]
        else:
            parts = [nn.LeakyReLU(0.2, True), down, _norm(norm, inner), sub, nn.ReLU(True),
                     nn.ConvTranspose2d(2 * inner, outer, 4, stride=2, padding=1, bias=bias),
                     _norm(norm, outer)] + ([nn.Dropout(0.5)] if dropout else [])
        self.outermost = outermost
        self.model = nn.Sequential(*parts)

    def forward(self, x):
        # As the reference: the in-place LeakyReLU rewrites x before the concat, which the
        # next ReLU makes irrelevant (ReLU(LeakyReLU(x)) = ReLU(x)).
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class UNet(nn.Module):
    def __init__(self, num_downs, ngf, norm, in_ch=3, out_ch=3, dropout=True):
        super().__init__()
        block = SkipBlock(ngf * 8, ngf * 8, norm, innermost=True)
        for _ in range(num_downs - 5):
            block = SkipBlock(ngf * 8, ngf * 8, norm, sub=block, dropout=dropout)
        for mult in (4, 2, 1):
            block = SkipBlock(ngf * mult, ngf * mult * 2, norm, sub=block)
        self.model = SkipBlock(out_ch, ngf, norm, in_ch=in_ch, sub=block, outermost=True)

    def forward(self, x):
        return self.model(x)


class ResidualBlock(nn.Module):
    def __init__(self, width, norm, dropout):
        super().__init__()
        bias = norm == "instance"
        parts = [nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3, bias=bias),
                 _norm(norm, width), nn.ReLU(True)]
        parts += [nn.Dropout(0.5)] if dropout else []
        parts += [nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3, bias=bias),
                  _norm(norm, width)]
        self.conv_block = nn.Sequential(*parts)

    def forward(self, x):
        return x + self.conv_block(x)


class ResNet(nn.Module):
    def __init__(self, n_blocks, ngf, norm, in_ch=3, out_ch=3, dropout=True):
        super().__init__()
        bias = norm == "instance"
        parts = [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, ngf, 7, bias=bias), _norm(norm, ngf),
                 nn.ReLU(True)]
        for mult in (1, 2):
            parts += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                      _norm(norm, ngf * mult * 2), nn.ReLU(True)]
        parts += [ResidualBlock(ngf * 4, norm, dropout) for _ in range(n_blocks)]
        for mult in (4, 2):
            parts += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1,
                                         output_padding=1, bias=bias),
                      _norm(norm, ngf * mult // 2), nn.ReLU(True)]
        parts += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_ch, 7), nn.Tanh()]
        self.model = nn.Sequential(*parts)

    def forward(self, x):
        return self.model(x)


def reference(netG, norm, ngf=8, dropout=True):
    depth = tfpix2pix.models.GENERATORS[netG].defaults
    if "num_downs" in depth:
        return UNet(depth["num_downs"], ngf, norm, dropout=dropout)
    return ResNet(depth["n_blocks"], ngf, norm, dropout=dropout)


# --- helpers --------------------------------------------------------------------------------

def facades_images(facades, size, count=4, split="val"):
    """``count`` facades pairs resized to ``size`` x 2 ``size``, as NHWC floats in [-1, 1]."""
    names = sorted(os.listdir(facades / split), key=lambda n: int(n.split(".")[0]))[:count]
    images = [np.asarray(Image.open(facades / split / n).convert("RGB")
                         .resize((2 * size, size), Image.BICUBIC)) for n in names]
    return np.stack(images).astype(np.float32) / 127.5 - 1.0


def trained_statistics(net, facades, size, seed=0):
    """The net with random BatchNorm scales and offsets and moving statistics of a few
    training-mode passes over facades pairs (cumulative averages), switched to eval mode."""
    torch.manual_seed(seed)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, 0.2)
            nn.init.normal_(module.bias, 0.0, 0.2)
            module.momentum = None
    images = facades_images(facades, size, count=8, split="train")
    net.train()
    with torch.no_grad():
        for batch in np.split(images, 4):  # [A | B] pairs: both halves are images
            net(torch.from_numpy(batch.transpose(0, 3, 1, 2)).contiguous())
    return net.eval()


def torch_forward(net, images):
    with torch.no_grad():
        y = net(torch.from_numpy(images.transpose(0, 3, 1, 2)).contiguous())
    return y.numpy().transpose(0, 2, 3, 1)


def convert(args):
    """Run the command in this process; return (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    status = main([str(a) for a in args], out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def refused(tmp_path, pth, *flags):
    """The one-line error of converting ``pth``; no run folder is made."""
    run = tmp_path / "refused_run"
    status, out, err = convert(["--from-pytorch", pth, *flags, "--out", run])
    assert status == 2 and out == "" and not run.exists()
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


# --- parity on facades ------------------------------------------------------------------------

CASES = [  # netG, norm, dropout, image side
    ("unet_64", "batch", True, 64),
    ("unet_64", "instance", True, 64),
    ("unet_256", "batch", True, 256),  # the official pix2pix generators' layout, at ngf 8
    ("resnet_6blocks", "batch", True, 64),
    ("resnet_9blocks", "instance", False, 64),  # as the CycleGAN generators
]


@pytest.mark.parametrize("netG,norm,dropout,size", CASES,
                         ids=[f"{c[0]}-{c[1]}{'' if c[2] else '-no_dropout'}" for c in CASES])
def test_converted_generator_matches_the_reference_on_facades(facades, tmp_path, netG, norm,
                                                              dropout, size):
    net = trained_statistics(reference(netG, norm, dropout=dropout), facades, size)
    pth = tmp_path / f"{netG}_{norm}.pth"
    torch.save(net.state_dict(), pth)
    run = tmp_path / "run"
    flags = ["--netG", netG, "--norm", norm] + ([] if dropout else ["--no-dropout"])
    status, out, err = convert(["--from-pytorch", pth, *flags, "--out", run,
                                "--direction", "BtoA"])
    assert status == 0, err
    assert f"into {run}" in out

    # A square crop of each facades pair, the side the model translates (BtoA: labels).
    images = facades_images(facades, size)[:, :, size:]
    expected = torch_forward(net, images)
    assert 0.1 < expected.std() and np.mean(np.abs(expected) > 0.99) < 0.5  # a real test
    cfg, generator, step = run_folder.restore_generator(run)
    got = generator(images, training=False).numpy()
    diff = float(np.abs(got - expected).max())
    print(f"{netG} {norm}: max |diff| {diff:.2e}")
    assert diff <= TOLERANCE

    if norm == "batch":  # the reference's test.py without --eval: BN on each image's own
        net.train()      # statistics (batch 1); its dropout, placed elsewhere, left off here
        for module in net.modules():
            if isinstance(module, nn.Dropout):
                module.eval()
        per_image = np.concatenate([torch_forward(net, image[None]) for image in images])
        translated = inference_model(generator, "per_image")(images).numpy()
        diff = float(np.abs(translated - per_image).max())
        print(f"{netG} {norm} per_image: max |diff| {diff:.2e}")
        assert diff <= TOLERANCE

    assert (cfg.model.netG, cfg.model.norm, cfg.model.ngf, cfg.model.no_dropout) == (
        netG, norm, 8, not dropout)
    assert (cfg.data.direction, cfg.data.crop_size, cfg.name, step) == (
        "BtoA", 256 if netG.startswith("resnet") else size, pth.stem, 0)
    record = json.loads((run / CONVERTED_FROM).read_text())
    assert record["keys"] == len(net.state_dict()) and len(record["sha256"]) == 64
    assert record["source"] == str(pth.resolve())


def test_load_predict_and_export_take_the_converted_run(facades, tmp_path, monkeypatch):
    """The folder is a run as training leaves it: load(), predict and export read it."""
    net = trained_statistics(reference("unet_64", "instance"), facades, 64)
    pth = tmp_path / "facades_label2photo.pth"
    torch.save(net.state_dict(), pth)
    monkeypatch.chdir(tmp_path)
    status, _out, err = convert(["--from-pytorch", pth, "--netG", "unet_64", "--norm",
                                 "instance", "--direction", "BtoA"])
    assert status == 0, err
    run = Path("runs") / "facades_label2photo"  # the default: runs/<file stem>

    images = facades_images(facades, 64)[:, :, 64:]
    translator = tfpix2pix.load(run)
    diff = np.abs(translator.translate_batch(images) - torch_forward(net, images)).max()
    assert diff <= TOLERANCE and translator.info["direction"] == "BtoA"

    from tfpix2pix import predict
    from tfpix2pix.export.__main__ import main as export_main

    pair = sorted((facades / "val").iterdir(), key=lambda p: int(p.stem))[0]
    assert predict.main(["--model", str(run), "--input", str(pair), "--aligned",
                         "--output", "results"], out=io.StringIO(), err=io.StringIO()) == 0
    width, height = Image.open(pair).size  # [photo | labels]: the labels half is translated
    assert Image.open(Path("results") / f"{pair.stem}.png").size == (width // 2, height)
    assert export_main([str(run), "--output", "exported"], out=io.StringIO()) == 0
    assert (Path("exported") / "facades_label2photo" / "1" / "saved_model.pb").is_file()


def test_a_data_parallel_prefix_is_stripped(tmp_path):
    net = reference("unet_64", "batch").eval()
    pth = tmp_path / "parallel.pth"
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, pth)
    run = tmp_path / "run"
    status, _out, err = convert(["--from-pytorch", pth, "--netG", "unet_64", "--norm", "batch",
                                 "--out", run])
    assert status == 0, err
    assert json.loads((run / CONVERTED_FROM).read_text())["prefix_stripped"] == "module."


# --- refusals: one line, naming the key --------------------------------------------------------

@pytest.fixture(scope="module")
def unet_file(tmp_path_factory):
    """(path, state dict) of a unet_64 generator with BatchNorm, ngf 8."""
    state = reference("unet_64", "batch").state_dict()
    path = tmp_path_factory.mktemp("pth") / "unet_64_batch.pth"
    torch.save(state, path)
    return path, state


def test_another_norm_names_the_missing_key_and_the_flags_that_match(tmp_path, unet_file):
    err = refused(tmp_path, unet_file[0], "--netG", "unet_64", "--norm", "instance")
    assert "key model.model.0.bias is missing (expected shape (8,))" in err
    assert "the file matches --netG unet_64 --norm batch" in err


def test_another_architecture_names_the_first_mismatched_key(tmp_path, unet_file):
    err = refused(tmp_path, unet_file[0], "--netG", "resnet_9blocks", "--norm", "batch")
    assert "key model.1.weight is missing (expected shape (64, 3, 7, 7))" in err
    assert "matches --netG unet_64 --norm batch" in err

    err = refused(tmp_path, unet_file[0], "--netG", "unet_128", "--norm", "batch")
    deeper = "model.model.1" + ".model.3" * 4 + ".model.2.weight"  # a norm in unet_128
    assert f"key {deeper} is missing (expected shape (64,))" in err

    # A U-Net whose level 5 is 4 ngf wide instead of 8 ngf: a variant of the architecture.
    state = dict(unet_file[1])
    key = "model.model.1.model.3.model.3.model.3.model.1.weight"
    state[key] = torch.zeros(32, 64, 4, 4)
    pth = tmp_path / "variant.pth"
    torch.save(state, pth)
    err = refused(tmp_path, pth, "--netG", "unet_64", "--norm", "batch")
    assert (f"key {key} has shape (32, 64, 4, 4), but --netG unet_64 --norm batch expects "
            "(64, 64, 4, 4)") in err
    assert "it matches no generator this command converts" in err


def test_a_resnet_without_dropout_has_other_keys(tmp_path):
    pth = tmp_path / "cyclegan.pth"
    torch.save(reference("resnet_6blocks", "instance", dropout=False).state_dict(), pth)
    err = refused(tmp_path, pth, "--netG", "resnet_6blocks", "--norm", "instance")
    assert "key model.10.conv_block.6.weight is missing (expected shape (32, 32, 3, 3))" in err
    assert "the file matches --netG resnet_6blocks --norm instance --no-dropout" in err


def test_an_unexpected_key_is_named(tmp_path, unet_file):
    pth = tmp_path / "extra.pth"
    torch.save({**unet_file[1], "model.model.5.weight": torch.zeros(3)}, pth)
    err = refused(tmp_path, pth, "--netG", "unet_64", "--norm", "batch")
    assert "key model.model.5.weight (shape (3,)) is not part of --netG unet_64 --norm batch" \
        in err


def test_old_instance_norm_statistics_are_read_and_not_used(tmp_path):
    """PyTorch 0.3 saved running statistics for InstanceNorm; the reference's loader drops
    them, and so does the conversion (it records them as not used)."""
    net = reference("unet_64", "instance").eval()
    state = dict(net.state_dict())
    key = "model.model.1.model.2"
    state.update({f"{key}.running_mean": torch.zeros(16), f"{key}.running_var": torch.ones(16)})
    pth = tmp_path / "old.pth"
    torch.save(state, pth)
    run = tmp_path / "run"
    status, _out, err = convert(["--from-pytorch", pth, "--netG", "unet_64", "--norm",
                                 "instance", "--out", run])
    assert status == 0, err
    record = json.loads((run / CONVERTED_FROM).read_text())
    assert record["keys_not_used"] == [f"{key}.running_mean", f"{key}.running_var"]


class Marker:
    """Unpickling this creates a file: the code a weights-only load must never run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


@pytest.mark.parametrize("writer", ["torch.save", "pickle-2", "pickle-4"])
def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path, writer):
    marker = tmp_path / "pwned"
    pth = tmp_path / "evil.pth"
    payload = {"model.model.0.weight": Marker(marker)}
    if writer == "torch.save":
        torch.save(payload, pth)
    else:  # a bare pickle, of the protocol torch's legacy format uses (2) or Python's default
        with open(pth, "wb") as fh:
            pickle.dump(payload, fh, protocol=int(writer[-1]))
    err = refused(tmp_path, pth, "--netG", "unet_256", "--norm", "batch")
    assert not marker.exists()
    assert "refused without loading it: it is not a plain state dict" in err
    if writer != "pickle-4":  # protocol 4 is refused at its first frame, before the call
        assert "(io.open)" in err  # the function it would have called


def test_a_pickled_module_and_a_wrapped_state_dict_are_refused(tmp_path, unet_file):
    pth = tmp_path / "module.pth"
    torch.save(reference("unet_64", "batch"), pth)  # the whole nn.Module, not its state
    err = refused(tmp_path, pth, "--netG", "unet_64", "--norm", "batch")
    assert "not a plain state dict" in err and "torch.save(net.state_dict(), FILE)" in err

    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": unet_file[1], "epoch": 3}, wrapped)
    err = refused(tmp_path, wrapped, "--netG", "unet_64", "--norm", "batch")
    assert "entry 'state_dict' is a mapping, not a tensor" in err


def test_files_that_are_not_pytorch_files(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("not weights\n")
    assert ": not a PyTorch file (" in refused(tmp_path, text, "--netG", "unet_256", "--norm",
                                               "batch")
    assert "file not found" in refused(tmp_path, tmp_path / "missing.pth", "--netG",
                                       "unet_256", "--norm", "batch")


def test_an_existing_run_is_never_written_into(tmp_path, unet_file):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("name: other\n")
    status, _out, err = convert(["--from-pytorch", unet_file[0], "--netG", "unet_64", "--norm",
                                 "batch", "--out", run])
    assert status == 2 and "exists and is not an empty folder" in err
    assert os.listdir(run) == ["config.yaml"]


def test_flags_are_checked_by_the_parser(capsys):
    for argv in (["--netG", "unet_256", "--norm", "batch"],  # no file
                 ["--from-pytorch", "x.pth", "--netG", "encoder_decoder_256", "--norm", "batch"],
                 ["--from-pytorch", "x.pth", "--netG", "unet_256", "--norm", "none"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        assert capsys.readouterr().err.count("\n") == 1


def test_without_torch_the_command_says_how_to_install_it(tmp_path, unet_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    err = refused(tmp_path, unet_file[0], "--netG", "unet_64", "--norm", "batch")
    assert "pip install 'tfpix2pix[pytorch]'" in err


def test_the_layout_has_the_reference_parameter_counts():
    """54,413,955 for unet_256 with BatchNorm (FIELD_NOTES) and 11,378,179 for the CycleGAN
    generator (resnet_9blocks, InstanceNorm), at ngf 64."""
    def params(spec):
        return sum(int(np.prod(e.shape)) for e in layout.layout(spec)
                   if e.variable in ("kernel", "bias", "gamma", "beta"))

    assert params(layout.Spec("unet_256", "batch")) == 54_413_955
    assert params(layout.Spec("resnet_9blocks", "instance", use_dropout=False)) == 11_378_179
    for netG in layout.CONVERTIBLE:  # every key of the torch model, in state_dict() order
        for norm in layout.NORMS:
            net = reference(netG, norm, ngf=8)
            expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
            entries = [e for e in layout.layout(layout.Spec(netG, norm, ngf=8))
                       if e.key in expected or not e.optional]
            assert [(e.key, e.shape) for e in entries] == list(expected.items())
