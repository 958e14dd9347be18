"""Files: written so that a reader never sees half of one, hashed, and the cache folder."""

import hashlib
import os
import threading


def write_atomic(path, data):
    """Write ``data`` (bytes or str) to ``path`` via a temporary file, then rename it.

    Parent folders are created. The temporary name is unique per process and thread, and
    ``open`` (unlike ``mkstemp``) gives the file the usual umask permissions. Returns ``path``.
    """
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        with open(tmp, "wb" if isinstance(data, bytes) else "w",
                  **({} if isinstance(data, bytes) else {"encoding": "utf-8"})) as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


# What a failed write says (OSError's strerror, also inside TensorFlow's messages), in the
# order in which one is named when a message holds several.
WRITE_FAILURES = ("No space left on device", "File too large", "Disk quota exceeded",
                  "Read-only file system", "Permission denied")


def failure_reason(exc):
    """A short phrase for why an I/O call failed: ``exc``'s strerror or known cause (see
    ``WRITE_FAILURES``), else the first line of its message."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(getattr(exc, "message", None) or exc).strip()
    for reason in WRITE_FAILURES:
        if reason in text:
            return reason
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= 200 else first[:197] + "..."


def sha256(path):
    """The SHA-256 of the file at ``path``, as hex, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_root():
    """Where downloads and generated data are kept: TFPIX2PIX_CACHE, else
    $XDG_CACHE_HOME/tfpix2pix, else ~/.cache/tfpix2pix."""
    root = os.environ.get("TFPIX2PIX_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "tfpix2pix")
    return os.path.expanduser(root)
