"""A run folder's layout: the one module that knows what is where in ``runs/<name>/``.

::

    runs/<name>/
        config.yaml            the resolved config (``read_config``)
        checkpoints/ckpt-N.*   N is the global step; the newest is ``latest_checkpoint``
        images/step_N.png      the input | output | target grids
        cache/                 the decoded pairs of ``--cache disk``
        skipped_files.txt      the files ``--on-bad-file skip`` left out, one a line
        events.out.tfevents.*  TensorBoard scalars, grids and hparams

Training creates it (``prepare``) and resumes it; predict, export and ``load()`` read
it (``read_config``, ``restore_generator``). A run folder belongs to one model: a
command whose model settings disagree with the saved config is refused
(``check_compatible``) rather than silently mixing weights.

TensorFlow is imported only by the functions that read checkpoints, so that the
command line can check options without it.
"""

import contextlib
import fcntl
import os
import shlex
import shutil
import socket
import sys
import warnings

import yaml

from . import config as C
from .errors import Pix2PixWarning, UserError
from .files import failure_reason
from .version import __version__

CONFIG_FILE = "config.yaml"
CHECKPOINTS = "checkpoints"
IMAGES = "images"
CACHE = "cache"
SKIPPED_FILES = "skipped_files.txt"
CHECKPOINT_PREFIX = "ckpt"  # checkpoints/ckpt-<step>
LOCK_FILE = ".lock"  # held while a run writes the folder (``RunLock``)
VERSION_KEY = "tfpix2pix_version"  # in config.yaml: the version that wrote it
# In config.yaml, apart from the config tree: the library versions of the last session that
# trained the run. A run repeats bit for bit only under the same ones (``environment``).
ENVIRONMENT_KEY = "environment"
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


def skipped_files_path(run_dir):
    return os.path.join(run_dir, SKIPPED_FILES)


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
    if isinstance(saved, dict):
        _check_version(saved.pop(VERSION_KEY, None), path)
        saved.pop(ENVIRONMENT_KEY, None)
    return C.apply_overrides(C.Config(), saved, path)


class _NewerVersion(UserError):
    """config.yaml from a newer tfpix2pix: said as it is, not as an unreadable file."""


def _check_version(written_by, path):
    """Refuse a config.yaml that a newer tfpix2pix wrote (it may hold what this one lacks)."""
    def parts(version):
        return tuple(int(p) if p.isdigit() else 0 for p in str(version).split(".")[:3])

    if written_by is not None and parts(written_by) > parts(__version__):
        raise _NewerVersion(f"{path} was written by tfpix2pix {written_by}, newer than "
                            f"this {__version__}; upgrade (pip install -U tfpix2pix) to use "
                            "this run")


def check_compatible(cfg, run_dir):
    """Refuse to resume ``run_dir`` with different identity settings (``IDENTITY_KEYS``)."""
    if not os.path.isfile(config_path(run_dir)):
        return
    try:
        old = read_config(run_dir)
    except _NewerVersion:
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


def resumable_checkpoint(run_dir):
    """The newest intact checkpoint of ``run_dir`` (its path prefix), or None if it has none.

    Each candidate, newest first (as the manager's state file lists them, or the
    ``ckpt-*.index`` files if that file is missing or unreadable), is read in full, so
    that every checksum is verified. A damaged one (an index or data file cut short or
    altered, a missing shard) is reported as a warning and the one before it is used.
    If none is intact, a UserError says so and nothing is deleted.
    """
    candidates = _checkpoint_candidates(run_dir)
    damaged = []
    for prefix in candidates:
        why = checkpoint_damage(prefix)
        if why is None:
            for bad, reason in damaged:
                warnings.warn(f"checkpoint {os.path.basename(bad)} is damaged ({reason}); "
                              f"resuming from {os.path.basename(prefix)}", Pix2PixWarning,
                              stacklevel=2)
            return prefix
        damaged.append((prefix, why))
    if damaged:
        listed = "; ".join(f"{os.path.basename(p)}: {why}" for p, why in damaged)
        raise UserError(f"--run-dir {run_dir}: no intact checkpoint in "
                        f"{checkpoints_dir(run_dir)} ({listed}); nothing was deleted: restore "
                        "the folder from a backup, or move it away to start the run again")
    return None


