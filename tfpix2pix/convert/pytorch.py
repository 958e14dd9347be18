"""A PyTorch state dict: read without running pickle code, checked, and put into Keras layers.

``torch.load(weights_only=True)`` rebuilds tensors and plain containers only; a file that
needs anything else (a pickled ``nn.Module``, an arbitrary object, a ``__reduce__`` that
would call a function) is refused by torch before any of it runs, and here that refusal
becomes one line. torch is imported only by ``read_state_dict``.

Tensor layouts: PyTorch's Conv2d weight is (out, in, kh, kw) and Keras's Conv2D kernel
(kh, kw, in, out); ConvTranspose2d is (in, out, kh, kw) and Keras's Conv2DTranspose
(kh, kw, out, in). Both are the same permutation, (2, 3, 1, 0). The kernels are not
flipped: both frameworks' transposed convolution scatters input pixel y to outputs
``stride * y + k - padding``. The spatial alignment (PyTorch's padding 1) is the
models' own business (``models/layers.py``); BatchNorm's weight, bias, running_mean and
running_var are Keras's gamma, beta, moving_mean and moving_variance.
"""

import os
import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping

import numpy as np

from ..errors import UserError
from . import layout as L

DATA_PARALLEL_PREFIX = "module."  # what nn.DataParallel / DDP put before every key
PICKLE_PROTO = b"\x80"  # the first byte of a pickle of protocol 2 or later (torch's legacy format)
SAVE_HINT = "save the generator's weights alone with torch.save(net.state_dict(), FILE)"


def _torch():
    try:
        import torch
    except ModuleNotFoundError:
        raise UserError("--from-pytorch needs PyTorch: pip install 'tfpix2pix[pytorch]' "
                        "(a CPU build is enough)") from None
    return torch


def _load(torch, path):
    """``torch.load(path, weights_only=True)``, its refusals as a UserError."""
    if not os.path.isfile(path):
        raise UserError(f"--from-pytorch {path}: file not found")
    with open(path, "rb") as fh:
        head = fh.read(1)
    if not (zipfile.is_zipfile(path) or head == PICKLE_PROTO):
        raise UserError(f"{path}: not a PyTorch file (neither torch.save's zip format nor a "
                        "pickle); pass a .pth written by torch.save")
    try:
        with warnings.catch_warnings():  # e.g. about the pickle protocol: the error says it
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+?)[:\s]", str(exc))
        what = f" ({found.group(1)})" if found else ""
        raise UserError(f"{path}: refused without loading it: it is not a plain state dict, "
                        f"it holds pickled Python objects{what} that only running its code "
                        f"could rebuild; {SAVE_HINT}") from None
    except Exception as exc:  # a truncated zip, a foreign format, ...
        raise UserError(f"{path}: torch.load cannot read it ({_first_line(str(exc))}); pass a "
                        ".pth written by torch.save") from None


def _first_line(text):
    line = text.strip().splitlines()[0] if text.strip() else "no reason given"
    return line.rstrip(".")


def read_state_dict(path):
    """(key -> numpy array, the prefix stripped or "") of a state dict file.

    Floating tensors become float32 arrays. A DataParallel ``module.`` prefix on every key
    is stripped. Anything but a flat mapping of names to tensors is refused.
    """
    torch = _torch()
    state = _load(torch, path)
    if not isinstance(state, Mapping):
        raise UserError(f"{path}: holds a {type(state).__name__}, not a state dict (names "
                        f"mapped to tensors); {SAVE_HINT}")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            shown = "a mapping" if isinstance(value, Mapping) else \
                f"of type {type(value).__name__}"
            raise UserError(f"{path}: entry {key!r} is {shown}, not a tensor: the file is not "
                            f"one network's state dict (a checkpoint that wraps one?); "
                            f"{SAVE_HINT}")
    prefix = ""
    if state and all(key.startswith(DATA_PARALLEL_PREFIX) for key in state):
        prefix = DATA_PARALLEL_PREFIX
    arrays = {}
    for key, tensor in state.items():
        tensor = tensor.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.to(torch.float32)
        arrays[key[len(prefix):]] = tensor.numpy()
    return arrays, prefix


def check(path, arrays, spec):
    """Raise a one-line UserError naming the first key where ``arrays`` differs from
    ``spec``'s layout, and the flags the file does match, if any."""
    shapes = {key: value.shape for key, value in arrays.items()}
    problem = L.mismatch(shapes, spec)
    if problem is None:
        return
    found = L.matching(shapes)
    if found:
        hint = f"the file matches {found[0].flags()}"
    else:
        hint = (f"it matches no generator this command converts (--netG "
                f"{'|'.join(L.CONVERTIBLE)}, --norm {'|'.join(L.NORMS)}, with or without "
                "--no-dropout)")
    raise UserError(f"{path}: {problem}; {hint}")


def keras_value(array, variable):
    """A PyTorch tensor's values in the layout of the Keras variable ``variable``."""
    if variable == "kernel":  # (out, in, kh, kw) or (in, out, kh, kw) -> (kh, kw, in|out, out|in)
        return np.transpose(array, (2, 3, 1, 0))
    return array


def assign(generator, arrays, spec):
    """Set every weight of ``generator`` (built for ``spec``) from ``arrays``.

    Returns the keys that were read and not used (BatchNorm's ``num_batches_tracked``,
    old InstanceNorm statistics). A Keras weight no key reaches is a bug, and raises.
    """
    assigned, unused = set(), []
    for entry in L.layout(spec):
        if entry.key not in arrays:
            continue  # an optional key (check() has refused any other absence)
        if entry.layer is None:
            unused.append(entry.key)
            continue
        variables = {v.name: v for v in generator.get_layer(entry.layer).weights}
        variable = variables[entry.variable]
        value = keras_value(arrays[entry.key], entry.variable)
        if tuple(variable.shape) != value.shape:
            raise RuntimeError(f"{entry.key} -> {variable.path}: shape {value.shape} for a "
                               f"variable of shape {tuple(variable.shape)}")
        variable.assign(value)
        assigned.add(id(variable))
    for variable in generator.weights:
        if id(variable) not in assigned and "seed_generator" not in variable.path:
            raise RuntimeError(f"no key of the state dict reaches {variable.path}")
    return unused
