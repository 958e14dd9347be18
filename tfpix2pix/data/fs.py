"""File-system calls for dataset paths: local paths through ``os``, URLs through tf.io.gfile.

A path with a scheme (``gs://bucket/facades``, ``s3://...``, ``hdfs://...``) goes through
``tf.io.gfile``, so every file system TensorFlow has a plugin for works (``gs://`` is built
in, ``s3://`` needs ``tensorflow-io``). Local paths use ``os`` and behave exactly as
before; that also keeps ``find_pairs`` free of the slow TensorFlow import, so
``python -m tfpix2pix.train`` reports a wrong ``--data`` at once.
"""

import os
import posixpath
import shutil


def is_remote(path):
    return "://" in str(path)


def _gfile():
    # Import only: no op yet, so that a multi-worker strategy can still be made after a
    # --data gs://... folder was looked at (the CLI does that before TensorFlow's first op).
    from ..errors import quiet_tensorflow_import
    return quiet_tensorflow_import(first_op=False).io.gfile


def join(path, *parts):
    return posixpath.join(path, *parts) if is_remote(path) else os.path.join(path, *parts)


def exists(path):
    return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def isdir(path):
    return _gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def listdir(path):
    """Entry names in ``path`` (no trailing slashes)."""
    if is_remote(path):
        return [n.rstrip("/") for n in _gfile().listdir(path)]
    return os.listdir(path)


def makedirs(path):
    if is_remote(path):
        _gfile().makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def read_bytes(path):
    if is_remote(path):
        with _gfile().GFile(path, "rb") as fh:
            return fh.read()
    with open(path, "rb") as fh:
        return fh.read()


def write_bytes(path, data):
    if is_remote(path):
        with _gfile().GFile(path, "wb") as fh:
            fh.write(data)
    else:
        with open(path, "wb") as fh:
            fh.write(data)


def rename(src, dst):
    """Move ``src`` onto ``dst`` (replacing a file there)."""
    if is_remote(src):
        _gfile().rename(src, dst, overwrite=True)
    else:
        os.replace(src, dst)


def remove(path):
    """Delete a file if it exists."""
    try:
        if is_remote(path):
            _gfile().remove(path)
        else:
            os.remove(path)
    except Exception:  # OSError, or tf.errors.NotFoundError (not an OSError)
        if exists(path):
            raise


def rmtree(path):
    """Delete a folder and everything in it, if it exists."""
    if is_remote(path):
        if _gfile().exists(path):
            _gfile().rmtree(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def stat(path):
    """(size in bytes, modification time in ns) of a file."""
    if is_remote(path):
        info = _gfile().stat(path)
        return info.length, info.mtime_nsec
    info = os.stat(path)
    return info.st_size, info.st_mtime_ns


def absolute(path):
    return path if is_remote(path) else os.path.abspath(path)
