"""The run folder: config.yaml, checkpoints/, images/ and TensorBoard events.

Rerunning on the same folder resumes it. A run folder belongs to one model:
a command whose model settings disagree with the saved config is refused
rather than silently mixing weights.
"""

import os

import yaml

from .. import config as C
from ..errors import UserError

CONFIG_FILE = "config.yaml"
# Settings that define the run; changing them on resume would mix two runs.
# (Epochs, logging and max_steps may change: that is how a run is extended.)
# (no_gan: such a run has no D to resume; the channels fix G's and D's shapes.)
IDENTITY_KEYS = tuple(k for k, _f, _t in C.leaves() if k.startswith("model.")) + (
    "data.direction", "data.input_nc", "data.output_nc", "train.batch_size", "train.no_gan")


def saved_config(run_dir):
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as fh:
        return yaml.safe_load(fh) or {}


def check_compatible(cfg, run_dir):
    """Refuse to resume ``run_dir`` with different identity settings."""
    saved = saved_config(run_dir)
    if saved is None:
        return
    try:
        old = C.apply_overrides(C.Config(), saved, os.path.join(run_dir, CONFIG_FILE))
    except UserError as exc:
        raise UserError(f"--run-dir {run_dir}: its {CONFIG_FILE} is unreadable ({exc}); "
                        "use a new --run-dir") from None
    for key in IDENTITY_KEYS:
        before, now = C.get(old, key), C.get(cfg, key)
        if before != now:
            flag = C.flag_for(key)
            raise UserError(f"--run-dir {run_dir} holds a run with {flag} {before}, but this "
                            f"command asks for {flag} {now}; use a new --run-dir, or "
                            f"{flag} {before} to resume it")


def prepare(cfg):
    """Create the run folder (checking a saved config first) and write config.yaml."""
    run_dir = cfg.run_dir
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise UserError(f"--run-dir {run_dir}: exists and is not a folder; choose another path")
    check_compatible(cfg, run_dir)
    os.makedirs(os.path.join(run_dir, "images"), exist_ok=True)
    C.save_yaml(cfg, os.path.join(run_dir, CONFIG_FILE))
    return run_dir
