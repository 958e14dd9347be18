"""Stopping a run on Ctrl-C (SIGINT) or SIGTERM, between two steps.

The handlers only record the request. The training loop checks it between
steps, saves a checkpoint and returns, so the stop never depends on where in
TensorFlow or tf.data Python happens to be when the signal arrives. SIGTERM is
what schedulers (Kubernetes, Slurm, cloud preemption) send before they kill a
job, so it is handled like Ctrl-C.

A second signal raises ``KeyboardInterrupt`` at once, for a user who does not
want to wait for the save. The previous checkpoint stays the latest one:
``tf.train.CheckpointManager`` records a new checkpoint only after all of its
files are written.

The handlers do no I/O: printing from a handler that interrupted a write to the
same stream fails with "reentrant call".
"""

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Whether, and by which signal, the user asked the run to stop.

    Use as a context manager: it installs the handlers on entry (in the main
    thread only; elsewhere Python does not allow it) and restores the previous
    handlers on exit. ``request`` records a stop without a signal.
    """

    def __init__(self):
        self.signum = None
        self._previous = {}

    @property
    def requested(self):
        return self.signum is not None

    @property
    def name(self):
        return signal.Signals(self.signum).name

    @property
    def exit_code(self):
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum

    def request(self, signum=signal.SIGINT):
        if self.signum is None:
            self.signum = int(signum)

    def adopt(self, signum):
        """Stop for ``signum`` (agreed with other workers), whatever was asked here."""
        self.signum = int(signum)

    def _handle(self, signum, _frame):
        if self.requested:
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}: stopping at once")
        self.request(signum)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def reinstall(self):
        """Take SIGINT and SIGTERM back after native code replaced their handlers.

        TensorFlow's coordination service (started by MultiWorkerMirroredStrategy)
        installs a C++ SIGTERM handler of its own, behind Python's back; Python's
        ``signal.getsignal`` still reports ours, but the process no longer calls it.
        """
        if self._previous:
            for sig in SIGNALS:
                signal.signal(sig, self._handle)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
        return False
