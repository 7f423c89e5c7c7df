"""``qdistill tune``: choose T, α and the learning rate on the validation split (Optuna), as a parameter file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli import DataDirOpt, ParamsOpt, SetOpt, app, console, friendly_errors, load


@app.command()
@friendly_errors
def tune(
    params: ParamsOpt = None, set_: SetOpt = None, data_dir: DataDirOpt = None,
    out: Annotated[Path | None, typer.Option(help="Copy the chosen values' parameter file here.")] = None,
) -> None:
    """Tune the learning rate (on the baseline student), then T and α (on the KD student), on validation.

    Optuna's TPE sampler runs kd.tune.trials trials per study, each training kd.tune.epochs
    epochs per seed in kd.tune.seeds; the objective is the best validation accuracy (the test
    split is never read). Prints the choice and writes it as a parameter file: pass it to
    `qdistill run --params FILE` (it also records, in kd.tuned, what the values were tuned on).
    A killed study resumes where it stopped.
    """
    from flows.cli.pipelines import run_context
    from flows.common import check
    from flows.kd import kd_tune
    from qkernel.io import atomic_write_text

    p = load(params, set_, data_dir)
    check(p, kd=True)
    with run_context(p, "tune"):
        chosen = kd_tune(params=p)
        text = Path(chosen["params_file"]).read_text()
        if out is not None:
            atomic_write_text(out, text)
        t = p.kd.tune
        console.print(f"tuned on the validation split of {p.data.name} ({t.trials} trials per study, "
                      f"{t.epochs} epochs, seeds {list(t.seeds)}): learning rate {chosen['learning_rate']:.3g} "
                      f"(baseline validation {100 * chosen['baseline_val_accuracy']:.2f} %), "
                      f"T = {chosen['temperature']:.3g}, "
                      f"α = {chosen['alpha']:.3g} (KD validation {100 * chosen['kd_val_accuracy']:.2f} %)",
                      highlight=False)
        console.print(f"parameter file: {out or chosen['params_file']}\n{text}", highlight=False)
