"""A run folder's checkpoints: saving them safely, finding the newest one that can be read,
and restoring a run's generator from it.

A checkpoint is ``checkpoints/ckpt-<step>``. Training resumes from the newest intact one
(``resumable_checkpoint``, which reads every tensor); predict, export, evaluate, ``load()``
and ``--init-from`` restore the generator of the newest one that restores
(``load_generator_weights``). Either way a damaged checkpoint is named in one warning and the
one before it is used; when none can be read, a UserError says so and nothing is deleted.
"""

import contextlib
import os
import re
import shutil
import warnings

from .. import config as C
from ..errors import Pix2PixWarning, UserError
from ..files import failure_reason
from .layout import (CHECKPOINT_PREFIX, CONFIG_FILE, checkpoints_dir, is_run_folder,
                     read_config)


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
    found = _first_readable(run_dir, checkpoint_damage, "resuming from {}")
    if found is None:
        return None
    prefix, damaged = found
    if prefix is None:
        raise UserError(f"--run-dir {run_dir}: no intact checkpoint in "
                        f"{checkpoints_dir(run_dir)} ({_listed(damaged)}); nothing was deleted: "
                        "restore the folder from a backup, or move it away to start the run "
                        "again")
    return prefix


def _first_readable(run_dir, damage, using, lead=""):
    """(the newest checkpoint for which ``damage(prefix)`` is None, [(prefix, why)] of the
    newer ones that failed), each failure warned as one line, ``lead`` + what failed and why
    + ``using`` (a format of the checkpoint used); (None, failures) if every one failed;
    None if there is none.
    """
    candidates = _checkpoint_candidates(run_dir)
    if not candidates:
        return None
    damaged = []
    for prefix in candidates:
        why = damage(prefix)
        if why is None:
            for bad, reason in damaged:
                warnings.warn(f"{lead}checkpoint {os.path.basename(bad)} is damaged "
                              f"({reason}); " + using.format(os.path.basename(prefix)),
                              Pix2PixWarning, stacklevel=3)
            return prefix, damaged
        damaged.append((prefix, why))
    return None, damaged


def _listed(damaged):
    return "; ".join(f"{os.path.basename(p)}: {why}" for p, why in damaged)


def _checkpoint_candidates(run_dir):
    """Checkpoint prefixes, newest first: the manager's record, else the index files."""
    import tensorflow as tf

    folder = checkpoints_dir(run_dir)
    if not os.path.isdir(folder):
        return []
    # None if missing or unreadable; its relative paths come back joined to ``folder``
    # (so a relative run folder gives relative paths: do not join them again).
    state = tf.train.get_checkpoint_state(folder)
    if state is not None and state.model_checkpoint_path:
        listed = [state.model_checkpoint_path, *reversed(state.all_model_checkpoint_paths)]
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
        return damage_reason(exc)
    return None


# What TensorFlow says about a damaged checkpoint -> a short phrase for the user.
_DAMAGE_PHRASES = (
    ("Checksum does not match", "a checksum does not match"),
    ("Read less bytes than requested", "its data file is cut short"),
    ("bad magic number", "its index file is cut short or altered"),
    ("No such file or directory", "a data file is missing"),
)


def damage_reason(exc):
    """Why reading a checkpoint raised ``exc``, as a short phrase."""
    text = str(getattr(exc, "message", None) or exc)
    for said, phrase in _DAMAGE_PHRASES:
        if said in text:
            return phrase
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    # TensorFlow wraps an op's message in "{{function_node ...}} ... [Op:RestoreV2]".
    text = re.sub(r"^\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\]$", "", text.strip())
    return failure_reason(Exception(text or type(exc).__name__))


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
    from ..models import build_generator, generator_kwargs

    cfg = read_config(run_dir)
    generator = build_generator(**generator_kwargs(cfg.model, cfg.data))
    return cfg, generator, load_generator_weights(generator, run_dir)


def load_generator_weights(generator, run_dir):
    """Restore the generator of ``run_dir``'s newest readable checkpoint into ``generator``
    (built with the run's generator settings); return that checkpoint's training step.

    The newest checkpoint is restored as it is, not read in full first (that would double
    the load time of a large model). If its files are damaged (the restore fails: a file
    cut short, a missing shard, a bad checksum), one warning names it and the one before
    it is restored instead; if none restores, a UserError says so and nothing is deleted.
    """
    import tensorflow as tf

    step = tf.Variable(0, dtype=tf.int64)

    def failure(prefix):
        """Why restoring ``prefix`` failed (a short phrase), or None once it is restored."""
        if not os.path.exists(prefix + ".index"):
            return "its index file is missing"
        checkpoint = tf.train.Checkpoint(generator=generator, step=step)
        try:
            checkpoint.restore(prefix).expect_partial().assert_existing_objects_matched()
        except (tf.errors.OpError, IndexError) as exc:  # what a damaged file raises
            return damage_reason(exc)
        return None

    found = _first_readable(run_dir, failure, "using {} instead", lead=f"{run_dir}: ")
    if found is None:
        raise UserError(f"{run_dir}: no checkpoint in {checkpoints_dir(run_dir)}; "
                        "train the run first (python -m tfpix2pix.train --run-dir ...)")
    if found[0] is None:
        raise UserError(f"{run_dir}: no checkpoint in {checkpoints_dir(run_dir)} could be read "
                        f"({_listed(found[1])}); nothing was deleted: restore the folder from "
                        "a backup, or train the run again")
    return int(step.numpy())


def check_init_from(cfg):
    """Refuse ``--init-from`` unless it names a run folder with a checkpoint whose generator
    has this run's generator settings (the ones ``models.generator_kwargs`` builds from)."""
    from ..models import generator_kwargs

    source = cfg.train.init_from
    flag = C.flag_for("train.init_from")
    if not is_run_folder(source):
        raise UserError(f"{flag} {source}: not a run folder (no {CONFIG_FILE}); pass one "
                        "made by python -m tfpix2pix.train or python -m tfpix2pix.convert")
    if not _checkpoint_candidates(source):
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
