"""``qdistill run``, ``dd``, ``ablation`` and ``serve``: the Prefect flows, parameters loaded and checked once."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from flows import cli
from flows.cli import DataDirOpt, ParamsOpt, SetOpt, app, console, friendly_errors, load, log_file
from flows.cli.follow import following
from flows.cli.output import print_dd_results, print_kd_results
from qkernel.config import Params


@contextmanager
def run_context(p: Params, command: str) -> Iterator[None]:
    """Around a command's flows: the Prefect API (a temporary server that dies with the command if none is
    set), a log file with every record, a status line following it on a terminal (not with ``--verbose``,
    which prints the records themselves), and no half-made ``runs_dir`` left behind by an early error."""
    from flows.server import api_server

    fresh = not Path(p.runs_dir).exists()
    try:
        with api_server(), log_file(p, command) as path, \
                following(path, console, f"qdistill {command}", show=not cli.VERBOSE):
            yield
            console.print(f"full log: {path}", highlight=False)
    except BaseException:
        _remove_if_empty(Path(p.runs_dir), fresh)
        raise


def _remove_if_empty(runs_dir: Path, fresh: bool) -> None:
    """Delete a ``runs_dir`` this command created if it holds nothing but bookkeeping (cache id, logs)."""
    if not fresh or not runs_dir.is_dir():
        return
    bookkeeping = {".cache-id", "logs"}
    if {entry.name for entry in runs_dir.iterdir()} <= bookkeeping:
        shutil.rmtree(runs_dir, ignore_errors=True)


@contextmanager
def beside(flow_fn: Callable[..., Any], **kwargs: Any) -> Iterator[Callable[[], Any]]:
    """Run ``flow_fn(**kwargs)`` in a thread while the block runs; yields a function that waits for its result
    (and raises its error).

    A flow that runs in task worker processes keeps them busy while the block's own work (e.g. a flow running
    tasks in this process) uses the rest. If the block fails, those workers are stopped, so the command ends
    with the block's error instead of waiting for work nobody will see.
    """
    from flows.server import STOP_GRACE_SECONDS, stop_workers

    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = flow_fn(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"qdistill-{getattr(flow_fn, 'name', 'flow')}", daemon=True)
    thread.start()

    def result() -> Any:
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    try:
        yield result
    except BaseException:
        stop_workers()
        thread.join(STOP_GRACE_SECONDS)  # its flow run reports the crash while the API is still there
        raise


@app.command()
@friendly_errors
def run(
    params: ParamsOpt = None, set_: SetOpt = None, data_dir: DataDirOpt = None,
    skip_dd: Annotated[bool, typer.Option("--skip-dd", help="Knowledge distillation only.")] = False,
) -> None:
    """Run the main job on the configured data (default: embedded mnist-5k): KD and, beside it, dataset distillation.

    Knowledge distillation trains the teacher, then the quantum students (baseline
    and KD). Dataset distillation, which needs neither, runs at the same time in its
    own worker processes: it learns dd.images_per_class synthetic images per class
    for each dd.models entry (quantum LeNet; classical LeNet) and scores models
    trained on them against random real images and the full set. Accuracies are
    printed beside the published figures; outputs go to runs/<run-id>/.
    """
    from flows.common import check
    from flows.dd import dd_pipeline
    from flows.kd import kd_pipeline

    p = load(params, set_, data_dir)
    check(p, kd=True, dd=not skip_dd)  # fail fast on bad parameters, before a Prefect server starts
    with run_context(p, "run"):
        from flows.kd import resume_points

        for line in resume_points(p):
            console.print(line, highlight=False)
        console.print("knowledge distillation: teacher, then the baseline and KD students …", highlight=False)
        if skip_dd:
            print_kd_results(kd_pipeline(params=p))
            return
        console.print(f"dataset distillation ({p.dd.method}), alongside: distilling, then training fresh models …",
                      highlight=False)
        with beside(dd_pipeline, params=p) as dd_result:
            print_kd_results(kd_pipeline(params=p))
            print_dd_results(dd_result())


@app.command("dd")
@friendly_errors
def dd_cmd(params: ParamsOpt = None, set_: SetOpt = None, data_dir: DataDirOpt = None) -> None:
    """Dataset distillation only (the dd_pipeline flow; dd.* in params)."""
    from flows.common import check
    from flows.dd import dd_pipeline

    p = load(params, set_, data_dir)
    check(p, dd=True)
    with run_context(p, "dd"):
        print_dd_results(dd_pipeline(params=p))


@app.command()
@friendly_errors
def ablation(params: ParamsOpt = None, set_: SetOpt = None, dask: Annotated[
        str | None, typer.Option(help="Dask scheduler address (ablation.dask_address), e.g. tcp://host:8786.")] = None,
) -> None:
    """Run the ablation sweep (ablation.* in params) locally, or on a Dask cluster with --dask."""
    from flows.kd import ablation as ablation_flow

    p = load(params, [*(set_ or []), *([f"ablation.dask_address={dask}"] if dask else [])])
    with run_context(p, "ablation"):
        result = ablation_flow(params=p)
    console.print(Path(result["summary"]).read_text(), markup=False, highlight=False)
    if "dd_summary" in result:
        console.print(Path(result["dd_summary"]).read_text(), markup=False, highlight=False)


@app.command()
@friendly_errors
def serve(params: ParamsOpt = None, set_: SetOpt = None) -> None:
    """Register the deployments (kd-default; nightly-ablation on ablation.schedule) and serve them.

    Start a server first (`prefect server start`) and point PREFECT_API_URL at it to watch
    runs and artifacts in the Prefect UI (without it, a temporary server lives as long as the
    command). SIGINT or SIGTERM stops it within seconds (exit status 130 or 143), also when the
    server has gone away.
    """
    from flows.deployments import serve as serve_deployments
    from flows.server import api_server

    p = load(params, set_)
    with api_server():
        serve_deployments(p, set_ or [])


