"""Task workers share the machine's cores: each runs its ops on its share, never every core each."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from qkernel import threads_per_task

PROBE = ("from flows.common import configure_worker; configure_worker(); import tensorflow as tf; "
         "print(tf.config.threading.get_intra_op_parallelism_threads(), "
         "tf.config.threading.get_inter_op_parallelism_threads())")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_dd_worker_uses_its_share_of_the_cores(workers: int) -> None:
    env = {**os.environ, "PREFECT_TASKS_RUNNER_PROCESS_POOL_MAX_WORKERS": str(workers)}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    intra, inter = map(int, out.stdout.split()[-2:])
    cores = len(os.sched_getaffinity(0))
    assert (intra, inter) == (max(1, cores // workers), 1)


def test_more_tasks_than_cores_still_get_one_thread_each() -> None:
    cores = len(os.sched_getaffinity(0))
    assert threads_per_task(1) == cores and threads_per_task(4 * cores) == 1
