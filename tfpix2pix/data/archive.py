"""Safe extraction of a tar archive: every member lands inside the target, as a plain file.

A downloaded archive is data from elsewhere, so each member is checked before it is
written, and the whole archive is refused, with one line naming the member and why,
if any member is:

* an absolute path (``/etc/passwd``), or a path with a ``..`` part;
* a path that leaves the target through a link extracted before it;
* a symbolic or hard link whose target is absolute or outside the target;
* a device file, a FIFO or any other special file.

Python 3.11.4 and later also have tarfile's ``data`` filter, which makes the same
checks and drops set-uid bits and ownership; it is applied on top where it exists
(``HAS_DATA_FILTER``). Without it, the members are written without their stored
modes and owners. Links that stay inside are allowed, as the filter allows them.

A truncated or corrupt archive (gzip, bzip2 or xz) is reported as ``BadArchive``,
a ``UserError`` the caller may act on (download discards the file and starts over).
The caller extracts into a temporary folder (``staging``), so a refusal or a broken
archive leaves nothing half-extracted where the data should be.
"""

import lzma
import os
import tarfile
import zlib

from ..errors import UserError

HAS_DATA_FILTER = hasattr(tarfile, "data_filter")


class BadArchive(UserError):
    """The archive itself is wrong (unsafe, truncated, or not the data expected)."""


def _inside(path, folder):
    return os.path.commonpath([path, folder]) == folder


def refusal(member, dest):
    """Why ``member`` may not be extracted into the folder ``dest`` (a phrase), or None."""
    name = member.name
    if name.startswith(("/", "\\")) or os.path.isabs(name) or name[1:3] in (":/", ":\\"):
        return "an absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "a path with '..' in it"
    if member.ischr() or member.isblk():
        return "a device file"
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return "a special file (FIFO or other)"
    root = os.path.realpath(dest)
    if not _inside(os.path.realpath(os.path.join(root, name)), root):
        return "a path that leaves the folder through a link"
    if member.issym() or member.islnk():
        link = member.linkname
        if link.startswith(("/", "\\")) or os.path.isabs(link):
            return f"a link to the absolute path {link!r}"
        base = os.path.dirname(name) if member.issym() else ""  # hard links: from the root
        if not _inside(os.path.realpath(os.path.join(root, base, link)), root):
            return f"a link to {link!r}, outside the folder"
    return None


def extract(archive, dest, progress=None):
    """Extract the tar archive ``archive`` into the existing folder ``dest``; return the
    number of members. ``progress(bytes read)`` follows the (compressed) file.

    Raises ``BadArchive`` (one line) for an unsafe member or a broken archive.
    """
    count = 0
    try:
        with open(archive, "rb") as raw, tarfile.open(fileobj=raw, mode="r:*") as tar:
            for member in tar:
                reason = refusal(member, dest)
                if reason:
                    raise BadArchive(f"{archive}: member {member.name!r} is {reason}; the "
                                     "archive is refused and nothing of it is kept")
                if HAS_DATA_FILTER:
                    tar.extract(member, dest, filter="data")
                else:  # Python < 3.11.4
                    tar.extract(member, dest, set_attrs=False)
                count += 1
                if progress:
                    progress(raw.tell())
    except tarfile.FilterError as exc:  # a case ``refusal`` did not foresee
        raise BadArchive(f"{archive}: member {exc.tarinfo.name!r} refused ({exc}); the "
                         "archive is refused and nothing of it is kept") from None
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise _broken(archive, exc, count) from None
    except OSError as exc:
        if exc.errno is None:  # gzip's BadGzipFile, bz2's "Invalid data stream"
            raise _broken(archive, exc, count) from None
        raise UserError(f"{dest}: cannot write the extracted files ({exc.strerror}); check "
                        "the free space and permissions there") from None
    return count


def _broken(archive, exc, count):
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return BadArchive(f"{archive}: not a complete tar archive ({reason}, after {count} "
                      "members); download it again")
