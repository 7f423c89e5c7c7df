"""The ``qdistill`` command line."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import qkernel  # noqa: F401  (sets the environment before TensorFlow/Prefect/DVC load)
import typer
from rich.console import Console
from rich.table import Table

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

console = Console()
err_console = Console(stderr=True)

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


def _params(params: Path | None, overrides: list[str] | None, data_dir: Path | None = None) -> Params:
    sets = list(overrides or [])
    if data_dir is not None:
        sets.append(f"data.data_dir={data_dir}")
    return load_params(params, sets)


def print_data_summary(data: Any) -> None:
    """Print split sizes, per-class counts, shape and provenance of a prepared dataset."""
    meta = data.meta
    counts = data.counts()
    table = Table(title=f"{data.name}  (from {meta['source']})", title_justify="left")
    table.add_column("class")
    for split in counts:
        table.add_column(split, justify="right")
    for i, name in enumerate(data.class_names):
        table.add_row(f"{i} {name}", *(str(c[i]) for c in counts.values()))
    table.add_section()
    table.add_row("total", *(str(sum(c)) for c in counts.values()), style="bold")
    console.print(table)
    raw = meta["source_sizes"]
    origin = f"{raw['train']} train / {raw['test']} test" if raw["test"] is not None else f"{raw['train']} images, no official test split"
    console.print(
        f"source: {origin}; images {data.image_shape} float32, normalised '{meta['normalization']['mode']}', "
        f"{data.num_classes} classes, seed {meta['seed']}"
    )


@app.command()
@friendly_errors
def run(params: ParamsOpt = None, set_: SetOpt = None, data_dir: DataDirOpt = None) -> None:
    """Run the main job on the configured data (default: the embedded mnist-5k).

    Prepares the dataset and writes it as a versioned artifact under data.out_dir.
    """
    from qkernel.data import load_dataset, save_prepared

    p = _params(params, set_, data_dir)
    with console.status(f"preparing {p.data.name}"):
        data = load_dataset(p)
        npz, meta = save_prepared(data, p.data.out_dir)
    print_data_summary(data)
    console.print(f"wrote {npz} and {meta}")


@data_app.command("list")
@friendly_errors
def data_list(params: ParamsOpt = None, set_: SetOpt = None, data_dir: DataDirOpt = None) -> None:
    """List registered datasets and where each would be loaded from."""
    from qkernel.registry import get_registry

    p = _params(params, set_, data_dir)
    registry = get_registry(p.plugins.paths)
    table = Table("name", "available", "from", "description")
    table.columns[2].overflow = "fold"
    for name in registry.names("dataset"):
        source = registry.create("dataset", name)
        where = source.locate(p.data.data_dir)
        remote = bool(getattr(source, "remote", ()))
        status = "[green]yes[/]" if where else ("download" if remote and p.data.download else "[red]no[/]")
        table.add_row(name, status, where or "—", source.description)
    console.print(table)


@data_app.command("show")
@friendly_errors
def data_show(
    name: Annotated[str, typer.Argument(help="Dataset name (see `qdistill data list`).")],
    params: ParamsOpt = None,
    set_: SetOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Load NAME with the configured options; show split sizes, class counts, shape and origin."""
    from qkernel.data import load_dataset

    p = _params(params, [*(set_ or []), f"data.name={name}"], data_dir)
    with console.status(f"loading {name}"):
        data = load_dataset(p)
    print_data_summary(data)


@data_app.command("prepare")
@friendly_errors
def data_prepare(params: ParamsOpt = None, set_: SetOpt = None, data_dir: DataDirOpt = None) -> None:
    """Write the configured dataset to data.out_dir as <name>.npz + <name>.json (the DVC `prepare` stage)."""
    from qkernel.data import load_dataset, save_prepared

    p = _params(params, set_, data_dir)
    data = load_dataset(p)
    npz, meta = save_prepared(data, p.data.out_dir)
    console.print(f"wrote {npz} ({sum(data.meta['sizes'].values())} images) and {meta}")


@app.command("plugins")
@friendly_errors
def plugins_cmd(params: ParamsOpt = None, set_: SetOpt = None) -> None:
    """List every registered plugin: kind, name, origin and a one-line description."""
    from qkernel.registry import get_registry

    p = _params(params, set_)
    table = Table("kind", "name", "origin", "description")
    for info in get_registry(p.plugins.paths).all():
        table.add_row(info.kind, info.name, info.origin, info.description)
    console.print(table)


def main() -> None:  # pragma: no cover - console-script shim
    app(prog_name="qdistill")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
