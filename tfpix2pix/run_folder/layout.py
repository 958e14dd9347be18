"""Where things are in a run folder, and reading its ``config.yaml``.

The names and paths of the layout that the package docstring draws, and
``read_config``, which refuses a config.yaml written by a newer tfpix2pix.
"""

import os

import yaml

from .. import config as C
from ..errors import UserError
from ..version import __version__

CONFIG_FILE = "config.yaml"
CHECKPOINTS = "checkpoints"
IMAGES = "images"
CACHE = "cache"
SKIPPED_FILES = "skipped_files.txt"
CHECKPOINT_PREFIX = "ckpt"  # checkpoints/ckpt-<step>
LOCK_FILE = ".lock"  # held while a run writes the folder (``RunLock``)
VERSION_KEY = "tfpix2pix_version"  # in config.yaml: the version that wrote it
# In config.yaml, apart from the config tree: the library versions of the last session that
# trained the run. A run repeats bit for bit only under the same ones (``environment``).
ENVIRONMENT_KEY = "environment"


def config_path(run_dir):
    return os.path.join(run_dir, CONFIG_FILE)


def checkpoints_dir(run_dir):
    return os.path.join(run_dir, CHECKPOINTS)


def images_dir(run_dir):
    return os.path.join(run_dir, IMAGES)


def grid_path(run_dir, step):
    """Where the image grid of ``step`` is written."""
    return os.path.join(images_dir(run_dir), f"step_{step:07d}.png")


def cache_dir(run_dir):
    return os.path.join(run_dir, CACHE)


def skipped_files_path(run_dir):
    return os.path.join(run_dir, SKIPPED_FILES)


def is_run_folder(path):
    return os.path.isfile(config_path(path))


def read_config(run_dir):
    """The ``config.Config`` a run was trained with; a UserError if ``run_dir`` has none."""
    path = config_path(run_dir)
    if not os.path.isfile(path):
        raise UserError(f"{run_dir}: no {CONFIG_FILE} in it; pass a run folder made by "
                        "python -m tfpix2pix.train, or an exported model")
    with open(path) as fh:
        try:
            saved = yaml.safe_load(fh) or {}
        except yaml.YAMLError:
            raise UserError(f"{path}: not valid YAML; fix the file") from None
    if isinstance(saved, dict):
        _check_version(saved.pop(VERSION_KEY, None), path)
        saved.pop(ENVIRONMENT_KEY, None)
    return C.apply_overrides(C.Config(), saved, path)


class NewerVersion(UserError):
    """config.yaml from a newer tfpix2pix: said as it is, not as an unreadable file."""


def _check_version(written_by, path):
    """Refuse a config.yaml that a newer tfpix2pix wrote (it may hold what this one lacks)."""
    def parts(version):
        return tuple(int(p) if p.isdigit() else 0 for p in str(version).split(".")[:3])

    if written_by is not None and parts(written_by) > parts(__version__):
        raise NewerVersion(f"{path} was written by tfpix2pix {written_by}, newer than "
                           f"this {__version__}; upgrade (pip install -U tfpix2pix) to use "
                           "this run")
