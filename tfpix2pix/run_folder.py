"""A run folder's layout: the one module that knows what is where in ``runs/<name>/``.

::

    runs/<name>/
        config.yaml            the resolved config (``read_config``)
        checkpoints/ckpt-N.*   N is the global step; the newest is ``latest_checkpoint``
        images/step_N.png      the input | output | target grids
        cache/                 the decoded pairs of ``--cache disk``
        events.out.tfevents.*  TensorBoard scalars, grids and hparams

Training creates it (``prepare``) and resumes it; predict, export and ``load()`` read
it (``read_config``, ``restore_generator``). A run folder belongs to one model: a
command whose model settings disagree with the saved config is refused
(``check_compatible``) rather than silently mixing weights.

TensorFlow is imported only by the functions that read checkpoints, so that the
command line can check options without it.
"""

import os
import shlex
import shutil
import sys

import yaml

from . import config as C
from .errors import UserError

CONFIG_FILE = "config.yaml"
CHECKPOINTS = "checkpoints"
IMAGES = "images"
CACHE = "cache"
CHECKPOINT_PREFIX = "ckpt"  # checkpoints/ckpt-<step>
# Settings that define the run; changing them on resume would mix two runs.
# (Epochs, logging and max_steps may change: that is how a run is extended.)
# (no_gan: such a run has no D to resume; the channels fix G's and D's shapes.)
IDENTITY_KEYS = tuple(k for k, _f, _t in C.leaves() if k.startswith("model.")) + (
    "data.direction", "data.input_nc", "data.output_nc", "train.batch_size", "train.no_gan")


# --- paths ----------------------------------------------------------------------------------

def config_path(run_dir):
    return os.path.join(run_dir, CONFIG_FILE)


def checkpoints_dir(run_dir):
    return os.path.join(run_dir, CHECKPOINTS)


def images_dir(run_dir):
    return os.path.join(run_dir, IMAGES)


def grid_path(run_dir, step):
    """Where the image grid of ``step`` is written."""
    return os.path.join(images_dir(run_dir), f"step_{step:07d}.png")


def cache_dir(run_dir):
    return os.path.join(run_dir, CACHE)


def is_run_folder(path):
    return os.path.isfile(config_path(path))


# --- config.yaml ----------------------------------------------------------------------------

def read_config(run_dir):
    """The ``config.Config`` a run was trained with; a UserError if ``run_dir`` has none."""
    path = config_path(run_dir)
    if not os.path.isfile(path):
        raise UserError(f"{run_dir}: no {CONFIG_FILE} in it; pass a run folder made by "
                        "python -m tfpix2pix.train, or an exported model")
    with open(path) as fh:
        try:
            saved = yaml.safe_load(fh) or {}
        except yaml.YAMLError:
            raise UserError(f"{path}: not valid YAML; fix the file") from None
    return C.apply_overrides(C.Config(), saved, path)


def check_compatible(cfg, run_dir):
    """Refuse to resume ``run_dir`` with different identity settings (``IDENTITY_KEYS``)."""
    if not os.path.isfile(config_path(run_dir)):
        return
    try:
        old = read_config(run_dir)
    except UserError as exc:
        raise UserError(f"--run-dir {run_dir}: its {CONFIG_FILE} is unreadable ({exc}); "
                        "use a new --run-dir") from None
    for key in IDENTITY_KEYS:
        before, now = C.get(old, key), C.get(cfg, key)
        if before != now:
            flag = C.flag_for(key)
            raise UserError(f"--run-dir {run_dir} holds a run with {flag} {before}, but this "
                            f"command asks for {flag} {now}; use a new --run-dir, or "
                            f"{flag} {before} to resume it")


def prepare(cfg):
    """Create the run folder (checking a saved config first) and write config.yaml."""
    run_dir = cfg.run_dir
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise UserError(f"--run-dir {run_dir}: exists and is not a folder; choose another path")
    check_compatible(cfg, run_dir)
    os.makedirs(images_dir(run_dir), exist_ok=True)
    C.save_yaml(cfg, config_path(run_dir))
    return run_dir


