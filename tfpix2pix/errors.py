"""Errors a user can cause, reported as one line without a stack trace."""

import os
import sys


class UserError(Exception):
    """A problem with the user's input (a path, a flag, a file, a run folder).

    The message names the offending thing and says how to fix it. The CLI
    prints it as a single line and exits with status 2.
    """


def require_tensorflow(quiet=False):
    """Import TensorFlow, or raise a UserError that says how to install it.

    With ``quiet``, the native start-up banner TensorFlow writes straight to
    file descriptor 2 (printed whatever TF_CPP_MIN_LOG_LEVEL says) is dropped,
    so a command's own messages are what the user sees.
    """
    saved = None
    if quiet:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    try:
        import tensorflow as tf  # noqa: F401
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
        raise UserError(
            "TensorFlow is not installed: run pip install 'tfpix2pix[cpu]' "
            "(or 'tfpix2pix[gpu]' on a CUDA machine)") from exc
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
    return tf
