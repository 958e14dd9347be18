"""The one typed configuration tree.

Every option lives here, once, as a dataclass field with its default and help
text. The command line (``cli.py``), experiment files (``experiments/*.yaml``)
and the ``config.yaml`` each run writes are all views of this tree.

Precedence, lowest first: field defaults, the built-in demo preset (only when
no dataset is given), the ``--config`` file, command-line flags.
"""

import dataclasses
import os
from dataclasses import dataclass, field
from typing import get_type_hints

import yaml

from .data.folder import BUILTIN_PREFIX
from .errors import UserError
from .files import write_atomic
from .models.registry import DISCRIMINATORS, GENERATORS, NORMS, TEST_MODES, stride


def opt(default, help, flag=None, choices=None, aliases=(), positional=False, const=None):
    """A config field with the metadata the CLI is generated from.

    ``choices`` are checked by ``check_choices``; an empty value ("") means "not given"
    and is not checked. A ``tuple`` field takes one or more values on the command line.
    ``const`` is the value of the flag given without one (``--jit`` means ``--jit on``).
    """
    return field(default=default, metadata={"help": help, "flag": flag, "choices": choices,
                                            "aliases": tuple(aliases), "positional": positional,
                                            "const": const})


STRATEGIES = ("auto", "default", "mirrored", "multiworker")
PRECISIONS = ("fp32", "mixed_bf16", "mixed_fp16", "auto")


@dataclass
class DataConfig:
    path: str = opt("", "dataset folder with train/ (and optionally val/) holding [A | B] "
                    "side-by-side JPEG or PNG pairs, or builtin:shapes", flag="--data")
    direction: str = opt("AtoB", "AtoB translates the left half into the right half; BtoA "
                         "the reverse (facades labels->photo is BtoA)", choices=("AtoB", "BtoA"))
    load_size: int = opt(286, "resize A and B to this square size before cropping")
    crop_size: int = opt(256, "random crop size used for training (the model's input size)")
    no_flip: bool = opt(False, "disable the random left-right mirror")
    cache: str = opt("memory", "where decoded, resized pairs are kept after their first decode: "
                     "memory; disk (files in <run folder>/cache, for datasets larger than RAM; "
                     "reused when the run resumes); none (decode every epoch)",
                     choices=("memory", "disk", "none"))


@dataclass
class ModelConfig:
    netG: str = opt("unet_256", "generator architecture", flag="--netG", choices=tuple(GENERATORS))
    netD: str = opt("basic", "discriminator: basic (70x70 PatchGAN) or n_layers",
                    flag="--netD", choices=DISCRIMINATORS)
    ngf: int = opt(64, "generator filters in the first conv layer")
    ndf: int = opt(64, "discriminator filters in the first conv layer")
    n_layers_D: int = opt(3, "discriminator depth when --netD n_layers", flag="--n-layers-D")
    norm: str = opt("batch", "normalization in G and D", choices=NORMS)
    no_dropout: bool = opt(False, "disable the generator's dropout")
    num_downs: int = opt(0, "U-Net depth; 0 means the depth implied by --netG")


@dataclass
class TrainConfig:
    n_epochs: int = opt(100, "epochs at the initial learning rate", flag="--epochs",
                        aliases=("--n-epochs",))
    n_epochs_decay: int = opt(100, "epochs of linear decay of the learning rate to zero")
    batch_size: int = opt(1, "global batch size (split across replicas)")
    lr: float = opt(2e-4, "Adam learning rate for G and D")
    beta1: float = opt(0.5, "Adam beta_1")
    beta2: float = opt(0.999, "Adam beta_2")
    lambda_l1: float = opt(100.0, "weight of the L1 term in the generator loss", flag="--lambda-L1",
                           aliases=("--lambda-l1",))
    seed: int = opt(0, "seed for weights, data order, augmentation and dropout")
    strategy: str = opt("auto", "auto: multiworker when TF_CONFIG names several tasks, else "
                        "mirrored over the GPUs if there are several, else default (one device); "
                        "mirrored: MirroredStrategy over all local GPUs (or logical CPUs); "
                        "multiworker: MultiWorkerMirroredStrategy over the cluster in TF_CONFIG",
                        choices=STRATEGIES)
    precision: str = opt("fp32", "fp32, or Keras mixed precision with float32 weights, outputs "
                         "and losses: mixed_bf16 (fast on GPUs and on CPUs with AVX512_BF16 or "
                         "AMX, slow elsewhere), mixed_fp16 (GPUs; dynamic loss scaling); auto "
                         "picks mixed_bf16 where the hardware has bfloat16, else fp32",
                         choices=PRECISIONS)
    jit: str = opt("auto", "XLA-compile the step: the whole step on one device, forward and "
                   "gradients under a multi-replica strategy; auto = on for GPUs, off for CPUs "
                   "(slower there). --jit alone means on", choices=("auto", "on", "off"),
                   const="on")
    steps_per_call: int = opt(1, "training steps run inside one tf.function call (for GPUs, "
                              "where a small step is launch-bound); logging, grids, checkpoints "
                              "and Ctrl-C happen between calls, so an interval that is not a "
                              "multiple of it takes effect at the end of the call that crosses "
                              "it")
    max_steps: int = opt(0, "stop at this global step (0: train to the end); the run can be "
                         "resumed later")


