"""Multi-worker faults: a worker that stops answering makes the other stop within
--worker-timeout, naming it, keeping the chief's last checkpoint.

A worker SIGKILLed on a live host closes its connections and is noticed at once;
test_multiworker.py covers that, and that restarting both workers resumes from the
chief's last checkpoint (the same restart follows this case).
"""

import signal
import time

import pytest
from test_multiworker import LIMIT, _argv, _finish, _two_workers_past_the_first_checkpoint

from tfpix2pix import run_folder


def test_a_silent_worker_is_given_up_after_the_timeout(
        pairs_dir, tmp_path):
    run_dir = tmp_path / "run"
    timeout = 10
    argv = _argv(pairs_dir, run_dir, "--epochs", "15", "--n-epochs-decay", "1",  # 64 steps
                 "--worker-timeout", str(timeout))
    chief, worker = _two_workers_past_the_first_checkpoint(argv, run_dir)
    # SIGSTOP: the process holds its connections open but sends nothing, as a host that
    # lost power or network does. Only the missing heartbeats can tell the chief.
    worker.send_signal(signal.SIGSTOP)
    began = time.monotonic()
    try:
        status, _out, err = _finish(chief)  # LIMIT is the hang guard
    finally:
        worker.send_signal(signal.SIGKILL)
        _finish(worker)
    waited = time.monotonic() - began
    print(f"the chief stopped {waited:.1f} s after worker 1 went silent "
          f"(--worker-timeout {timeout})")
    assert waited < LIMIT
    assert status == 2, err[-3000:]
    message = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(message) == 1 and "lost contact with another worker (worker 1)" in message[0]
    assert "Traceback" not in err
    latest = run_folder.latest_checkpoint(run_dir)
    assert latest in message[0] and 4 <= int(latest.rsplit("-", 1)[1]) < 64


class _Strategy:
    """Just the cluster resolver ``Role`` reads."""

    def __init__(self, cluster, task_type, task_id):
        import tensorflow as tf
        self.cluster_resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id)


@pytest.mark.parametrize("cluster, me, error, lost", [
    ({"worker": ["a:1", "b:2", "c:3"]}, ("worker", 0),
     "Collective ops is aborted by: failed to connect to /job:worker/replica:0/task:2", "worker 2"),
    ({"worker": ["a:1", "b:2", "c:3"]}, ("worker", 2),
     "task /job:worker/replica:0/task:0 heartbeat timeout", "chief"),
    ({"chief": ["a:1"], "worker": ["b:2"]}, ("worker", 0),
     "/job:chief/replica:0/task:0 unavailable", "chief"),
    ({"worker": ["a:1", "b:2"]}, ("worker", 1), "Socket closed", "chief"),  # the only other
    ({"worker": ["a:1", "b:2", "c:3"]}, ("worker", 1), "Socket closed", "another worker"),
])
def test_the_lost_worker_is_named_from_the_error(cluster, me, error, lost):
    from tfpix2pix.training.cluster import Role
    assert Role(_Strategy(cluster, *me)).lost_worker(Exception(error)) == lost