def _checkpoint_candidates(run_dir):
    """Checkpoint prefixes, newest first: the manager's record, else the index files."""
    import tensorflow as tf

    folder = checkpoints_dir(run_dir)
    if not os.path.isdir(folder):
        return []
    state = tf.train.get_checkpoint_state(folder)  # None if missing or unreadable
    if state is not None and state.model_checkpoint_path:
        listed = [state.model_checkpoint_path, *reversed(state.all_model_checkpoint_paths)]
        listed = [p if os.path.isabs(p) else os.path.join(folder, p) for p in listed]
        return list(dict.fromkeys(os.path.normpath(p) for p in listed))
    found = [name[:-len(".index")] for name in os.listdir(folder)
             if name.startswith(CHECKPOINT_PREFIX + "-") and name.endswith(".index")]
    found = [name for name in found if name.rsplit("-", 1)[1].isdigit()]
    return [os.path.join(folder, name) for name in sorted(found, key=checkpoint_step,
                                                          reverse=True)]


def checkpoint_damage(prefix):
    """Why the checkpoint at ``prefix`` cannot be restored (one short phrase), or None.

    Every tensor is read, which verifies its checksum: about as long as a restore.
    """
    import tensorflow as tf

    if not os.path.exists(prefix + ".index"):
        return "its index file is missing"
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as exc:  # noqa: BLE001 - OpError, IndexError: what a bad file raises
        return failure_reason(exc)
    return None


def save_checkpoint(manager, number):
    """Save ``manager``'s checkpoint as ckpt-<number>; return its path prefix.

    The new files are flushed to disk (fsync) before the manager records the checkpoint
    as the latest, so that neither a SIGKILL nor a power cut can leave the record naming
    a checkpoint that is not all there. A write that fails (a full disk, a file-size
    limit, a folder made read-only) removes the new checkpoint's partial files and raises
    a UserError naming the checkpoint that is still the latest.
    """
    import tensorflow as tf

    folder = manager.directory
    prefix = os.path.join(folder, f"{CHECKPOINT_PREFIX}-{int(number)}")
    options = tf.train.CheckpointOptions(experimental_write_callbacks=[_sync_checkpoint])
    try:
        return manager.save(checkpoint_number=number, options=options)
    except (tf.errors.OpError, OSError) as exc:
        latest = tf.train.latest_checkpoint(folder)
        if latest is None or os.path.normpath(latest) != os.path.normpath(prefix):
            remove_partial_saves(folder, prefix)  # not recorded: none of it is needed
            kept = (f"the latest checkpoint is still {os.path.basename(latest)}" if latest
                    else "no earlier checkpoint was saved")
        else:  # written and recorded; a later bookkeeping write failed
            kept = f"{os.path.basename(prefix)} was saved"
        raise UserError(f"--run-dir {os.path.dirname(os.path.normpath(folder))}: saving "
                        f"checkpoint {os.path.basename(prefix)} failed ({failure_reason(exc)}); "
                        f"its partial files were removed and {kept}; free some space (or fix "
                        "the folder's permissions) and rerun the same command to resume"
                        ) from None


def _sync_checkpoint(save_path):
    """fsync a just-written checkpoint's files and folder (local files only)."""
    folder = os.path.dirname(save_path)
    if not os.path.isdir(folder):  # gs://, s3://: the store commits on close
        return
    name = os.path.basename(save_path)
    paths = [os.path.join(folder, n) for n in os.listdir(folder)
             if n == name + ".index" or n.startswith(name + ".data-")]
    for path in paths + [folder]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_partial_saves(folder, prefix=None):
    """Delete what interrupted saves leave in a checkpoints ``folder``: ``ckpt-N_temp/``
    folders, ``*.tempstate*`` files and the state file's ``checkpoint.tmp*`` copies; with
    ``prefix``, also that checkpoint's own files (a save of it that failed)."""
    if not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        own = prefix is not None and (name.startswith(os.path.basename(prefix) + ".")
                                      or name == os.path.basename(prefix) + "_temp")
        if own or name.endswith("_temp") or ".tempstate" in name or name.startswith(
                "checkpoint.tmp"):
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)


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