@dataclass
class LogConfig:
    run_dir: str = opt("", "run folder for checkpoints, TensorBoard logs, image grids and "
                       "config.yaml (default: runs/<name>); rerunning on it resumes")
    log_every: int = opt(100, "write TensorBoard scalars every N steps")
    image_every: int = opt(1000, "write the input|output|target image grid every N steps")
    checkpoint_every: int = opt(2000, "save a checkpoint every N steps (and always at the end)")
    keep_checkpoints: int = opt(3, "how many recent checkpoints to keep")
    num_images: int = opt(4, "rows in the image grid (fixed val pairs, or train pairs)")


@dataclass
class InferConfig:
    test_mode: str = opt("eval", "how G normalises at inference (image grids, predict, export): "
                         "eval = BatchNorm moving statistics, no dropout; per_image = each "
                         "image's own statistics with BN's scale and offset, no dropout; paper "
                         "= per_image with dropout on, as the paper tested", choices=TEST_MODES)


@dataclass
class Config:
    name: str = opt("pix2pix", "experiment name; the default run folder is runs/<name>")
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)
    infer: InferConfig = field(default_factory=InferConfig)

    @property
    def run_dir(self):
        return self.log.run_dir or os.path.join("runs", self.name)


@dataclass
class PredictConfig:
    """Options of ``python -m tfpix2pix.predict``."""
    model: str = opt("", "a run folder (runs/<name>: its latest checkpoint and config) or an "
                     "export (exported/<name>, or one of its version folders)")
    input: tuple = opt((), "image files, folders or glob patterns to translate")
    output: str = opt("results", "folder for the translated PNGs (and index.html)")
    aligned: bool = opt(False, "inputs are [A | B] pairs: translate the run's input side and "
                        "show the other side as the target")
    tile: int = opt(0, "translate in overlapping tiles of this size (a multiple of the "
                    "generator's stride) to bound memory on very large images; 0 = whole images")
    html: bool = opt(False, "also write index.html: one row per image, input | output | target")
    test_mode: str = opt("", "override the run's test mode (run folders only; an export has "
                         "its own baked in)", choices=TEST_MODES)


@dataclass
class ExportConfig:
    """Options of ``python -m tfpix2pix.export``."""
    run_dir: str = opt("", "the run folder to export (its latest checkpoint)", positional=True)
    output: str = opt("exported", "export root; the model goes to <output>/<name>/<version>/")
    name: str = opt("", "model name in the export root (default: the run's name)")
    version: int = opt(0, "version folder number (default: the next free one)")
    test_mode: str = opt("", "test mode to bake in (default: the run's)", choices=TEST_MODES)
    tflite: str = opt("", "also convert to TFLite, comma-separated kinds: fp32, fp16, int8 "
                      "(dynamic range), int8_full (full integer, calibrated on the run's "
                      "training images)")
    tflite_size: str = opt("crop", "TFLite input size: 'crop' (the run's crop size), N (N x N, "
                           "a multiple of the generator's stride) or 'any' (any height and "
                           "width; LiteRT runs such models far slower, int8 most of all)")
    onnx: bool = opt(False, "also convert to ONNX (needs pip install 'tfpix2pix[onnx]')")


# A few minutes on 2 CPU cores: the built-in labels->rendering set at 64 px.
DEMO_PRESET = {
    "name": "demo",
    "data": {"path": BUILTIN_PREFIX + "shapes", "load_size": 72, "crop_size": 64},
    "model": {"netG": "unet_64", "ngf": 32, "ndf": 32},
    "train": {"n_epochs": 12, "n_epochs_decay": 6, "batch_size": 4},
    "log": {"log_every": 20, "image_every": 200, "checkpoint_every": 500},
}



def leaves(cfg_cls=Config, prefix=""):
    """Yield (dotted key, dataclass field, type) for every option in the tree."""
    hints = get_type_hints(cfg_cls)
    for f in dataclasses.fields(cfg_cls):
        if dataclasses.is_dataclass(hints[f.name]):
            yield from leaves(hints[f.name], prefix + f.name + ".")
        else:
            yield prefix + f.name, f, hints[f.name]


def to_dict(cfg):
    return dataclasses.asdict(cfg)