# --- checkpoints ----------------------------------------------------------------------------

def checkpoint_manager(checkpoint, run_dir, keep, step):
    """A ``tf.train.CheckpointManager`` saving ``checkpoint`` as checkpoints/ckpt-<step>."""
    import tensorflow as tf
    return tf.train.CheckpointManager(checkpoint, checkpoints_dir(run_dir), max_to_keep=keep,
                                      step_counter=step, checkpoint_name=CHECKPOINT_PREFIX)


def latest_checkpoint(run_dir):
    """The newest checkpoint's path prefix (``.../checkpoints/ckpt-N``), or None."""
    import tensorflow as tf
    return tf.train.latest_checkpoint(checkpoints_dir(run_dir))


def checkpoint_step(path):
    """The global step a checkpoint of this layout was saved at (``ckpt-<step>``)."""
    return int(os.path.basename(path).rsplit("-", 1)[1])


def restore_generator(run_dir):
    """(config, generator with the latest checkpoint's weights, training step) of a run."""
    from .models import build_generator, generator_kwargs

    cfg = read_config(run_dir)
    generator = build_generator(**generator_kwargs(cfg.model, cfg.data))
    return cfg, generator, load_generator_weights(generator, run_dir)


def load_generator_weights(generator, run_dir):
    """Restore the generator of ``run_dir``'s latest checkpoint into ``generator`` (built
    with the run's generator settings); return the checkpoint's training step."""
    import tensorflow as tf

    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise UserError(f"{run_dir}: no checkpoint in {checkpoints_dir(run_dir)}; "
                        "train the run first (python -m tfpix2pix.train --run-dir ...)")
    step = tf.Variable(0, dtype=tf.int64)
    tf.train.Checkpoint(generator=generator, step=step).restore(checkpoint).expect_partial() \
        .assert_existing_objects_matched()
    return int(step.numpy())


def check_init_from(cfg):
    """Refuse ``--init-from`` unless it names a run folder with a checkpoint whose generator
    has this run's generator settings (the ones ``models.generator_kwargs`` builds from)."""
    from .models import generator_kwargs

    source = cfg.train.init_from
    flag = C.flag_for("train.init_from")
    if not is_run_folder(source):
        raise UserError(f"{flag} {source}: not a run folder (no {CONFIG_FILE}); pass one "
                        "made by python -m tfpix2pix.train or python -m tfpix2pix.convert")
    if latest_checkpoint(source) is None:
        raise UserError(f"{flag} {source}: no checkpoint in {checkpoints_dir(source)}")
    theirs, ours = (generator_kwargs(c.model, c.data) for c in (read_config(source), cfg))
    for key in ours:
        if theirs.get(key) != ours[key]:
            raise UserError(f"{flag} {source} holds a generator with {key}={theirs.get(key)!r}, "
                            f"but this run builds {key}={ours[key]!r}; give the same generator "
                            "settings as that run")


def has_training_state(checkpoint):
    """Whether ``checkpoint`` holds the optimizers a run resumes with (a converted
    generator's holds the generator only)."""
    import tensorflow as tf

    return any(name.startswith("g_optimizer/") for name, _shape in
               tf.train.list_variables(checkpoint))


# --- TensorBoard ----------------------------------------------------------------------------

def tensorboard_command(run_dir):
    """``tensorboard --logdir <run_dir>`` as one line a shell can run.

    The events are in the run folder itself. When ``tensorboard`` is not on PATH (a venv
    that is not activated), the command names the one installed beside this Python.
    """
    program = "tensorboard"
    beside = os.path.join(os.path.dirname(sys.executable), program)
    if shutil.which(program) is None and os.access(beside, os.X_OK):
        program = beside
    return f"{shlex.quote(program)} --logdir {shlex.quote(os.fspath(run_dir))}"
