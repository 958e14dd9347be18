"""A one-line progress bar: epoch, step, percent, ETA, images/s and losses."""

import sys
import time

from ..progress import bar, clock, show


class Progress:
    """Redraws in place on a terminal; prints a line every ``line_every`` steps otherwise.

    ``total_steps`` is the step the run stops at (``--max-steps`` when it comes first):
    the bar, the ETA and the epoch count all end there.
    """

    def __init__(self, start_step, total_steps, steps_per_epoch, images_per_step,
                 line_every=100, stream=sys.stderr):
        self.start, self.total = start_step, total_steps
        self.per_epoch, self.images_per_step = steps_per_epoch, images_per_step
        self.epochs = -(-total_steps // steps_per_epoch)  # the last one may be partial
        self.stream, self.tty = stream, stream.isatty()
        self.line_every = line_every
        self.first = None  # (step, time) of the first update: the rate leaves out tracing
        self.last_draw = 0.0
        self.last_step = None

    def update(self, step, losses, force=False, counts=None):
        """Draw ``step`` with ``losses`` (floats) and ``counts`` (ints, e.g. skipped steps)."""
        now = time.perf_counter()
        if self.tty and not force and now - self.last_draw < 0.25:
            return
        if not self.tty and (step == self.last_step or (not force and step % self.line_every)):
            return
        self.last_draw, self.last_step = now, step
        if self.first is None:
            self.first = (step, now)
        done, seconds = step - self.first[0], now - self.first[1]
        rate = done / seconds if done and seconds > 0 else 0.0
        eta = clock((self.total - step) / rate) if rate else "--:--"
        # No rate until one is measured: the first update only starts the clock.
        speed = f"{rate * self.images_per_step:.1f} img/s " if rate else ""
        epoch = min(step // self.per_epoch + 1, self.epochs)
        text = (f"epoch {epoch}/{self.epochs} step {step}/{self.total} "
                f"{bar(step, self.total)} ETA {eta} {speed}"
                + " ".join([f"{k} {v:.3f}" for k, v in losses.items()]
                           + [f"{k} {v}" for k, v in (counts or {}).items()]))
        show(self.stream, text)

    def close(self):
        """End the redrawn line (once)."""
        if self.tty and self.last_draw:
            self.stream.write("\n")
            self.stream.flush()
        self.last_draw = 0.0
