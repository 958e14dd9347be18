"""The config tree: every option once, as a dataclass field with its default and help.

An option that takes a name gets its choices from that name's registry
(``tfpix2pix.names``, ``data.layouts``, ``models.registry``), and its help lists
the registry's names with their summaries.
"""

import dataclasses
import os
from dataclasses import dataclass, field
from typing import get_type_hints

from ..data.folder import BUILTIN_PREFIX
from ..data.layouts import (BAD_FILE_POLICIES, DATASET_MODES, DIRECTIONS, PREPROCESS_MODES,
                             PairFormat)
from ..models.registry import DISCRIMINATORS, GENERATORS, NORMS, OPTIONS, TEST_MODES
from ..names import (CACHE_MODES, GAN_MODES, JIT_MODES, LR_POLICIES, NAN_POLICIES, PRECISIONS,
                     STRATEGIES, TFLITE_KINDS)

_PAIR = PairFormat()  # the data defaults, stated once where pairs are read


def opt(default, help, flag=None, choices=None, aliases=(), positional=False, const=None,
        group=None, separator=None):
    """A config field with the metadata the CLI is generated from.

    ``choices`` (a registry of names) are checked by ``check_choices``; an empty value
    ("") means "not given" and is not checked; with a ``separator`` the value is a list
    of names (``--tflite fp32,int8``). A ``tuple`` field takes one or more values on the
    command line. ``const`` is the value of the flag given without one (``--jit`` means
    ``--jit on``). ``group`` is the ``--help`` topic (default: the field's section).
    """
    return field(default=default, metadata={"help": help, "flag": flag, "choices": choices,
                                            "aliases": tuple(aliases), "positional": positional,
                                            "const": const, "group": group,
                                            "separator": separator})


def _named(what, registry, after=""):
    """Help text that lists a registry's names with their summaries."""
    return f"{what}: {registry.describe()}{after}"


# --help topics (the sections of the tree are data, model, train, log, infer).
DATASET, PREPROCESS = "dataset", "preprocessing"
GENERATOR, DISCRIMINATOR = "generator", "discriminator"
OBJECTIVE = "objective: GAN mode, loss weights, the paper's ablations"
SCHEDULE = "optimizer, learning-rate schedule and run length"
SPEED = "speed, precision and distribution"
SECTION_TOPICS = {"log": "logging and checkpoints", "infer": "inference"}
TOPICS = (DATASET, PREPROCESS, GENERATOR, DISCRIMINATOR, OBJECTIVE, SCHEDULE, SPEED,
          *SECTION_TOPICS.values())  # their order in --help


@dataclass
class DataConfig:
    path: str = opt("", "dataset folder with train/ (and optionally val/): [A | B] side-by-side "
                    "images, or A/<split>/ and B/<split>/ folders of partners with the same "
                    "names, or a to-tfrecord folder; or builtin:shapes", flag="--data",
                    group=DATASET)
    dataset_mode: str = opt("auto", _named("layout of --data", DATASET_MODES),
                            choices=DATASET_MODES, group=DATASET)
    direction: str = opt(_PAIR.direction, _named("which side is the input", DIRECTIONS),
                         choices=DIRECTIONS, group=DATASET)
    input_nc: int = opt(_PAIR.input_nc, "channels of the input images (1 gray, 3 RGB, 2 and 4 "
                        "from PNGs that have them, e.g. gray+alpha, RGBA, depth)",
                        flag="--input-nc", group=DATASET)
    output_nc: int = opt(_PAIR.output_nc, "channels of the output images (as --input-nc)",
                         flag="--output-nc", group=DATASET)
    on_bad_file: str = opt("error", _named(
        "a file that cannot be used (unreadable, truncated, empty, wrong size or channels)",
        BAD_FILE_POLICIES, "; a file that goes bad during the run is named (error) or "
        "skipped and counted (skip)"), choices=BAD_FILE_POLICIES, group=DATASET)
    preprocess: str = opt(_PAIR.preprocess, _named(
        "resizing and cropping", PREPROCESS_MODES, ". Sizes that are not multiples of the "
        "generator's stride are padded for G and cropped back"), choices=PREPROCESS_MODES,
        group=PREPROCESS)
    load_size: int = opt(_PAIR.load_size, "resize A and B to this size (the width for "
                         "scale_width*) before cropping", group=PREPROCESS)
    crop_size: int = opt(_PAIR.crop_size, "random crop size used for training (the model's "
                         "input size)", group=PREPROCESS)
    no_flip: bool = opt(False, "disable the random left-right mirror", group=PREPROCESS)
    cache: str = opt("memory", _named("where decoded, resized pairs are kept after their first "
                                      "decode", CACHE_MODES), choices=CACHE_MODES, group=SPEED)


