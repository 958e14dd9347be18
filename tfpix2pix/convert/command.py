"""A run folder made from a PyTorch reference generator's state dict.

The folder is what training would leave behind for that generator: ``config.yaml``
describing it and a checkpoint (``checkpoints/ckpt-0``, step 0) holding ``generator``
and ``step``, which ``run_folder.restore_generator`` reads; so predict, export and
``tfpix2pix.load`` take it as it is. ``converted_from.json`` beside them records the
source file, its SHA-256 and its keys. The folder appears whole or not at all: it is
written under a temporary name and renamed.
"""

import json
import os
import shutil
import sys

from .. import run_folder
from ..version import __version__
from .. import config as C
from ..errors import UserError, quiet_tensorflow_import
from ..files import sha256, write_atomic
from ..models import stride
from . import layout as L
from .pytorch import assign, check, read_state_dict

CONVERTED_FROM = "converted_from.json"
RESNET_CROP = 256  # the reference trains its ResNet generators on 256 x 256 crops


def run_config(spec, name, direction, run_dir):
    """The ``config.Config`` of a converted generator: its model, and the reference's
    training sizes (crop = the U-Net's size or 256, resized from 286/256 of it)."""
    crop = stride(spec.netG) if L.kind(spec.netG) == "unet" else RESNET_CROP
    overrides = {
        "name": name,
        "data": {"direction": direction, "input_nc": spec.input_nc,
                 "output_nc": spec.output_nc, "crop_size": crop,
                 "load_size": round(crop * 286 / 256)},
        "model": {"netG": spec.netG, "ngf": spec.ngf, "norm": spec.norm,
                  "no_dropout": not spec.use_dropout},
        "log": {"run_dir": run_dir},
    }
    return C.validate(C.apply_overrides(C.Config(), overrides, "converted model"))


def _check_target(run_dir):
    if os.path.exists(run_dir) and not (os.path.isdir(run_dir) and not os.listdir(run_dir)):
        raise UserError(f"--out {run_dir}: exists and is not an empty folder; choose a new "
                        "--out (a conversion never writes into an existing run)")


def convert(path, netG, norm, use_dropout=True, direction="AtoB", name="", run_dir="",
            out=None):
    """Convert the state dict in ``path`` into a run folder; return the folder.

    ``name`` defaults to the file's stem and ``run_dir`` to ``runs/<name>``. ngf and
    the image channels are read from the file's first and last layers.
    """
    out = out or sys.stdout
    arrays, prefix = read_state_dict(path)
    shapes = {key: value.shape for key, value in arrays.items()}
    # ngf and channels as the file shows them; without its first conv, the reference's
    # defaults (64, 3, 3), and check() names the missing key.
    spec = L.Spec(netG, norm, *(L.sizes(shapes, netG) or ()), use_dropout=use_dropout)
    check(path, arrays, spec)
    name = name or os.path.splitext(os.path.basename(path))[0]
    run_dir = run_dir or os.path.join("runs", name)
    cfg = run_config(spec, name, direction, run_dir)
    _check_target(run_dir)

    tf = quiet_tensorflow_import()
    from ..models import build_generator, generator_kwargs

    generator = build_generator(**generator_kwargs(cfg.model, cfg.data))
    unused = assign(generator, arrays, spec)
    record = {
        "format": "state dict of the PyTorch reference's generator "
                  "(junyanz/pytorch-CycleGAN-and-pix2pix)",
        "source": os.path.abspath(path), "sha256": sha256(path), "keys": len(arrays),
        "keys_not_used": unused, "prefix_stripped": prefix,
        "netG": spec.netG, "norm": spec.norm, "ngf": spec.ngf, "input_nc": spec.input_nc,
        "output_nc": spec.output_nc, "use_dropout": spec.use_dropout,
        "tfpix2pix_version": __version__,
    }

    parent = os.path.dirname(os.path.abspath(run_dir))
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(parent, f".{os.path.basename(run_dir)}.converting-{os.getpid()}")
    try:
        C.save_yaml(cfg, run_folder.config_path(staging))
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        checkpoint = tf.train.Checkpoint(generator=generator, step=step)
        run_folder.checkpoint_manager(checkpoint, staging, keep=1, step=step).save(
            checkpoint_number=0)
        write_atomic(os.path.join(staging, CONVERTED_FROM), json.dumps(record, indent=2) + "\n")
        os.replace(staging, run_dir)  # also over an empty folder
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"Converted {path} ({len(arrays)} tensors; {spec.flags()}, ngf {spec.ngf}, "
          f"{spec.input_nc} -> {spec.output_nc} channels) into {run_dir}", file=out)
    print(f"Translate with: python -m tfpix2pix.predict --model {run_dir} --input IMAGES",
          file=out)
    return run_dir
