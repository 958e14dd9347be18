"""Terminal progress lines: redrawn in place on a terminal, printed as lines in a log."""

import time


def clock(seconds):
    """12:34 or 1:02:03."""
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def bar(done, total, width=20):
    filled = int(width * done / total) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}]"


def show(stream, text):
    """Redraw ``text`` on a terminal's current line, or print it as a line of a log."""
    stream.write("\r" + text + "\x1b[K" if stream.isatty() else text + "\n")
    stream.flush()


class Count:
    """``[####......] 37/100 images  ETA 00:12  3.1 img/s`` over a known number of items.

    On a terminal it is redrawn at most 4 times a second (and at the last item); in a log
    a line is printed about every tenth of the way.
    """

    def __init__(self, total, stream, unit="images"):
        self.total, self.stream, self.unit = total, stream, unit
        self.tty = stream.isatty()
        self.start = time.perf_counter()
        self.last_draw, self.next_line = 0.0, 1
        self.drawn = False

    def update(self, done):
        now = time.perf_counter()
        last = done == self.total
        if self.tty and not last and now - self.last_draw < 0.25:
            return
        if not self.tty and not last and done < self.next_line:
            return
        self.last_draw, self.drawn = now, True
        self.next_line = done + max(1, self.total // 10)
        rate = done / (now - self.start) if now > self.start else 0.0
        eta = clock((self.total - done) / rate) if rate else "--:--"
        show(self.stream, f"{bar(done, self.total)} {done}/{self.total} {self.unit}  "
                          f"ETA {eta}  {rate:.1f} img/s")

    def close(self):
        """End the redrawn line (once)."""
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
        self.drawn = False