@dataclass
class ModelConfig:
    netG: str = opt("unet_256", "generator architecture: unet_<size> (U-Net that reduces "
                    "<size> to 1x1), resnet_<n>blocks, encoder_decoder_256 (U-Net without "
                    "skips)", flag="--netG", choices=GENERATORS, group=GENERATOR)
    ngf: int = opt(64, "generator filters in the first conv layer", group=GENERATOR)
    num_downs: int = opt(OPTIONS["num_downs"].default, "U-Net / encoder-decoder depth; 0 means "
                         "the depth implied by --netG", group=GENERATOR)
    no_dropout: bool = opt(False, "disable the generator's dropout", group=GENERATOR)
    norm: str = opt("batch", _named("normalization in G and D", NORMS), choices=NORMS,
                    group=GENERATOR)
    netD: str = opt("basic", "discriminator: basic (70x70 PatchGAN), n_layers (PatchGAN of "
                    "--n-layers-D), pixel (1x1 PixelGAN), multiscale (--num-D PatchGANs on an "
                    "image pyramid, pix2pixHD)", flag="--netD", choices=DISCRIMINATORS,
                    group=DISCRIMINATOR)
    ndf: int = opt(64, "discriminator filters in the first conv layer", group=DISCRIMINATOR)
    n_layers_D: int = opt(OPTIONS["n_layers"].default, "PatchGAN depth for --netD n_layers and "
                          "multiscale (1: 16x16, 2: 34x34, 3: 70x70, 4: 142x142, 5: 286x286 "
                          "receptive field)", flag="--n-layers-D", group=DISCRIMINATOR)
    num_D: int = opt(OPTIONS["num_D"].default, "discriminators of --netD multiscale, each on "
                     "half the resolution of the previous", flag="--num-D", group=DISCRIMINATOR)
    unconditional: bool = opt(False, "D sees only B, not the pair (A, B): the paper's GAN "
                              "ablation (Table 1)", group=OBJECTIVE)


