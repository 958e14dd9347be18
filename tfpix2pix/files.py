"""Writing files so that a reader never sees half of one."""

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
