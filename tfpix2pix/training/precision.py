"""Numeric precision of training: float32, or Keras mixed precision.

``mixed_bf16`` and ``mixed_fp16`` keep every variable in float32 and compute
the layers in bfloat16 / float16. G's tanh output, D's last conv (the logits)
and every loss stay float32. Checkpoints therefore hold float32 weights at any
precision: a run can resume at another precision, and an export is float32.

``auto`` picks ``mixed_bf16`` where bfloat16 has hardware behind it (GPUs of
compute capability 8.0 or newer; CPUs whose flags show AVX512_BF16 or AMX) and
``fp32`` elsewhere: on an AVX2-only CPU bfloat16 is emulated and slower.
"""

import contextlib

import keras
import tensorflow as tf

# Our names -> Keras dtype policy names.
POLICIES = {"fp32": "float32", "mixed_bf16": "mixed_bfloat16", "mixed_fp16": "mixed_float16"}
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(path="/proc/cpuinfo"):
    """The CPU's feature flags (Linux), or an empty set if they can't be read."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _gpu_has_bf16():
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability and tuple(capability) >= (8, 0):
            return True
    return False


def resolve(name, flags=None):
    """``fp32``, ``mixed_bf16`` or ``mixed_fp16`` for a ``--precision`` value."""
    if name != "auto":
        return name
    if _gpu_has_bf16():
        return "mixed_bf16"
    flags = cpu_flags() if flags is None else flags
    return "mixed_bf16" if any(f in flags for f in BF16_CPU_FLAGS) else "fp32"


@contextlib.contextmanager
def policy(precision):
    """Build layers under the dtype policy of ``precision`` (restored afterwards)."""
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)
