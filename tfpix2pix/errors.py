"""Errors a user can cause, reported as one line without a stack trace."""


class UserError(Exception):
    """A problem with the user's input (a path, a flag, a file, a run folder).

    The message names the offending thing and says how to fix it. The CLI
    prints it as a single line and exits with status 2.
    """


def require_tensorflow():
    """Import TensorFlow, or raise a UserError that says how to install it."""
    try:
        import tensorflow as tf  # noqa: F401
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
        raise UserError(
            "TensorFlow is not installed: run pip install 'tfpix2pix[cpu]' "
            "(or 'tfpix2pix[gpu]' on a CUDA machine)") from exc
    return tf
