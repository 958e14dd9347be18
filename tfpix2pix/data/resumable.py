"""Resumable HTTP downloads: a cut connection continues where it stopped, failures are retried.

``fetch(url, part, stream)`` completes the file ``part`` from ``url``. If ``part``
already holds bytes (a cut connection, or a run that was killed), it asks for
the rest with ``Range: bytes=N-``: a 206 answer is appended, a 200 (a server
that ignores Range) replaces the file, a 416 means it is complete already. A
refused connection, a timeout, an HTTP 5xx, 408 or 429, or a connection that
closes before the announced length is tried again, ``TRIES`` times in all,
``BACKOFF`` seconds apart and doubling; an HTTP 404 or other 4xx fails at once.
A progress line (``ByteProgress``: bytes, rate, time left) goes to ``stream``.
"""

import http.client
import os
import time
import urllib.error
import urllib.request

from ..errors import UserError
from ..progress import bar, clock, show

TRIES = 5
BACKOFF = 1.0  # seconds before the second try, doubled for each next one (1, 2, 4, 8)
TIMEOUT = 60  # seconds without a byte before a try is given up
CHUNK = 1 << 16


def size_text(n):
    """``532 B``, ``12.3 kB``, ``45.6 MB``, ``1.2 GB``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


class ByteProgress:
    """``downloading [####......] 12.3 MB/45.6 MB  3.1 MB/s  ETA 00:10`` (the total may be
    unknown). On a terminal it is redrawn at most 4 times a second; in a log a line is
    printed about every tenth of the way (every 10 MB when the total is unknown)."""

    def __init__(self, verb, total, stream, start=0):
        self.verb, self.total, self.stream, self.start = verb, total, stream, start
        self.began, self.last_draw = time.perf_counter(), 0.0
        self.step = max(1, total // 10) if total else 10**7
        self.next_line = start + self.step
        self.drawn, self.last_done = False, None

    def update(self, done):
        now = time.perf_counter()
        last = done == self.total
        tty = self.stream.isatty()
        if last and self.last_done == done:
            return
        if not last and (now - self.last_draw < 0.25 if tty else done < self.next_line):
            return
        self.last_draw, self.drawn, self.next_line = now, True, done + self.step
        self.last_done = done
        rate = (done - self.start) / (now - self.began) if now > self.began else 0.0
        if self.total:
            eta = clock((self.total - done) / rate) if rate else "--:--"
            text = (f"{self.verb} {bar(done, self.total)} {size_text(done)}/"
                    f"{size_text(self.total)}  {size_text(rate)}/s  ETA {eta}")
        else:
            text = f"{self.verb} {size_text(done)}  {size_text(rate)}/s"
        show(self.stream, text)

    def close(self):
        if self.drawn and self.stream.isatty():
            self.stream.write("\n")
            self.stream.flush()
        self.drawn = False


class _Transient(Exception):
    """A failure worth another try (connection, timeout, cut, server error)."""


def _content_range(value):
    """(first byte, total or None) of a Content-Range header ``bytes a-b/n`` or ``*/n``."""
    try:
        span, _, total = value.split(" ", 1)[1].partition("/")
        first = None if span == "*" else int(span.split("-")[0])
        return first, None if total in ("", "*") else int(total)
    except (AttributeError, IndexError, ValueError):
        return None, None


def _get(url, part, stream, advice):
    """One try at completing ``part`` from ``url``; the bytes it now holds."""
    have = os.path.getsize(part) if os.path.exists(part) else 0
    headers = {"User-Agent": "tfpix2pix"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                          timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: complete, or a stale part
            if _content_range(exc.headers.get("Content-Range"))[1] == have:
                return have
            os.remove(part)
            raise _Transient("the server cannot resume this file; starting over") from None
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from None
        raise UserError(f"{url}: HTTP {exc.code} {exc.reason}; check the address"
                        f"{advice}") from None
    except (OSError, http.client.HTTPException) as exc:  # URLError, refused, timeout
        raise _Transient(str(getattr(exc, "reason", None) or exc)) from None
    with response:
        if response.status == 206:
            first, total = _content_range(response.headers.get("Content-Range"))
            if first != have:
                os.remove(part)
                raise _Transient(f"the server resumed at byte {first}, not {have}; starting "
                                 "over")
        else:  # 200: the whole file (a server that ignores Range sends it again)
            have, length = 0, response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        progress = ByteProgress("downloading", total, stream, start=have)
        with open(part, "ab" if have else "wb") as fh:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    progress.close()
                    raise _Transient(f"the connection broke at {size_text(have)} "
                                     f"({exc or type(exc).__name__})") from None
                if not chunk:
                    break
                fh.write(chunk)
                have += len(chunk)
                progress.update(have)
        progress.close()
    if total is not None and have < total:
        raise _Transient(f"the connection closed at {size_text(have)} of {size_text(total)}")
    if total is not None and have > total:
        os.remove(part)
        raise _Transient(f"received {have} bytes, more than the {total} announced")
    return have


def fetch(url, part, stream, tries=None, backoff=None, advice=""):
    """Download ``url`` to ``part``, resuming what it holds; try ``tries`` times (default
    ``TRIES``), waiting ``backoff`` seconds (default ``BACKOFF``), doubled each time.
    Return the file's size. A failure is a one-line UserError ending in ``advice``
    (e.g. ", or use a mirror")."""
    tries = TRIES if tries is None else tries
    backoff = BACKOFF if backoff is None else backoff
    for attempt in range(1, tries + 1):
        try:
            return _get(url, part, stream, advice)
        except _Transient as exc:
            if attempt == tries:
                have = os.path.getsize(part) if os.path.exists(part) else 0
                again = f"again to resume from {size_text(have)}" if have else "again later"
                raise UserError(f"{url}: {exc} (try {attempt} of {tries}); run the command "
                                f"{again}{advice}") from None
            delay = backoff * 2 ** (attempt - 1)
            print(f"download: {exc}; trying again in {delay:g} s (try {attempt} of {tries})",
                  file=stream, flush=True)
            time.sleep(delay)