# --- one process per run folder -------------------------------------------------------------

class RunLock:
    """Holds ``run_dir/.lock`` while a run writes the folder: one process per run folder.

    The lock is ``flock`` on that file, which holds this process's PID and host for the
    message a second process prints. The kernel drops the lock when the holder exits in
    any way, SIGKILL included, so a lock file left behind by a dead process does not
    block the next run; a normal exit also deletes the file. Taking the lock is also the
    check that the run folder can be written at all. A folder this creates is removed
    again if it is still empty on release. Use as a context manager; ``enabled=False``
    (the workers other than the chief, which do not write the folder) does nothing.
    """

    def __init__(self, run_dir, enabled=True):
        self.run_dir, self.enabled = os.fspath(run_dir), enabled
        self.path = os.path.join(self.run_dir, LOCK_FILE)
        self._fd = self._created = None

    def __enter__(self):
        if self.enabled:
            self._acquire()
        return self

    def __exit__(self, *exc):
        self.release()
        return False

    def _acquire(self):
        run_dir = self.run_dir
        if os.path.exists(run_dir) and not os.path.isdir(run_dir):
            raise UserError(f"--run-dir {run_dir}: exists and is not a folder; choose another "
                            "path")
        self._created = _first_missing(run_dir)
        try:
            os.makedirs(run_dir, exist_ok=True)
            while True:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise UserError(f"--run-dir {run_dir} is in use by {holder} (lock file "
                                    f"{self.path}); wait for it to end, or use another "
                                    "--run-dir") from None
                except OSError:  # a file system without locks (ENOLCK, EOPNOTSUPP)
                    os.close(fd)
                    warnings.warn(f"--run-dir {run_dir}: its file system does not support "
                                  "locks; make sure that no other process trains in it",
                                  Pix2PixWarning, stacklevel=3)
                    return
                # The holder deletes the file before it lets go: a lock on a deleted file
                # is no lock, so take the one that is there now.
                try:
                    if os.path.samestat(os.fstat(fd), os.stat(self.path)):
                        break
                except FileNotFoundError:
                    pass
                os.close(fd)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
            self._fd = fd
        except OSError as exc:
            self._remove_created()
            raise UserError(f"--run-dir {run_dir}: cannot write there ({failure_reason(exc)});"
                            " fix its permissions or free some space, or choose another "
                            "--run-dir") from None

    def release(self):
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)
            os.close(self._fd)
            self._fd = None
        self._remove_created()

    def _remove_created(self):
        """Remove the folders ``_acquire`` created, from the run folder up, while empty."""
        if self._created is None:
            return
        path = os.path.abspath(self.run_dir)
        while True:
            try:
                os.rmdir(path)
            except OSError:  # not empty (or gone): leave it and its parents
                break
            if path == self._created:
                break
            path = os.path.dirname(path)
        self._created = None


def _first_missing(path):
    """The outermost folder of ``path`` that does not exist yet, or None."""
    path, missing = os.path.abspath(path), None
    while not os.path.exists(path):
        missing, parent = path, os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def _read_holder(fd):
    """'process <PID> on <host>' from a lock file, as far as it was written."""
    os.lseek(fd, 0, os.SEEK_SET)
    fields = os.read(fd, 1024).decode(errors="replace").split()
    if len(fields) < 2:
        return "another process"
    host = "this host" if fields[1] == socket.gethostname() else f"host {fields[1]}"
    return f"process {fields[0]} on {host}"


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
