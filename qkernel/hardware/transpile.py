"""Which student designs survive a processor: compile every encoder × ansatz × qubit count and
predict its fidelity from the calibration, before anything is trained.

For each :class:`Design` the student's circuit (``encoder.circuit + ansatz.circuit``, every
qubit measured in ``Z``) is compiled for the processor exactly as ``qdistill evaluate``
compiles it (:func:`qkernel.hardware.compile_circuit`) and scored with
:func:`qkernel.hardware.estimate_fidelity` on the processor's median calibration. The rows
are what ``qdistill transpile`` prints, plots and writes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cirq

from qkernel.errors import ConfigError
from qkernel.hardware.device import GATESETS, compile_circuit, load_device
from qkernel.hardware.noise import DEGRADED, NEAR_CHANCE, estimate_fidelity, noise_properties

__all__ = ["Design", "designs", "plot_designs", "transpile_designs"]


@dataclass(frozen=True)
class Design:
    """One student circuit on one processor."""

    processor: str
    gateset: str
    encoder: str
    ansatz: str
    n_qubits: int
    depth: int


def designs(
    processors: Sequence[str], encoders: Sequence[str], ansatzes: Sequence[str], qubits: Sequence[int],
    depths: Sequence[int], gatesets: Sequence[str] = ("sqrt_iswap",),
) -> list[Design]:
    """Every combination, processors outermost.

    Raises:
        qkernel.errors.ConfigError: an unknown gateset, or a qubit count or depth below 1.
    """
    for g in gatesets:
        if g not in GATESETS:
            raise ConfigError(f"unknown gateset {g!r}; expected one of {', '.join(GATESETS)}")
    for label, values in (("qubit count", qubits), ("depth", depths)):
        if any(v < 1 for v in values):
            raise ConfigError(f"every {label} must be >= 1; got {list(values)}")
    return [Design(*combo) for combo in itertools.product(processors, gatesets, encoders, ansatzes, qubits, depths)]


def _verdict(fidelity: float) -> str:
    return "near chance" if fidelity < NEAR_CHANCE else "degraded" if fidelity < DEGRADED else "usable"


def transpile_designs(
    grid: Sequence[Design], registry: Any = None, progress: Callable[[int, int, str], None] | None = None,
) -> list[dict[str, Any]]:
    """Compile and score every design (see the module docstring).

    Args:
        grid: From :func:`designs`.
        registry: Plugin registry (default: :func:`qkernel.plugin.registry.get_registry`).
        progress: Called with ``(done, total, label)`` after every design.

    Returns:
        One JSON-able row per design: the design, the compiled circuit's ``depth_compiled``,
        ``two_qubit_gates``, ``one_qubit_gates``, ``swaps``, the ansatz ``parameters``, the ``fidelity`` estimate, its
        largest loss and a ``verdict`` (``usable``, ``degraded`` or ``near chance``).

    Raises:
        qkernel.errors.HardwareError: an unknown processor.
        qkernel.errors.PluginError: an unknown encoder or ansatz (naming the registered ones).
    """
    from cirq_google.engine.virtual_engine_factory import load_median_device_calibration

    from qkernel.plugin.registry import get_registry

    registry = registry or get_registry()
    devices: dict[str, tuple[Any, Any, Any]] = {}
    rows = []
    for i, d in enumerate(grid):
        if d.processor not in devices:
            device = load_device(d.processor)  # unknown processors fail here, naming the known ones
            calibration = load_median_device_calibration(d.processor)
            devices[d.processor] = (device, calibration, noise_properties(calibration))
        device, calibration, properties = devices[d.processor]
        encoder = registry.create("encoder", d.encoder, n_qubits=d.n_qubits)
        ansatz = registry.create("ansatz", d.ansatz, n_qubits=d.n_qubits, depth=d.depth)
        qubits = cirq.LineQubit.range(d.n_qubits)
        compiled = compile_circuit(encoder.circuit(qubits) + ansatz.circuit(qubits), qubits, device,
                                   gateset=d.gateset, calibration=calibration)
        estimate = estimate_fidelity(compiled.measured(cirq.Circuit(cirq.measure(*qubits, key="m"))), properties)
        worst = min(estimate.factors, key=estimate.factors.get)
        stats = compiled.stats
        rows.append({**asdict(d), "depth_compiled": stats.depth, "two_qubit_gates": stats.two_qubit_gates,
                     "one_qubit_gates": stats.one_qubit_gates, "swaps": stats.swaps,
                     "parameters": len(ansatz.symbols()), "fidelity": estimate.fidelity,
                     "largest_loss": worst, "verdict": _verdict(estimate.fidelity),
                     "uncalibrated": list(estimate.uncalibrated)})
        if progress is not None:
            progress(i + 1, len(grid), f"{d.processor} {d.encoder}+{d.ansatz} {d.n_qubits}q depth {d.depth}")
    return rows


def plot_designs(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Estimated fidelity against two-qubit gate count, one panel per processor (log scale), as a PNG."""
    import matplotlib.pyplot as plt

    from qkernel.reporting import save_figure

    processors = sorted({r["processor"] for r in rows})
    fig, axes = plt.subplots(1, len(processors), figsize=(5.2 * len(processors), 4), squeeze=False)
    markers = {"amplitude": "o", "angle": "s", "qubit": "^"}
    for ax, processor in zip(axes[0], processors):
        for r in (r for r in rows if r["processor"] == processor):
            color = {4: "tab:blue", 8: "tab:orange"}.get(r["n_qubits"], "tab:gray")
            hollow = r["encoder"] == "qubit"  # drawn over angle encoding's identical circuits
            ax.scatter(max(r["two_qubit_gates"], 1), max(r["fidelity"], 1e-16), marker=markers.get(r["encoder"], "x"),
                       s=70 if hollow else 36, facecolors="none" if hollow else color, edgecolors=color, alpha=0.8)
        for level, style in ((NEAR_CHANCE, ":"), (DEGRADED, "--")):
            ax.axhline(level, color="gray", linestyle=style, linewidth=1)
        ax.set(xscale="log", yscale="log", xlabel="two-qubit gates (compiled)", ylabel="estimated fidelity",
               title=f"{processor}: marker = encoder, colour = qubits")
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], marker=m, linestyle="", color="black", label=e) for e, m in markers.items()]
    handles += [plt.Line2D([], [], marker="o", linestyle="", color=c, label=f"{n} qubits")
                for n, c in ((4, "tab:blue"), (8, "tab:orange"))]
    axes[0][-1].legend(handles=handles, fontsize=8, loc="lower left")
    return save_figure(fig, path)
