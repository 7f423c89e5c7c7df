"""The DD headline at 80 columns, whatever its cells' widths: nothing cut, labels whole, costs compared both ways."""

from __future__ import annotations

import io

from rich.console import Console

from flows.cli import output


def _model(known: dict | None) -> dict:
    def stats(v: list[float]) -> dict:
        return {"mean": sum(v) / len(v), "std": 0.05, "values": v}

    # The 1-image-per-class run's numbers: a gain of +26.6 [+15.8, +37.4] once wrapped its cell.
    return {"label": "qlenet-hermitian", "model": "quantum_lenet", "dataset": "mnist-5k", "images_per_class": 1,
            "parameters": {"quantum": 102, "classical": 59267, "total": 59369},
            "method": "gradient-matching", "protocol": "SGD lr 0.01",
            "distilled": stats([0.69, 0.72, 0.66, 0.70, 0.68]), "random_real": stats([0.42, 0.35, 0.50, 0.45, 0.40]),
            "full": stats([0.648]), "known_init": known}


def _printed(monkeypatch, known: dict | None, **extra: object) -> list[str]:
    console = Console(width=80, record=True, file=io.StringIO())
    monkeypatch.setattr(output, "console", console)
    output.print_dd_results({"models": [{**_model(known), **extra}], "report": "runs/dd/report.md"})
    return console.export_text().splitlines()


def _cost(distilled_epochs: int, full_epochs: int) -> dict:
    def block(per_epoch: int, epochs: int) -> dict:
        return {"simulation_executions_per_epoch": per_epoch, "simulation_executions": per_epoch * epochs,
                "hardware_circuits": 0, "hardware_shots": 0}

    d, f = block(100, distilled_epochs), block(3600, full_epochs)
    return {"distilled": d, "full": f, "reduction": f["simulation_executions"] / d["simulation_executions"]}


def test_the_cost_line_and_report_say_fewer_or_more_executions_over_the_protocols_budgets(monkeypatch) -> None:
    cheaper = " ".join(_printed(monkeypatch, None, quantum_cost=_cost(300, 20)))
    assert "per epoch 100 on the distilled set vs 3,600 on the full set" in cheaper
    assert "30,000 vs 72,000 (2.4× fewer)" in cheaper
    dearer = " ".join(_printed(monkeypatch, None, quantum_cost=_cost(1000, 20)))
    assert "100,000 vs 72,000 (1.4× more)" in dearer and "fewer" not in dearer
    from qkernel.methods.dd.report import cost_rows  # report.md's cost table says the same

    assert cost_rows([{"label": "q", "quantum_cost": _cost(1000, 20)}])[0]["distilled_cost"] == "1.4× more"


def test_two_digit_gains_fit_one_row_of_the_five_column_table(monkeypatch) -> None:
    lines = _printed(monkeypatch, None)
    rows = [line for line in lines if line.count("│") == 6]
    assert len(rows) == 1 and "qlenet-hermitian" in rows[0] and "+26.6 [+17.3, +35.9]" in rows[0], "\n".join(lines)
    assert max(len(line) for line in lines) <= 80
    assert "quantum / classical parameters: qlenet-hermitian 102 / 59,267" in lines


def test_a_six_column_table_wraps_cells_at_spaces_and_keeps_the_label_whole(monkeypatch) -> None:
    lines = _printed(monkeypatch, {"mean": 0.912, "std": 0.0, "values": [0.912]})
    assert max(len(line) for line in lines) <= 80
    cells = [line.split("│")[1:-1] for line in lines if line.count("│") == 7]  # a row and its wrapped lines
    column = [" ".join(c[i].strip() for c in cells if c[i].strip()) for i in range(6)]
    assert column[0] == "qlenet-hermitian" and column[3] == "+26.6 [+17.3, +35.9]", "\n".join(lines)
    assert column[5] == "91.2"


def test_collapsed_runs_are_one_line_under_the_table_and_counted_in_the_report(monkeypatch) -> None:
    from qkernel.methods.dd.report import COLLAPSED_LEGEND, format_accuracy

    full = {"mean": 0.1, "std": 0.0, "values": [0.1], "collapsed": [0]}
    lines = _printed(monkeypatch, None, full=full)
    assert max(len(line) for line in lines) <= 80 and lines.count(COLLAPSED_LEGEND) == 1, "\n".join(lines)
    assert lines[lines.index(COLLAPSED_LEGEND) - 1].startswith("└")  # right under the table
    row = next(line for line in lines if "qlenet-hermitian" in line)
    assert row.split("│")[5].strip() == "10.0"  # the cells keep their width
    assert format_accuracy(full) == "10.0 (1 collapsed)"  # report.md has room to count them
    assert COLLAPSED_LEGEND not in _printed(monkeypatch, None)


def test_a_multi_formed_set_gets_a_line_against_real_images_stored_the_same_way(monkeypatch) -> None:
    formed = {"mean": 0.6, "std": 0.01, "values": [0.58, 0.62, 0.61, 0.59, 0.60]}
    text = " ".join(" ".join(_printed(monkeypatch, None, random_formed=formed)).split())  # wrapped lines rejoined
    assert ("qlenet-hermitian: random real stored the same way (multi-formed) 60.0 ± 1.0; distilled − it +9.0 "
            "[+5.8, +12.2]") in text
    assert "multi-formed" not in " ".join(_printed(monkeypatch, None))