@dataclass
class TrainConfig:
    gan_mode: str = opt("vanilla", _named("GAN objective", GAN_MODES), choices=GAN_MODES,
                        group=OBJECTIVE)
    lambda_l1: float = opt(100.0, "weight of the L1 term in the generator loss (0: GAN only)",
                           flag="--lambda-L1", aliases=("--lambda-l1",), group=OBJECTIVE)
    lambda_gp: float = opt(10.0, "weight of the gradient penalty of --gan-mode wgangp",
                           flag="--lambda-gp", group=OBJECTIVE)
    lambda_feat: float = opt(0.0, "weight of the feature-matching loss on D's intermediate "
                             "features (pix2pixHD uses 10 with --netD multiscale); 0 = off",
                             flag="--lambda-feat", group=OBJECTIVE)
    no_gan: bool = opt(False, "L1 only: no discriminator is built or trained (the paper's L1 "
                       "ablation)", group=OBJECTIVE)
    d_loss_scale: float = opt(0.5, "factor on D's loss (the paper divides it by 2)",
                              flag="--d-loss-scale", group=OBJECTIVE)
    n_epochs: int = opt(100, "epochs at the initial learning rate", flag="--epochs",
                        aliases=("--n-epochs",), group=SCHEDULE)
    n_epochs_decay: int = opt(100, "epochs of decay after --epochs (linear policy: to zero)",
                              group=SCHEDULE)
    lr_policy: str = opt("linear", _named("learning-rate policy", LR_POLICIES),
                         choices=LR_POLICIES, group=SCHEDULE)
    lr_decay_iters: int = opt(50, "epochs between the x0.1 steps of --lr-policy step",
                              group=SCHEDULE)
    batch_size: int = opt(1, "global batch size (split across replicas)", group=SCHEDULE)
    lr: float = opt(2e-4, "Adam learning rate for G and D", group=SCHEDULE)
    beta1: float = opt(0.5, "Adam beta_1", group=SCHEDULE)
    beta2: float = opt(0.999, "Adam beta_2", group=SCHEDULE)
    seed: int = opt(0, "seed for weights, data order, augmentation and dropout", group=SCHEDULE)
    deterministic: bool = opt(False, "repeatable bit for bit: TensorFlow's op determinism on "
                              "top of the seeded data, dropout and initialisation; two runs of "
                              "one command (or a stopped and resumed one) end with identical "
                              "weights and optimizer state on the same machine and versions. "
                              "See docs/reliability.md for GPUs and the speed cost",
                              group=SCHEDULE)
    nan_policy: str = opt("stop", _named("a step whose loss or gradient is not finite (checked "
                                         "before the update, which it never reaches)",
                                         NAN_POLICIES), choices=NAN_POLICIES, group=SCHEDULE)
    max_skipped_steps: int = opt(10, "with --nan-policy skip, stop after this many skipped "
                                 "steps in a row", group=SCHEDULE)
    max_steps: int = opt(0, "stop at this global step (0: train to the end); the run can be "
                         "resumed later", group=SCHEDULE)
    init_from: str = opt("", "start G from the latest checkpoint of this run folder (for example "
                         "one written by python -m tfpix2pix.convert) and D from scratch, with "
                         "fresh optimizers and schedule; its generator settings must match. "
                         "Ignored when --run-dir already has a checkpoint", group=GENERATOR)
    strategy: str = opt("auto", _named("distribution strategy", STRATEGIES), choices=STRATEGIES,
                        group=SPEED)
    precision: str = opt("fp32", _named(
        "numeric precision, the mixed ones with float32 weights, outputs and losses",
        PRECISIONS), choices=PRECISIONS, group=SPEED)
    jit: str = opt("auto", _named(
        "XLA-compile the step (the whole step on one device, forward and gradients under a "
        "multi-replica strategy)", JIT_MODES, "; --jit alone means on"), choices=JIT_MODES,
        const="on", group=SPEED)
    worker_timeout: int = opt(60, "multi-worker runs: seconds without a heartbeat from a "
                              "worker (frozen, or its host gone) after which the others stop, "
                              "naming it; a worker that dies on a live host is noticed at once",
                              group=SPEED)
    steps_per_call: int = opt(1, "training steps run inside one tf.function call (for GPUs, "
                              "where a small step is launch-bound); logging, grids, checkpoints "
                              "and Ctrl-C happen between calls, so an interval that is not a "
                              "multiple of it takes effect at the end of the call that crosses "
                              "it", group=SPEED)


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
    test_mode: str = opt("eval", _named("how G normalises at inference (image grids, predict, "
                                        "export)", TEST_MODES), choices=TEST_MODES)


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


# --model of the commands that translate with a trained generator.
MODEL_HELP = ("a run folder (runs/<name>: its newest readable checkpoint) or an export "
              "(exported/<name>, or one of its version folders)")


@dataclass
class PredictConfig:
    """Options of ``python -m tfpix2pix.predict``."""
    model: str = opt("", MODEL_HELP)
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
class DemoConfig:
    """Options of ``python -m tfpix2pix.demo``."""
    model: str = opt("", MODEL_HELP)
    host: str = opt("127.0.0.1", "address to listen on (127.0.0.1: this machine only; 0.0.0.0: "
                    "every network this machine is on)")
    port: int = opt(8000, "port to listen on (0: any free one)")
    palette: str = opt("", "drawing colours: facades, cityscapes or a file of 'name r g b' "
                       "lines (default: the export's, or the run's training inputs')")
    tile: int = opt(0, "translate uploads in overlapping tiles of this size, as predict's "
                    "--tile; 0 = whole images")


