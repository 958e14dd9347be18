"""A run folder's layout: the one package that knows what is where in ``runs/<name>/``.

::

    runs/<name>/
        config.yaml            the resolved config (``read_config``)
        checkpoints/ckpt-N.*   N is the global step; the newest is ``latest_checkpoint``
        images/step_N.png      the input | output | target grids
        cache/                 the decoded pairs of ``--cache disk``
        skipped_files.txt      the files ``--on-bad-file skip`` left out, one a line
        events.out.tfevents.*  TensorBoard scalars, grids and hparams
        .lock                  held while a process writes the folder (``RunLock``)

Training creates it (``prepare``) and resumes it; predict, export and ``load()`` read
it (``read_config``, ``restore_generator``). A run folder belongs to one model: a
command whose model settings disagree with the saved config is refused
(``check_compatible``) rather than silently mixing weights.

The modules, one job each: ``layout`` the names and paths and reading config.yaml;
``checkpoints`` saving, choosing and restoring checkpoints; ``lock`` one process per
folder. This module creates and checks a folder and re-exports the others' names, so
callers write ``run_folder.X``. TensorFlow is imported only by the functions that read
checkpoints, so that the command line can check options without it.
"""

import os
import shlex
import shutil
import sys
import warnings

import yaml

from .. import config as C
from ..errors import Pix2PixWarning, UserError
from ..version import __version__
from .checkpoints import (  # noqa: F401 - re-exported: run_folder.X
    check_init_from, checkpoint_damage, checkpoint_manager, checkpoint_step,
    has_training_state, latest_checkpoint, load_generator_weights, remove_partial_saves,
    restore_generator, resumable_checkpoint, save_checkpoint)
from .layout import (  # noqa: F401 - re-exported: run_folder.X
    CACHE, CHECKPOINT_PREFIX, CHECKPOINTS, CONFIG_FILE, ENVIRONMENT_KEY, IMAGES, LOCK_FILE,
    SKIPPED_FILES, VERSION_KEY, NewerVersion, cache_dir, checkpoints_dir, config_path,
    grid_path, images_dir, is_run_folder, read_config, skipped_files_path)
from .lock import RunLock  # noqa: F401 - re-exported: run_folder.RunLock

# Settings that define the run; changing them on resume would mix two runs.
# (Epochs, logging and max_steps may change: that is how a run is extended.)
# (no_gan: such a run has no D to resume; the channels fix G's and D's shapes.)
IDENTITY_KEYS = tuple(k for k, _f, _t in C.leaves() if k.startswith("model.")) + (
    "data.direction", "data.input_nc", "data.output_nc", "train.batch_size", "train.no_gan")


def check_compatible(cfg, run_dir):
    """Refuse to resume ``run_dir`` with different identity settings (``IDENTITY_KEYS``)."""
    if not os.path.isfile(config_path(run_dir)):
        return
    try:
        old = read_config(run_dir)
    except NewerVersion:
        raise
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
    now = environment()
    _warn_if_environment_changed(run_dir, now)
    C.save_yaml(cfg, config_path(run_dir), header={VERSION_KEY: __version__,
                                                   ENVIRONMENT_KEY: now})
    return run_dir


def environment():
    """The versions that decide a run's numbers bit for bit: TensorFlow, Keras and numpy."""
    import keras
    import numpy
    import tensorflow as tf
    return {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": numpy.__version__}


def _warn_if_environment_changed(run_dir, now):
    """Warn (once: config.yaml then records ``now``) when a run that has checkpoints is
    resumed under other library versions than the session that trained it last."""
    try:
        with open(config_path(run_dir)) as fh:
            before = (yaml.safe_load(fh) or {}).get(ENVIRONMENT_KEY)
    except (OSError, yaml.YAMLError, AttributeError):
        return
    folder = checkpoints_dir(run_dir)
    if not isinstance(before, dict) or not os.path.isdir(folder) or not os.listdir(folder):
        return
    changed = [f"{name} {before.get(name)} -> {version}" for name, version in now.items()
               if before.get(name) != version]
    if changed:
        warnings.warn(f"--run-dir {run_dir} was trained with other library versions "
                      f"({', '.join(changed)}): the resumed run will not repeat bit for bit "
                      "what an uninterrupted run under the old versions gives", Pix2PixWarning,
                      stacklevel=3)


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
