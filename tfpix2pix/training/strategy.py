"""The ``tf.distribute`` strategy of ``--strategy``, and where XLA applies (``--jit``).

``auto`` uses what the machine and the environment offer: several tasks in
``TF_CONFIG`` (what Kubeflow's TFJob and cloud trainers set) -> multi-worker; several
GPUs -> mirrored over them; else one device. A multi-worker strategy must exist before
TensorFlow runs its first op, which is why the CLI makes it first thing.
"""

import json
import os

import tensorflow as tf

from ..errors import UserError


def cluster_size(tf_config=None):
    """How many tasks (chief and workers) TF_CONFIG names; 0 without TF_CONFIG."""
    raw = os.environ.get("TF_CONFIG", "") if tf_config is None else tf_config
    if not raw.strip():
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except (ValueError, AttributeError):
        raise UserError("TF_CONFIG is not valid JSON; set it to {\"cluster\": {\"worker\": "
                        "[\"host:port\", ...]}, \"task\": {\"type\": \"worker\", \"index\": i}}"
                        ) from None
    return sum(len(cluster.get(kind, ())) for kind in ("chief", "worker"))


def make_strategy(kind="auto", worker_timeout=None):
    """The ``tf.distribute`` strategy for ``--strategy``.

    ``auto``: MultiWorkerMirroredStrategy if TF_CONFIG names several tasks, else
    MirroredStrategy over the GPUs if there are several, else the default.
    ``mirrored``: MirroredStrategy over all GPUs, or all logical CPUs if there are none.
    ``multiworker``: MultiWorkerMirroredStrategy over the cluster in TF_CONFIG (or this
    machine alone without it). ``default``: the default (single-device) strategy.

    MultiWorkerMirroredStrategy must be created before TensorFlow runs its first op;
    ``worker_timeout`` (seconds) bounds how long its workers wait for a lost one (see
    ``cluster.multi_worker_strategy``).
    """
    if kind == "multiworker" or (kind == "auto" and cluster_size() > 1):
        from .cluster import multi_worker_strategy
        return multi_worker_strategy(worker_timeout)
    gpus = tf.config.list_logical_devices("GPU")
    if kind == "mirrored" or (kind == "auto" and len(gpus) > 1):
        if gpus:
            return tf.distribute.MirroredStrategy([d.name for d in gpus])
        # Replicas on (logical) CPUs: reduce by copying to one device. The default
        # collective all-reduce clashes with an earlier strategy's collective keys
        # in the same process ("Shape mismatch in the collective instance").
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(
            cpus, cross_device_ops=tf.distribute.ReductionToOneDevice(cpus[0]))
    return tf.distribute.get_strategy()


def resolve_jit(setting):
    """``--jit auto|on|off`` -> bool: auto is on with a GPU, off on CPUs (slower there)."""
    if setting == "auto":
        return bool(tf.config.list_logical_devices("GPU"))
    return setting == "on"