@dataclass
class EvaluateConfig:
    """Options of ``python -m tfpix2pix.evaluate``."""
    model: str = opt("", MODEL_HELP)
    data: str = opt("", "dataset folder in the run's layout: DIR/<split>/ of [A | B] images, "
                    "A/ and B/ folders, or a to-tfrecord folder")
    split: str = opt("test", "the split to score")
    out: str = opt("", "folder for metrics.json and the rest (default: "
                   "evaluation/<name>-<split>)")
    test_mode: str = opt("", "override the run's test mode (run folders only; an export has "
                         "its own baked in)", choices=TEST_MODES)
    full_size: bool = opt(False, "score each image at its file's own size, not resized to the "
                          "crop size")
    crop_size: int = opt(0, "the size pairs are resized to (default: the run's --crop-size; "
                         "needed for an export, which does not record it)")
    palette: str = opt("", "score label-map outputs: facades, cityscapes or a file of "
                       "'name r g b' lines; writes accuracy, class IoU and the confusion matrix")
    fid: bool = opt(False, "Frechet Inception distance (TTUR's Inception graph)")
    kid: bool = opt(False, "kernel Inception distance, unbiased: better than FID for test "
                    "splits of a few hundred images")
    inception: str = opt("", "classify_image_graph_def.pb of inception-2015-12-05 (default: "
                         "downloaded once into ~/.cache/tfpix2pix, or TFPIX2PIX_CACHE)")
    samples: int = opt(0, "write samples/index.html with the first N pairs: input | output | "
                       "target")


@dataclass
class ExportConfig:
    """Options of ``python -m tfpix2pix.export``."""
    run_dir: str = opt("", "the run folder to export (its latest checkpoint)", positional=True)
    output: str = opt("exported", "export root; the model goes to <output>/<name>/<version>/")
    name: str = opt("", "model name in the export root (default: the run's name)")
    version: int = opt(0, "version folder number (default: the next free one)")
    test_mode: str = opt("", "test mode to bake in (default: the run's)", choices=TEST_MODES)
    tflite: str = opt("", _named("also convert to TFLite, comma-separated kinds", TFLITE_KINDS),
                      choices=TFLITE_KINDS, separator=",")
    tflite_size: str = opt("crop", "TFLite input size: 'crop' (the run's crop size), N (N x N, "
                           "a multiple of the generator's stride) or 'any' (any height and "
                           "width; LiteRT runs such models far slower, int8 most of all)")
    onnx: bool = opt(False, "also convert to ONNX (needs pip install 'tfpix2pix[onnx]')")
    web: bool = opt(False, "also write <output>/<name>/web/: the demo page running the ONNX "
                    "model in the browser, for any static file server (implies --onnx; fetches "
                    "onnxruntime-web once from the npm registry)")


# README command 1: the built-in labels->rendering set at 64 px, 1800 steps of batch 4. At
# ngf = ndf = 16 a step costs a quarter of the FLOPs of 32 and trains 3.3x faster on a 2-core
# Zen 3 (81 vs 24 img/s), for a val L1 of 0.116 against 0.109 (benchmarks/demo_speed.py).
# It applies when no dataset is named (``cli.resolve_config``).
DEMO_PRESET = {
    "name": "demo",
    "data": {"path": BUILTIN_PREFIX + "shapes", "load_size": 72, "crop_size": 64},
    "model": {"netG": "unet_64", "ngf": 16, "ndf": 16},
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


def get(cfg, key):
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def default(key, tree=Config):
    """The default of the option ``key`` (e.g. "train.gan_mode")."""
    return get(tree(), key)


def flag_name(key, f):
    return f.metadata.get("flag") or "--" + key.split(".")[-1].replace("_", "-")


def flag_for(key):
    for k, f, _typ in leaves():
        if k == key:
            return flag_name(k, f)
    raise KeyError(key)


def list_names(option):
    """The names an option takes, in order: ``list_names("gan_mode")``, ``list_names("--netG")``.

    ``option`` is a config key (dotted, or its last part) or a flag of the training,
    predict, evaluate or export command; the answer is its registry's names.
    """
    for tree in (Config, PredictConfig, EvaluateConfig, ExportConfig):
        for key, f, _typ in leaves(tree):
            if option in (key, key.split(".")[-1], flag_name(key, f)) and f.metadata["choices"]:
                return f.metadata["choices"].names
    raise KeyError(f"{option!r} is not an option that takes names")
