"""``qdistill data list|show|prepare`` and ``qdistill plugins``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from flows.cli import DataDirOpt, ParamsOpt, SetOpt, app, console, data_app, friendly_errors, load
from flows.cli.output import print_data_summary


@data_app.command("list")
@friendly_errors
def data_list(params: ParamsOpt = None, set_: SetOpt = None, data_dir: DataDirOpt = None) -> None:
    """List registered datasets and where each would be loaded from."""
    from qkernel.plugin.registry import get_registry

    p = load(params, set_, data_dir)
    registry = get_registry(p.plugins.paths)
    table = Table("name", "available", "from", "description")
    table.columns[2].overflow = "fold"
    for name in registry.names("dataset"):
        source = registry.create("dataset", name)
        where = source.locate(p.data.data_dir)
        status = "[green]yes[/]" if where else ("download" if source.downloadable and p.data.download else "[red]no[/]")
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

    p = load(params, [*(set_ or []), f"data.name={name}"], data_dir)
    with console.status(f"loading {name}"):
        data = load_dataset(p)
    print_data_summary(data)


@data_app.command("prepare")
@friendly_errors
def data_prepare(params: ParamsOpt = None, set_: SetOpt = None, data_dir: DataDirOpt = None) -> None:
    """Write the configured dataset to data.out_dir as <name>.npz + <name>.json (the DVC `prepare` stage)."""
    from qkernel.data import load_dataset, save_prepared

    p = load(params, set_, data_dir)
    data = load_dataset(p)
    npz, meta = save_prepared(data, p.data.out_dir)
    console.print(f"wrote {npz} ({sum(data.meta['sizes'].values())} images) and {meta}")


@app.command("plugins")
@friendly_errors
def plugins_cmd(params: ParamsOpt = None, set_: SetOpt = None) -> None:
    """List every registered plugin: kind, name, origin and a one-line description."""
    from qkernel.plugin.registry import get_registry

    p = load(params, set_)
    table = Table("kind", "name", "origin", "description")
    table.columns[2].overflow = "fold"  # file paths are shown whole, wrapped
    for info in get_registry(p.plugins.paths).all():
        table.add_row(info.kind, info.name, info.origin, info.description)
    console.print(table)


