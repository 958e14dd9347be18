"""Errors a user can cause, reported as one line without a stack trace."""

import contextlib
import os
import sys


class UserError(Exception):
    """A problem with the user's input (a path, a flag, a file, a run folder).

    The message names the offending thing and says how to fix it. The CLI
    prints it as a single line and exits with status 2.
    """


@contextlib.contextmanager
def native_stderr_silenced(enabled=True):
    """Drop what native code writes to file descriptor 2 inside the block.

    TensorFlow's start-up banner, the TFLite converter and the LiteRT interpreter print
    INFO lines there whatever TF_CPP_MIN_LOG_LEVEL says. Python exceptions still carry
    their messages; Python's own sys.stderr is flushed first and then bypassed too.
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def require_tensorflow(quiet=False, before_first_op=None, first_op=True):
    """Import TensorFlow, or raise a UserError that says how to install it.

    With ``quiet``, the native start-up banner is dropped (``native_stderr_silenced``),
    so a command's own messages are what the user sees. ``before_first_op()`` runs
    after the import and before TensorFlow's first op (a multi-worker strategy must).
    ``first_op=False`` only imports (for file-system calls made before the strategy).
    """
    try:
        with native_stderr_silenced(quiet):
            import tensorflow as tf
            if before_first_op:
                before_first_op()
            if first_op:
                tf.constant(0.0) + 1.0  # the first op prints oneDNN's banner: in the window
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
        raise UserError(
            "TensorFlow is not installed: run pip install 'tfpix2pix[cpu]' "
            "(or 'tfpix2pix[gpu]' on a CUDA machine)") from exc
    return tf


LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
_USER_LOG_LEVEL = []  # whether the user had set TF_CPP_MIN_LOG_LEVEL, as first seen


def user_sets_tensorflow_logs():
    """Whether the user set TF_CPP_MIN_LOG_LEVEL (as it was before this package set it)."""
    if not _USER_LOG_LEVEL:
        _USER_LOG_LEVEL.append(LOG_LEVEL_VARIABLE in os.environ)
    return _USER_LOG_LEVEL[0]


def quiet_tensorflow_import(before_first_op=None, first_op=True):
    """Import TensorFlow under the package's one logging policy.

    Every command (train, its workers, predict, export) and ``tfpix2pix.load`` show the
    user their own lines only: unless the user set TF_CPP_MIN_LOG_LEVEL, it is set to 3
    (TensorFlow's native INFO, WARNING and ERROR lines off, among them Grappler's harmless
    "remapper failed" under oneDNN), and the start-up lines that no level governs (absl's
    pre-initialisation notice, the oneDNN and CPU-feature notes) are dropped. Errors still
    reach the user as Python exceptions, which the commands print as one line. A user who
    sets TF_CPP_MIN_LOG_LEVEL (any value) sees everything TensorFlow prints, as set.
    """
    quiet = not user_sets_tensorflow_logs()
    if quiet:
        os.environ[LOG_LEVEL_VARIABLE] = "3"
    return require_tensorflow(quiet=quiet, before_first_op=before_first_op, first_op=first_op)


class Pix2PixWarning(UserWarning):
    """A setting that works but is probably not what the user wants."""


def warnings_as_lines(stream=None):
    """Show ``Pix2PixWarning``s as one ``warning: ...`` line (others as Python shows them)."""
    import warnings

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, Pix2PixWarning):
            print(f"warning: {message}", file=file or stream or sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show
