"""Names are the public API: the words the command line and experiment files accept.

Each option that takes a name has one ``Registry``: its names in order, each with a
one-line summary from which ``--help`` is written. The code looks behaviour up by
name (``losses``' terms, ``schedule.make_schedule``, ``export.tflite.convert``, ...),
and the config tree (``tfpix2pix.config``) takes its choices from the registries;
``config.list_names(option)`` lists any option's names, as timm's ``list_models``.

A family is declared where its names are defined when that module is free of
TensorFlow: the data options in ``data.layouts``, the architectures, norms and test
modes in ``models.registry``. The families below are implemented in modules that
need TensorFlow, so their names live here. This module imports nothing from the
package, so options are checked before TensorFlow loads.
"""

from collections.abc import Mapping


def check_choice(what, value, allowed):
    """Raise ValueError in the house style if ``value`` is not in ``allowed``."""
    if value not in allowed:
        raise ValueError(f"`{what}` must be one of {', '.join(allowed)}. "
                         f"Received: {what}={value!r}")


class Registry(Mapping):
    """The names option ``option`` takes, in order, each mapped to its entry.

    An entry is a one-line summary ("" when the name says it all), or an object
    with a ``summary`` attribute (``models.registry.Architecture``).
    """

    def __init__(self, option, entries):
        self.option = option
        self._entries = dict(entries)

    def __getitem__(self, name):
        return self._entries[name]

    def __iter__(self):
        return iter(self._entries)

    def __len__(self):
        return len(self._entries)

    def __repr__(self):
        return f"Registry({self.option!r}, {tuple(self)})"

    @property
    def names(self):
        return tuple(self._entries)

    def summary(self, name):
        entry = self._entries[name]
        return entry if isinstance(entry, str) else entry.summary

    def describe(self):
        """Every name with its summary, for ``--help``: ``a (what a does); b; ...``."""
        return "; ".join(f"{name} ({self.summary(name)})" if self.summary(name) else name
                         for name in self)

    def check(self, value):
        """``value`` if it is one of the names, else ValueError naming the option."""
        check_choice(self.option, value, self)
        return value

    def subset(self, *names):
        """Some of the names, as a tuple; a name that is not registered fails at import."""
        return tuple(self.check(name) for name in names)


# The GAN objectives (their terms are tabled and computed in ``training.losses``).
GAN_MODES = Registry("gan_mode", {
    "vanilla": "BCE, non-saturating G loss",
    "lsgan": "least squares",
    "hinge": "",
    "wgangp": "Wasserstein with a gradient penalty",
})
# Modes whose D loss has a gradient penalty: its per-example gradients are only
# the example's own with a D that does not mix examples (no batch norm).
GRADIENT_PENALTY_MODES = GAN_MODES.subset("wgangp")

# Learning-rate policies, per epoch (``training.schedule``).
LR_POLICIES = Registry("lr_policy", {
    "linear": "constant for --epochs, then linear decay to zero over --n-epochs-decay",
    "step": "x0.1 every --lr-decay-iters epochs",
    "cosine": "from lr to zero over all epochs",
    "constant": "",
})

# Where decoded, resized pairs are kept after their first decode (``data.pipeline``).
CACHE_MODES = Registry("cache", {
    "memory": "",
    "disk": "files in <run folder>/cache, for datasets larger than RAM, reused when the run "
            "resumes",
    "none": "decode every epoch",
})

# Distribution strategies (``training.strategy``).
STRATEGIES = Registry("strategy", {
    "auto": "multiworker when TF_CONFIG names several tasks, else mirrored over the GPUs if "
            "there are several, else default",
    "default": "one device",
    "mirrored": "MirroredStrategy over all local GPUs, or logical CPUs",
    "multiworker": "MultiWorkerMirroredStrategy over the cluster in TF_CONFIG",
})

# Numeric precision of training (``training.precision``).
PRECISIONS = Registry("precision", {
    "fp32": "float32 throughout",
    "mixed_bf16": "fast on GPUs and on CPUs with AVX512_BF16 or AMX, slow elsewhere",
    "mixed_fp16": "GPUs, with dynamic loss scaling",
    "auto": "mixed_bf16 where the hardware has bfloat16, else fp32",
})

# What a step with a non-finite loss or gradient does (``training.step``).
NAN_POLICIES = Registry("nan_policy", {
    "stop": "end the run naming the step and the losses, keeping the last good checkpoint",
    "skip": "drop that step's update and count it; stop after --max-skipped-steps in a row",
    "off": "no check, as in the PyTorch reference: such a step's update reaches the weights "
           "(a few percent faster; docs/reliability.md)",
})

# XLA compilation of the train step (``training.strategy.resolve_jit``).
JIT_MODES = Registry("jit", {
    "auto": "on for GPUs, off for CPUs, where it is slower",
    "on": "",
    "off": "",
})

# TFLite conversions (``export.tflite.convert``); all keep float32 inputs and outputs.
TFLITE_KINDS = Registry("tflite", {
    "fp32": "",
    "fp16": "float16 weights",
    "int8": "dynamic range",
    "int8_full": "full integer, calibrated on the run's training images",
})
