"""Who writes what in a multi-worker run, and what the workers must agree on.

Under ``MultiWorkerMirroredStrategy`` every worker runs the same program: each
builds the model, steps, saves and reads together with the others, because
saving and some reads take part in collective operations. Only the chief
(task ``chief``, or ``worker`` 0 if there is none) writes to the run folder:
config.yaml, TensorBoard events, grids and the checkpoints. The other workers
save their checkpoints to a temporary folder that is deleted again, as
TensorFlow's multi-worker guide prescribes.

A resumed run restores the chief's latest checkpoint on every worker, so the
run folder must be on storage all workers see (one machine, NFS, gs://).

A lost worker must not leave the others waiting forever in a collective
operation. A killed process whose host is up closes its connections, and the
others' next collective fails at once. A worker that stops answering without
closing them (its host lost power or network, or the process is frozen) is
declared lost by the coordination service when its heartbeats have been missing
for ``--worker-timeout`` seconds; with ``TFPIX2PIX_COLLECTIVE_TIMEOUT`` set,
every collective operation also gives up after that many seconds (TensorFlow
runs a timer per collective for it, a cost, so it is off by default). Either way
the others stop with one line naming the lost worker (``lost_worker``), and
restarting every worker resumes from the chief's last checkpoint.
"""

import hashlib
import os
import re
import shutil
import signal
import tempfile

import numpy as np
import tensorflow as tf

from ..errors import UserError


def multi_worker_strategy(worker_timeout=None):
    """MultiWorkerMirroredStrategy over TF_CONFIG's cluster whose workers give a lost one up
    after ``worker_timeout`` seconds of silence (None: TensorFlow's defaults)."""
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2

    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    spec = resolver.cluster_spec()
    jobs = [job for job in ("chief", "worker") if job in spec.jobs]
    configured = context.context().coordination_service is not None
    if worker_timeout and resolver.task_type in jobs and not configured:
        # As the strategy would configure it, with our heartbeat timeout.
        context.context().configure_coordination_service(
            service_type="standalone", service_leader=multi_worker_util.coordination_leader(spec),
            heartbeat_timeout_in_ms=int(worker_timeout * 1000),
            coordinated_jobs=[coordination_config_pb2.CoordinatedJob(
                name=job, num_tasks=spec.num_tasks(job)) for job in jobs])
    collective = float(os.environ.get("TFPIX2PIX_COLLECTIVE_TIMEOUT", "0") or 0)
    options = tf.distribute.experimental.CommunicationOptions(
        timeout_seconds=collective or None)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


class Role:
    def __init__(self, strategy):
        resolver = getattr(strategy, "cluster_resolver", None)
        spec = resolver.cluster_spec().as_dict() if resolver else {}
        self.workers = sum(len(spec.get(kind, ())) for kind in ("chief", "worker")) or 1
        self.task_type = resolver.task_type if resolver else None
        self.task_id = resolver.task_id if resolver else None
        self.strategy = strategy
        self.chief = (self.task_type in (None, "chief") or
                      (self.task_type == "worker" and self.task_id == 0 and "chief" not in spec))
        self.name = "chief" if self.chief else f"{self.task_type} {self.task_id}"
        self._worker_zero_is_chief = "chief" not in spec
        self._scratch = None

    def lost_worker(self, exc):
        """The worker a collective error ``exc`` names, if it names one other than this one,
        else "another worker"."""
        for kind, index in re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", str(exc)):
            chief = kind == "chief" or (kind, index, self._worker_zero_is_chief) == (
                "worker", "0", True)
            name = "chief" if chief else f"{kind} {index}"
            if name != self.name:
                return name
        if self.workers == 2:  # the one other worker
            return "worker 1" if self.chief else "chief"
        return "another worker"

    @property
    def multiworker(self):
        return self.workers > 1

    def write_dir(self, run_dir):
        """Where this worker writes checkpoints: the run folder, or a scratch folder."""
        if self.chief:
            return run_dir
        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix=f"tfpix2pix-{self.task_type}{self.task_id}-")
        return self._scratch

    def clean_up(self):
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def _sum(self, values):
        """The element-wise sum of ``values`` (floats) over all replicas of all workers."""
        x = tf.constant([float(v) for v in values], tf.float64)
        per_replica = self.strategy.experimental_distribute_values_from_function(
            lambda _ctx: x)
        total = self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
        return [float(v) for v in total.numpy()]

    def agree_on_start(self, step):
        """Fail on every worker alike unless all of them restored the same step."""
        if not self.multiworker:
            return
        total, squares = self._sum([step, step * step])
        n = self.strategy.num_replicas_in_sync
        if total * total != n * squares:  # all equal exactly when the variance is zero
            raise UserError(
                f"the workers restored different steps (this {self.name}: {step}, mean "
                f"{total / n:g}); put --run-dir on storage every worker sees (the chief's "
                "checkpoints are the ones restored) and rerun the same command on all of them")

    def agreed_signal(self, signum):
        """The stop signal requested on any worker (SIGTERM over SIGINT), or None.

        Every worker gets the same answer, so all of them stop after the same step and
        exit with the same status (a scheduler must not see a stopped chief succeed).
        """
        if not self.multiworker:
            return signum
        terms, ints = self._sum([signum == signal.SIGTERM, signum == signal.SIGINT])
        if terms:
            return signal.SIGTERM
        return signal.SIGINT if ints else None


def weights_digest(model):
    """SHA-256 of G's and D's trainable weights: equal on workers that are in sync."""
    digest = hashlib.sha256()
    for net in (model.generator, model.discriminator):
        for variable in net.trainable_variables if net is not None else ():
            digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.hexdigest()
