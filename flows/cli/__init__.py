"""The ``qdistill`` command line: one Typer app, a module per command group.

* :mod:`flows.cli.pipelines` — ``run``, ``dd``, ``ablation``, ``serve`` (the Prefect flows);
* :mod:`flows.cli.data` — ``data list|show|prepare`` and ``plugins``;
* :mod:`flows.cli.stages` — ``stage …``: single stages on fixed paths (what ``dvc.yaml`` runs);
* :mod:`flows.cli.hardware` — ``evaluate`` (a trained student on a Google processor);
* :mod:`flows.cli.transpile` — ``transpile`` (student designs scored for Google processors);
* :mod:`flows.cli.bench` — ``bench`` (throughput against TFQ and PennyLane);
* :mod:`flows.cli.tune` — ``tune`` (T, α and the learning rate on validation, with Optuna);
* :mod:`flows.cli.output` — the result tables the commands print.

Every command loads its parameters once (:func:`load`) and passes them on.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import qkernel  # noqa: F401  (sets the environment before TensorFlow/Prefect/DVC load)
import typer
from rich.console import Console

from qkernel.config import Params, load_params
from qkernel.errors import QDistillError

app = typer.Typer(
    help="qdistill: distil classical networks and datasets into small quantum neural networks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect and prepare datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
stage_app = typer.Typer(help="Single pipeline stages on fixed paths (what dvc.yaml runs).", no_args_is_help=True)
app.add_typer(stage_app, name="stage")

console = Console()
err_console = Console(stderr=True)


#: Set by ``--debug``: qdistill's own errors are raised with their traceback instead of one line.
DEBUG = False
#: Set by ``--verbose``: Prefect's INFO records go to the console (so no status line follows the log file).
VERBOSE = False


@app.callback()
def _setup(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's INFO log lines on the console.")]
    = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")] = False,
) -> None:
    """Runs before every command (not for --help): TensorFlow threading, how much the console shows."""
    global DEBUG, VERBOSE
    DEBUG, VERBOSE = debug, verbose
    # run and ablation train two KD tasks side by side in this process (the flows' task threads).
    side_by_side = ctx.invoked_subcommand in ("run", "ablation")
    qkernel.configure_tensorflow(qkernel.threads_per_task(2) if side_by_side else None)
    # Prefect's console shows errors only (the CLI prints qdistill's own errors once, without a
    # traceback); every record still reaches the Prefect UI and the run's log file. Set before
    # Prefect configures its logging, i.e. before any flow module is imported.
    os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "INFO" if verbose else "CRITICAL"

ParamsOpt = Annotated[
    Path | None,
    typer.Option("--params", "-p", help="Parameter file merged over the project's params.yaml.", dir_okay=False),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-S", help="Override a parameter, e.g. -S data.name=fashion-mnist (repeatable)."),
]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Folder searched first for dataset files (data.data_dir).")
]

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(fn: F) -> F:
    """Print qdistill's own errors as one clear message and exit 2 instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except QDistillError as exc:
            if DEBUG:
                raise
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _overrides(overrides: list[str] | None, data_dir: Path | None = None) -> list[str]:
    """``-S`` overrides plus ``--data-dir`` as the override it stands for."""
    return [*(overrides or []), *([f"data.data_dir={data_dir}"] if data_dir is not None else [])]




def load(params: Path | None, overrides: list[str] | None, data_dir: Path | None = None) -> Params:
    """The command's parameters: ``--params`` merged over the defaults, then ``-S`` and ``--data-dir``."""
    return load_params(params, _overrides(overrides, data_dir))


@contextmanager
def log_file(p: Params, command: str) -> Iterator[Path]:
    """For the block, copy every Prefect log record of this process and of its task worker processes
    (flows, tasks, the server) to ``<runs_dir>/logs/``; afterwards this process stops copying.

    Yields:
        The log file, ``<runs_dir>/logs/<command>-<UTC time>.log``.
    """
    import time

    from flows.common import LOG_FILE_ENV, copy_logs_to

    path = Path(p.runs_dir) / "logs" / f"{command}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = copy_logs_to(path)
    try:
        with qkernel._env.environ_set(LOG_FILE_ENV, str(path.resolve())):  # task worker processes append too
            yield path
    finally:
        logging.getLogger("prefect").removeHandler(handler)
        handler.close()


def main() -> None:  # pragma: no cover - the console script
    """``qdistill``: TensorFlow/XLA/absl chatter filtered out of the console, then the app."""
    qkernel._env.filter_native_logs()
    app(prog_name="qdistill")


# The command modules register their commands on the apps above.
from flows.cli import bench, data, hardware, pipelines, stages, transpile, tune  # noqa: E402,F401
