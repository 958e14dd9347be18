"""Output folders that appear whole or not at all: built under a hidden name, then renamed.

Every dataset tool (``download``, ``prepare-cityscapes``, ``combine``, ``split``)
writes its output folder through ``staged``: the files go to a hidden temporary
folder beside it (``.NAME.tmp-<pid>-<random>``), which is renamed to NAME only
once it is complete. A failure removes the temporary folder; a killed process
leaves only that hidden folder, which ``remove_stale`` clears on the next run.

An existing NAME is refused, unless ``force``: then it is replaced, and only
after the new folder is complete (the old one is renamed away, the new one
renamed in, the old one removed). Local paths only.
"""

import contextlib
import os
import shutil
import uuid

from ..errors import UserError

TMP, OLD = ".tmp-", ".old-"


def hidden_name(final, kind):
    """A hidden path beside ``final`` for a temporary (TMP) or an old (OLD) folder."""
    parent, name = os.path.split(os.path.abspath(final))
    return os.path.join(parent, f".{name}{kind}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def remove_stale(final):
    """Remove the temporary and old folders an interrupted run left beside ``final``."""
    parent, name = os.path.split(os.path.abspath(final))
    if not os.path.isdir(parent):
        return
    for entry in os.listdir(parent):
        if entry.startswith(f".{name}{TMP}") or entry.startswith(f".{name}{OLD}"):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def check_free(final, flag, force):
    """Refuse an existing, non-empty ``final`` unless ``force`` (``flag`` names it)."""
    if os.path.lexists(final) and not os.path.isdir(final):
        raise UserError(f"{flag} {final}: exists and is not a folder; choose another path")
    if os.path.isdir(final) and os.listdir(final) and not force:
        raise UserError(f"{flag} {final}: folder exists and is not empty; choose a new folder, "
                        "or pass --force to replace it once the new one is complete")


def publish(built, final):
    """Rename the complete folder ``built`` to ``final``, replacing what is there."""
    old = None
    if os.path.lexists(final):
        old = hidden_name(final, OLD)
        os.rename(final, old)
    os.rename(built, final)
    if old:
        shutil.rmtree(old, ignore_errors=True)


class Stage:
    """The folder being built (``path``) and which folder in it becomes the output
    (``result``: ``path`` itself unless the block says otherwise)."""

    def __init__(self, path):
        self.path = self.result = path


@contextlib.contextmanager
def staged(final, flag="--out", force=False):
    """Yield a ``Stage`` around an empty temporary folder; when the block ends without an
    error, its ``result`` becomes ``final`` (see the module's docstring); on an error it is
    removed."""
    check_free(final, flag, force)
    remove_stale(final)
    os.makedirs(os.path.dirname(os.path.abspath(final)), exist_ok=True)
    stage = Stage(hidden_name(final, TMP))
    os.makedirs(stage.path)
    try:
        yield stage
        publish(stage.result, final)
    finally:
        shutil.rmtree(stage.path, ignore_errors=True)


def add_output_flags(parser):
    """``--out DIR`` and ``--force``, as every tool that writes through ``staged`` takes them."""
    parser.add_argument("--out", required=True, metavar="DIR", help="the new dataset folder")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing --out once the new one is complete")
