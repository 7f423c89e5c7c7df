"""What the flows share: cache policy, code version, run-folder hashing, parameter resolution, the prepare task.

Tasks exchange the validated :class:`~qkernel.config.Params` (a frozen pydantic model, hashed
by Prefect's cache policy and pickled to worker processes), file paths and JSON metrics —
never live models — so they can run in threads, processes or on Dask workers. Caching is
keyed on the task's inputs, the code version of ``qkernel`` + ``plugins`` and the identity of
the runs directory (a deleted one is not served from the cache).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import uuid
from pathlib import Path
from typing import Any

import qkernel
from prefect import task
from prefect.cache_policies import INPUTS, TASK_SOURCE, CachePolicy
from prefect.locking.memory import MemoryLockManager
from prefect.settings import get_current_settings

from qkernel.config import Params, load_params

__all__ = [
    "CACHE", "CODE", "LOG_FILE_ENV", "SERIALIZED", "check", "configure_worker", "copy_logs_to", "pool_workers",
    "prepare", "resolve_params", "short_hash", "transient",
]


def runs_dir_identity(context: Any, inputs: dict[str, Any]) -> str | None:
    """Cache-key part: which ``runs_dir`` this is (a random id kept in ``<runs_dir>/.cache-id``).

    Cached task results are paths under ``runs_dir``. Once it is deleted, a new one gets a
    new id, so the tasks run again instead of returning paths to files that are gone.
    """
    params = inputs.get("params")
    if not isinstance(params, Params):
        return None
    marker = Path(params.runs_dir) / ".cache-id"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_name(f".cache-id.{uuid.uuid4().hex}")
        tmp.write_text(uuid.uuid4().hex)
        try:
            os.link(tmp, marker)  # atomic; concurrent tasks agree on the first id written
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return marker.read_text()


CACHE = INPUTS + TASK_SOURCE + CachePolicy.from_cache_key_fn(runs_dir_identity)
#: :data:`CACHE` for a task that flows running at the same time in this process may both call with the same inputs
#: (``qdistill run``'s KD and DD flows both prepare the data): the later call waits for the first to finish, then
#: reads its cached result, instead of computing and writing the same files beside it. The lock lives in memory:
#: one on disk would outlive a killed command and hold the next one forever (Prefect's locks do not expire).
SERIALIZED = CACHE.configure(isolation_level="SERIALIZABLE", lock_manager=MemoryLockManager())
CODE = qkernel.code_version()


def transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry condition of every task: retry crashes and unexpected errors, never qdistill's own errors.

    A :class:`~qkernel.errors.QDistillError` (bad data, a bad option, a diverged method) is
    deterministic: running the task again gives the same error.
    """
    from qkernel.errors import QDistillError

    try:
        state.result()
    except QDistillError:
        return False
    except BaseException:  # noqa: BLE001 - anything else may be transient (a crash, a lost worker)
        return True
    return False


def short_hash(*parts: Any) -> str:
    """Ten hex digits of a SHA-256 over ``parts`` as sorted JSON (run-folder names)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def check(p: Params, *, kd: bool = False, dd: bool = False) -> None:
    """Fail before any work on what can be checked without data: plugins, options, shapes, sizes.

    Args:
        kd: Check the knowledge-distillation part (dataset, teacher, student plugins).
        dd: Check the dataset-distillation part (method and its options, every model entry).
    """
    from qkernel.plugin.registry import get_registry

    registry = get_registry(p.plugins.paths)
    if kd:
        from qkernel.methods.kd.stages import check_params

        check_params(p, registry)
    if dd:
        from qkernel.methods.dd.stages import check_dd

        check_dd(p, registry)


def resolve_params(params: Params | None, params_file: str | None, overrides: list[str] | None, *,
                   kd: bool = False, dd: bool = False) -> Params:
    """The flow's parameters: ``params`` as given (loaded and checked once by the caller, e.g. the CLI),
    or loaded from ``params_file`` + ``overrides`` and checked here (deployments, Python callers)."""
    if params is not None:
        return params
    p = load_params(params_file, overrides or [])
    check(p, kd=kd, dd=dd)
    return p


#: Environment variable naming the command's log file (set by the CLI; task worker processes append to it).
LOG_FILE_ENV = "QDISTILL_LOG_FILE"


def copy_logs_to(path: Path) -> logging.Handler:
    """Append every Prefect log record (INFO and up) of this process to ``path``.

    Returns:
        The handler added to the ``prefect`` logger (remove and close it to stop copying).
    """
    handler = logging.FileHandler(path, encoding="utf-8")  # append: line writes of several processes interleave
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    logging.getLogger("prefect").addHandler(handler)
    return handler


def configure_worker() -> None:
    """Run in each task process before its first task: it dies with the command (even on ``kill -9``), its
    log records go to the command's log file too, and TensorFlow's threading: one inter-op thread, and
    each worker's ops on its share of the cores."""
    from flows.server import die_with_parent

    die_with_parent()
    if Path(os.environ.get(LOG_FILE_ENV, "")).is_file():
        copy_logs_to(Path(os.environ[LOG_FILE_ENV]))
    qkernel.configure_tensorflow(qkernel.threads_per_task(pool_workers()))


def pool_workers() -> int:
    """How many worker processes a ``ProcessPoolTaskRunner`` without ``max_workers`` starts (they share the cores)."""
    return get_current_settings().tasks.runner.process_pool_max_workers or multiprocessing.cpu_count()


@task(cache_policy=SERIALIZED, persist_result=True, retries=2, retry_delay_seconds=2, retry_condition_fn=transient)
def prepare(params: Params, code: str) -> str:
    """Load the dataset through its plugin, split and normalise it, write ``<runs_dir>/data/<name>-<hash>.npz``.

    (``data.out_dir`` holds the DVC pipeline's copy; the flow keys its copies by their options.)
    """
    from prefect import get_run_logger

    from qkernel.data import prepare_stage

    p = params
    stem = f"{p.data.name}-{short_hash(p.data.model_dump(mode='json'), p.seed)}"
    data, npz = prepare_stage(p, Path(p.runs_dir) / "data", stem)
    get_run_logger().info("prepared %s: %s", p.data.name, data.meta["sizes"])
    return str(npz)
