"""``benchmarks``: well-formed rows, the PennyLane reference computes the same step, formatting.

No timing is asserted (throughput depends on the machine and its load); the real
``qdistill bench`` run is too slow for the test suite.
"""

from __future__ import annotations

import qkernel  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

import json
from pathlib import Path

import cirq
import numpy as np
import pytest
import tensorflow as tf
from rich.console import Console

from benchmarks import add_ratios, format_rows, pennylane_ref, run_benchmarks, suite
from qkernel.errors import ConfigError
from qkernel.io import atomic_write_json
from qkernel.sim.observables import z_each
from qkernel.plugin.registry import get_registry

KEYS = {"kind", "n_qubits", "encoder", "batch", "backend", "samples_per_s", "vs_tfq", "vs_pennylane", "note"}
TOL = 1e-4


def _native(n_qubits: int, encoder: str):
    registry = get_registry()
    enc = registry.create("encoder", encoder, n_qubits=n_qubits, **({"axis": "y"} if encoder == "angle" else {}))
    ansatz = registry.create("ansatz", "hardware_efficient", n_qubits=n_qubits, depth=suite.DEPTH)
    # Without XLA: the same arithmetic, no compilation time in the test.
    native = registry.create("backend", "native", jit_compile=False)
    return native.compile(enc, ansatz, z_each(cirq.LineQubit.range(n_qubits)))


def test_tiny_run_returns_well_formed_rows_with_positive_throughput_and_ratios() -> None:
    pytest.importorskip("pennylane")  # the [bench] extra (.ci/run installs it)
    pytest.importorskip("torch")
    seen = []
    rows = run_benchmarks(qubits=(2,), batches=(8,), steps=1, progress=lambda *args: seen.append(args),
                          backend_options={"native": {"jit_compile": False}})  # no XLA compile time
    assert all(set(r) == KEYS for r in rows)
    train = {(r["encoder"], r["backend"]): r for r in rows if r["kind"] == "train"}
    assert set(train) == {(e, b) for e in ("amplitude", "angle") for b in ("native", "tfq", "pennylane")}
    evals = [r for r in rows if r["kind"] == "eval"]
    assert {(r["encoder"], r["backend"]) for r in evals} == {("amplitude", "qsim"), ("angle", "qsim")}
    for r in rows:
        assert r["n_qubits"] == 2 and r["batch"] == 8 and r["note"] is None
        assert r["samples_per_s"] > 0
    for (_, backend), r in train.items():
        if backend == "native":
            assert r["vs_tfq"] > 0 and r["vs_pennylane"] > 0
        else:
            assert r["vs_tfq"] is None and r["vs_pennylane"] is None
    assert all(r["vs_tfq"] is None and r["vs_pennylane"] is None for r in evals)
    json.dumps(rows)  # JSON-ready as returned
    assert seen[-1] == ("done", len(rows), len(rows))
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen)


def test_missing_pennylane_skips_its_rows_with_an_install_note(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise pennylane_ref.ReferenceUnavailableError('install the benchmark extra: pip install -e ".[bench]"')

    monkeypatch.setattr(pennylane_ref, "require", missing)
    rows = run_benchmarks(qubits=(2,), encoders=("angle",), batches=(4, 8), backends=("pennylane",),
                          eval_backends=(), steps=1)
    assert [(r["batch"], r["samples_per_s"]) for r in rows] == [(4, None), (8, None)]
    assert all(r["note"].startswith("skipped:") and 'pip install -e ".[bench]"' in r["note"] for r in rows)


def test_require_names_the_extra_when_an_import_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args, **kwargs):
        if name == "pennylane":
            raise ImportError("No module named 'pennylane'", name="pennylane")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(pennylane_ref.ReferenceUnavailableError, match=r'(pennylane|torch) is missing.*pip install -e "\.\[bench\]"'):
        pennylane_ref.require()


