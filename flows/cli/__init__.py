"""The ``qdistill`` command line: one Typer app, a module per command group.

* :mod:`flows.cli.pipelines` — ``run``, ``dd``, ``ablation``, ``serve`` (the Prefect flows);
* :mod:`flows.cli.data` — ``data list|show|prepare`` and ``plugins``;
* :mod:`flows.cli.stages` — ``stage …``: single stages on fixed paths (what ``dvc.yaml`` runs);
* :mod:`flows.cli.hardware` — ``evaluate`` (a trained student on a Google processor);
* :mod:`flows.cli.bench` — ``bench`` (throughput against TFQ and PennyLane);
* :mod:`flows.cli.output` — the result tables the commands print.

Every command loads its parameters once (:func:`load`) and passes them on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
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


@app.callback()
def _setup() -> None:
    """Runs before every command (not for --help)."""
    qkernel.configure_tensorflow()

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
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _overrides(overrides: list[str] | None, data_dir: Path | None = None) -> list[str]:
    """``-S`` overrides plus ``--data-dir`` as the override it stands for."""
    return [*(overrides or []), *([f"data.data_dir={data_dir}"] if data_dir is not None else [])]




def load(params: Path | None, overrides: list[str] | None, data_dir: Path | None = None) -> Params:
    """The command's parameters: ``--params`` merged over the defaults, then ``-S`` and ``--data-dir``."""
    return load_params(params, _overrides(overrides, data_dir))


def main() -> None:  # pragma: no cover - console-script shim
    app(prog_name="qdistill")


# The command modules register their commands on the apps above.
from flows.cli import bench, data, hardware, pipelines, stages  # noqa: E402,F401
