"""One process per run folder: ``RunLock`` holds ``<run folder>/.lock`` while a run
writes the folder, and tells a second process who holds it."""

import contextlib
import fcntl
import os
import socket
import warnings

from ..errors import Pix2PixWarning, UserError
from ..files import failure_reason
from .layout import LOCK_FILE


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