# Values older run folders saved: config.yaml of runs made before --cache took a mode.
LEGACY_VALUES = {"data.cache": {True: "memory", False: "none"}}


def _coerce(key, value, typ, source):
    if key in LEGACY_VALUES and isinstance(value, bool):
        return LEGACY_VALUES[key][value]
    if typ is tuple and isinstance(value, (list, tuple)) and all(isinstance(v, str)
                                                                 for v in value):
        return tuple(value)
    if typ is bool and isinstance(value, bool):
        return value
    if typ is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if typ in (int, str) and isinstance(value, typ) and not isinstance(value, bool):
        return value
    raise UserError(f"{source}: {key} must be {typ.__name__}, got {value!r}")


def apply_overrides(cfg, overrides, source):
    """Return a copy of ``cfg`` with nested ``overrides`` applied (unknown keys are errors)."""
    known = {key: (f, typ) for key, f, typ in leaves(type(cfg))}
    sections = {key.split(".")[0] for key in known if "." in key}
    flat = {}

    def flatten(d, prefix=""):
        if not isinstance(d, dict):
            raise UserError(f"{source}: expected a mapping at {prefix.rstrip('.') or 'top level'}")
        for k, v in d.items():
            key = prefix + str(k)
            if isinstance(v, dict) and key in sections:
                flatten(v, key + ".")
            elif key not in known:
                raise UserError(f"{source}: unknown key {key!r}; known keys are "
                                f"{', '.join(sorted(known))}")
            else:
                flat[key] = v

    flatten(overrides or {})
    new = dataclasses.replace(cfg, **{s: dataclasses.replace(getattr(cfg, s)) for s in sections})
    for key, value in flat.items():
        _f, typ = known[key]
        *parents, leaf = key.split(".")
        target = getattr(new, parents[0]) if parents else new
        setattr(target, leaf, _coerce(key, value, typ, source))
    return new


def load_yaml(path):
    if not os.path.isfile(path):
        raise UserError(f"--config {path}: file not found; pass an experiment file such as "
                        "experiments/facades.yaml")
    try:
        with open(path) as fh:
            return yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"--config {path}: not valid YAML{where}; fix the file") from None


def save_yaml(cfg, path):
    """Write the resolved config atomically (a reader never sees half a file)."""
    write_atomic(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


def validate(cfg):
    """Check values that types alone don't; raise UserError naming the flag."""
    check_choices(cfg)
    positive = ["data.load_size", "data.crop_size", "model.ngf", "model.ndf", "train.batch_size",
                "train.steps_per_call",
                "log.log_every", "log.image_every", "log.checkpoint_every",
                "log.keep_checkpoints", "log.num_images"]
    non_negative = ["train.n_epochs", "train.n_epochs_decay", "train.max_steps", "model.num_downs"]
    for key in positive + non_negative + ["train.lr", "train.lambda_l1"]:
        value = get(cfg, key)
        bad = value <= 0 if key in positive else value < 0
        if bad:
            need = "positive" if key in positive else "zero or more"
            raise UserError(f"{flag_for(key)}: must be {need}, got {value}")
    if cfg.train.n_epochs + cfg.train.n_epochs_decay == 0:
        raise UserError("--epochs and --n-epochs-decay are both 0: nothing to train")
    if cfg.data.crop_size > cfg.data.load_size:
        raise UserError(f"--crop-size {cfg.data.crop_size} is larger than --load-size "
                        f"{cfg.data.load_size}; make the crop no larger than the resize")
    multiple = stride(cfg.model.netG, cfg.model.num_downs)
    if cfg.data.crop_size % multiple:
        raise UserError(f"--crop-size {cfg.data.crop_size} is not a multiple of {multiple}, "
                        f"which --netG {cfg.model.netG} needs; pick a multiple or "
                        "set --num-downs")
    if cfg.model.netD == "basic" and cfg.model.n_layers_D != 3:
        raise UserError("--n-layers-D only applies to --netD n_layers (basic is always 3 layers)")
    return cfg


def check_choices(cfg):
    """Raise UserError naming the flag of the first value outside its field's choices."""
    for key, f, _typ in leaves(type(cfg)):
        choices = f.metadata.get("choices")
        value = get(cfg, key)
        if choices and value != "" and value not in choices:
            raise UserError(f"{flag_name(key, f)}: unknown {key.split('.')[-1]} {value!r}; "
                            f"choose one of {', '.join(choices)}")
    return cfg


def get(cfg, key):
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def flag_name(key, f):
    return f.metadata.get("flag") or "--" + key.split(".")[-1].replace("_", "-")


def flag_for(key):
    for k, f, _typ in leaves():
        if k == key:
            return flag_name(k, f)
    raise KeyError(key)