@pytest.mark.parametrize("encoder", ["amplitude", "angle"])
def test_pennylane_reference_matches_native_values_and_gradients(encoder: str) -> None:
    # Three qubits: a full CNOT ring (two qubits, one CNOT, are covered by the tiny run's check).
    pytest.importorskip("pennylane")
    n_qubits = 3
    reference = pennylane_ref.PennyLaneReference(n_qubits, encoder, suite.DEPTH)
    features = suite.sample_features(n_qubits, encoder, 5, seed=3)
    weights = suite.sample_weights(n_qubits, seed=3)
    x, w = tf.constant(features), tf.Variable(weights)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = _native(n_qubits, encoder)(x, w)
        loss = tf.reduce_sum(out)
    grad_w, grad_x = tape.gradient(loss, [w, x])

    values, ref_grad_w, ref_grad_x = reference.value_and_grad(features, weights)
    np.testing.assert_allclose(values, out.numpy(), atol=TOL)
    np.testing.assert_allclose(ref_grad_w, grad_w.numpy(), atol=TOL)
    np.testing.assert_allclose(ref_grad_x, grad_x.numpy(), atol=TOL)
    np.testing.assert_allclose(reference.forward(features, weights), values, atol=1e-6)
    assert suite.compare_with_native(reference, _native(n_qubits, encoder)) <= suite.REFERENCE_ATOL


def test_unknown_names_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="qubit"):
        run_benchmarks(encoders=("qubit",))
    with pytest.raises(ConfigError, match="qsim"):  # evaluation-only backends cannot train
        run_benchmarks(backends=("qsim",))


def _synthetic_rows() -> list[dict]:
    rows = []
    for n in (4, 8):
        for encoder in ("amplitude", "angle"):
            for batch in (256, 1024):
                for backend, rate in (("tfq", 85.3), ("pennylane", 1083.2), ("native", 123456.7)):
                    rows.append(suite._row("train", n, encoder, batch, backend, rate))
                rows.append(suite._row("eval", n, encoder, batch, "qsim", 2000.0))
    rows.append(suite._row("train", 8, "angle", 1024, "pennylane", None, 'skipped: pip install -e ".[bench]"'))
    return add_ratios(rows)


def test_ratios_are_native_over_the_others_on_native_rows_only() -> None:
    rows = add_ratios([
        suite._row("train", 8, "amplitude", 256, "native", 10000.0),
        suite._row("train", 8, "amplitude", 256, "tfq", 100.0),
        suite._row("train", 8, "amplitude", 256, "pennylane", None, "skipped"),
        suite._row("train", 8, "amplitude", 1024, "pennylane", 4000.0),
        suite._row("eval", 8, "amplitude", 256, "qsim", 500.0),
    ])
    native, tfq, pl_skipped, pl_other_batch, qsim = rows
    assert native["vs_tfq"] == 100.0 and native["vs_pennylane"] is None
    assert all(r["vs_tfq"] is None and r["vs_pennylane"] is None for r in (tfq, pl_skipped, pl_other_batch, qsim))


def test_format_rows_orders_and_renders_cells() -> None:
    columns, cells = format_rows(_synthetic_rows())
    assert columns == ("qubits", "encoder", "batch", "backend", "samples/s", "×tfq", "×PennyLane")
    assert cells[:3] == [
        ["4", "amplitude", "256", "native", "123.5k", "1447×", "114×"],
        ["4", "amplitude", "256", "tfq", "85", "—", "—"],
        ["4", "amplitude", "256", "pennylane", "1.08k", "—", "—"],
    ]
    assert all(row[3] == "qsim eval" for row in cells[-8:])
    assert ["8", "angle", "1024", "pennylane", "—", "—", "—"] in cells
    assert format_rows([suite._row("train", 4, "angle", 8, "native", 5.25)])[1][0][4] == "5.2"


def test_cli_table_fits_80_columns_and_json_round_trips(tmp_path: Path) -> None:
    from flows.cli.bench import bench_table

    rows = _synthetic_rows()
    console = Console(width=200, record=True)
    console.print(bench_table(rows))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert sum("qsim eval" in line for line in lines) == 8
    path = atomic_write_json(tmp_path / "bench.json", rows)
    assert json.loads(path.read_text()) == rows


@pytest.mark.slow
def test_dd_outer_step_benchmark_agrees_with_the_pennylane_reference() -> None:
    pytest.importorskip("pennylane")
    from benchmarks.dd_step import run_dd_benchmark

    row = run_dd_benchmark(synthetic=10, inner=1, real_batch=16, steps=1)
    assert row["native_s"] > 0 and row["pennylane_s"] > 0 and row["speedup"] > 0
    assert row["max_grad_gap"] < 1e-3  # same loss and second-order gradients before anything is timed
    assert row["note"] == ""
