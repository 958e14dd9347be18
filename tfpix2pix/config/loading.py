"""Config trees from nested mappings and YAML files, and back.

Experiment files may start from another file: ``base: table1_L1_cGAN.yaml`` (a path
relative to the file) loads that one first, and the file's own keys replace the
base's, key by key. So a file states only what differs from its base, and a base
only what differs from the defaults.
"""

import dataclasses
import os

import yaml

from ..errors import UserError
from ..files import write_atomic
from .schema import leaves

BASE_KEY = "base"
# Values older run folders saved: config.yaml of runs made before --cache took a mode.
LEGACY_VALUES = {"data.cache": {True: "memory", False: "none"}}


def to_dict(cfg):
    return dataclasses.asdict(cfg)


def _coerce(key, value, typ, source):
    if key in LEGACY_VALUES and isinstance(value, bool):
        return LEGACY_VALUES[key][value]
    if typ is tuple and isinstance(value, (list, tuple)) and all(isinstance(v, str)
                                                                 for v in value):
        return tuple(value)
    if typ is bool and isinstance(value, bool):
        return value
    if typ is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if typ in (int, str) and isinstance(value, typ) and not isinstance(value, bool):
        return value
    raise UserError(f"{source}: {key} must be {typ.__name__}, got {value!r}")


def apply_overrides(cfg, overrides, source):
    """Return a copy of ``cfg`` with nested ``overrides`` applied (unknown keys are errors)."""
    known = {key: (f, typ) for key, f, typ in leaves(type(cfg))}
    sections = {key.split(".")[0] for key in known if "." in key}
    flat = {}

    def flatten(d, prefix=""):
        if not isinstance(d, dict):
            raise UserError(f"{source}: expected a mapping at {prefix.rstrip('.') or 'top level'}")
        for k, v in d.items():
            key = prefix + str(k)
            if isinstance(v, dict) and key in sections:
                flatten(v, key + ".")
            elif key not in known:
                raise UserError(f"{source}: unknown key {key!r}; known keys are "
                                f"{', '.join(sorted(known))}")
            else:
                flat[key] = v

    flatten(overrides or {})
    new = dataclasses.replace(cfg, **{s: dataclasses.replace(getattr(cfg, s)) for s in sections})
    for key, value in flat.items():
        _f, typ = known[key]
        *parents, leaf = key.split(".")
        target = getattr(new, parents[0]) if parents else new
        setattr(target, leaf, _coerce(key, value, typ, source))
    return new


def merge(base, overrides):
    """``base`` with ``overrides`` on top, section by section (neither is changed)."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            value = merge(out[key], value)
        out[key] = value
    return out


def load_yaml(path, _chain=()):
    """The mapping of an experiment file, its ``base`` (if any) merged in beneath it."""
    where = " -> ".join(_chain + (path,))
    if not os.path.isfile(path):
        if _chain:
            raise UserError(f"--config {where}: file not found; {BASE_KEY} is a path relative "
                            f"to {_chain[-1]}")
        raise UserError(f"--config {path}: file not found; pass an experiment file such as "
                        "experiments/facades.yaml")
    try:
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"--config {where}: not valid YAML{line}; fix the file") from None
    if not isinstance(data, dict) or BASE_KEY not in data:
        return data
    base = data.pop(BASE_KEY)
    if not isinstance(base, str) or not base:
        raise UserError(f"--config {where}: {BASE_KEY} must name a YAML file, got {base!r}")
    base_path = os.path.normpath(os.path.join(os.path.dirname(path), base))
    if os.path.abspath(base_path) in {os.path.abspath(p) for p in _chain + (path,)}:
        raise UserError(f"--config {where}: {BASE_KEY} {base} leads back to a file of the "
                        "chain; remove the loop")
    return merge(load_yaml(base_path, _chain + (path,)), data)


def save_yaml(cfg, path, header=None):
    """Write the resolved config atomically (a reader never sees half a file), after the
    keys of ``header`` (e.g. the version that wrote it)."""
    write_atomic(path, yaml.safe_dump({**(header or {}), **to_dict(cfg)}, sort_keys=False))
