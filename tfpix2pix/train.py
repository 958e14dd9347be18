"""Train pix2pix: ``python -m tfpix2pix.train [--config FILE] [flags]``.

With no ``--data`` it trains a small model on a built-in, generated
labels->rendering dataset (a few minutes on a CPU). Rerunning a command on the
same ``--run-dir`` resumes it.
"""

import atexit
import os
import sys

from .cli import build_parser, report_user_error, resolve_config
from .data import folder
from .errors import UserError, quiet_tensorflow_import, warnings_as_lines
from .training.stop import StopRequest

EPILOG = """examples:
  python -m tfpix2pix.train                      # built-in demo dataset, ~3 minutes on a CPU
  python -m tfpix2pix.train --config experiments/facades.yaml --data datasets/facades
  python -m tfpix2pix.train --data maps --direction AtoB --run-dir runs/maps
  tensorboard --logdir runs
"""


def main(argv=None, out=None, err=None):
    """Run the command; return its exit status (0, 2 for a user error, 128 + signal if stopped)."""
    # Handlers first, so that a Ctrl-C or SIGTERM during the slow imports counts too.
    with StopRequest() as stop:
        parser = build_parser("python -m tfpix2pix.train", __doc__.splitlines()[0], EPILOG)
        args = parser.parse_args(argv)
        try:
            cfg = resolve_config(args)
            files = None
            if not cfg.data.path.startswith(folder.BUILTIN_PREFIX):
                files = folder.find_splits(cfg.data.path,  # before the import
                                           dataset_mode=cfg.data.dataset_mode)
            warnings_as_lines(err)
            strategy = []  # made before TF's first op: a multi-worker strategy must be

            def make_strategy():
                from .training.strategy import make_strategy
                strategy.append(make_strategy(cfg.train.strategy, cfg.train.worker_timeout))
                stop.reinstall()  # a multi-worker strategy takes SIGTERM for itself

            quiet_tensorflow_import(before_first_op=make_strategy)
            from .training.loop import train
            train(cfg, files=files, out=out, err=err, stop=stop, strategy=strategy[0])
        except UserError as exc:
            return report_user_error(exc)
        except KeyboardInterrupt:  # a second signal while stopping
            return stop.exit_code if stop.requested else 130
        return stop.exit_code if stop.requested else 0


def main_entry():
    status = main()
    if "TF_CONFIG" in os.environ:  # a multi-worker run: see _exit_at_once
        sys.exit(status)
    _exit_at_once(status)


def _exit_at_once(status):
    """Exit with ``status`` without the interpreter's teardown.

    That teardown (collecting every object of TensorFlow's, Keras's and the traced
    step's modules, then TensorFlow's C++ destructors) took 1.0-1.5 s after "Finished"
    on the demo (2 busy cores), longer the busier the machine, and has nothing left to
    do: the event writer is closed and checkpoints are written before the report. The
    atexit handlers still run (logging, autograph's temporary files). The workers of a
    multi-worker run (TF_CONFIG set) exit normally, shutting their coordination service
    down together.
    """
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status)


if __name__ == "__main__":
    main_entry()
