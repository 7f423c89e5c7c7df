"""Where a circuit goes on a device: choose a qubit region, map logical qubits, route.

* :func:`choose_qubits` grows a compact, connected region of ``n`` qubits from every device
  qubit (each step adds the neighbour with the most links into the region) and keeps the
  region with the most internal couplers, ties broken by the calibration's mean readout +
  two-qubit error (by grid position without calibration).
* :func:`route` tries several initial maps of the logical qubits onto the region with
  ``cirq.RouteCQC`` — embeddings of the circuit's interaction graph (or of its repeated
  pairs) and Cirq's line mapper — and keeps the one needing the fewest SWAPs. A CNOT ring
  on a 2×2 or 2×4 region needs none; amplitude encoding (all-to-all CNOTs) does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Any

import cirq
import networkx as nx
import numpy as np

from qkernel.errors import HardwareError

__all__ = ["choose_qubits", "interaction", "route"]

#: Calibration metric of each gateset's two-qubit error (absent metrics are skipped).
_EDGE_METRIC = {"sqrt_iswap": "two_qubit_parallel_sqrt_iswap_gate_xeb_pauli_error_per_cycle", "cz": ""}
_READOUT_METRICS = ("parallel_p00_error", "parallel_p11_error")
#: Initial maps tried per routing (each is one cheap RouteCQC pass).
_MAX_EMBEDDINGS = 24


def _mean_metric(calibration: Mapping[str, Any] | None, names: Sequence[str]) -> dict[tuple, float]:
    """Per-target mean of the calibration metrics ``names`` (targets are qubit tuples, sorted)."""
    values: dict[tuple, list[float]] = {}
    for name in names:
        if not name or calibration is None or name not in calibration:
            continue
        for target, value in calibration[name].items():
            numbers = [float(v) for v in value if isinstance(v, (int, float))]
            if numbers:
                values.setdefault(tuple(sorted(target)), []).append(float(np.mean(numbers)))
    return {k: float(np.mean(v)) for k, v in values.items()}


def choose_qubits(
    graph: nx.Graph,
    n_qubits: int,
    calibration: Mapping[str, Any] | None = None,
    gateset: str = "sqrt_iswap",
) -> tuple[cirq.Qid, ...]:
    """A compact connected region of ``n_qubits`` device qubits (see the module docstring).

    Args:
        graph: The device's coupler graph (``device.metadata.nx_graph``).
        n_qubits: Region size.
        calibration: A ``cirq_google.Calibration`` (or mapping of metric → values); its
            readout errors and the gateset's two-qubit errors break ties between regions.
        gateset: Selects which two-qubit error metric is used.

    Returns:
        The region's qubits, in the order they were added.

    Raises:
        qkernel.errors.HardwareError: if no connected region of that size exists.
    """
    readout = _mean_metric(calibration, _READOUT_METRICS)
    coupler = _mean_metric(calibration, (_EDGE_METRIC.get(gateset, ""),))
    best: tuple[tuple[float, ...], tuple[cirq.Qid, ...]] | None = None
    for seed in sorted(graph.nodes):
        region = [seed]
        while len(region) < n_qubits:
            members = set(region)
            frontier = {nb for q in region for nb in graph.neighbors(q)} - members
            if not frontier:
                break
            region.append(min(frontier, key=lambda q: (-sum(nb in members for nb in graph.neighbors(q)),
                                                        readout.get((q,), 0.0), q)))
        if len(region) < n_qubits:
            continue
        edges = [tuple(sorted(e)) for e in graph.subgraph(region).edges]
        error = np.mean([readout.get((q,), 0.0) for q in region])
        error += np.mean([coupler.get(e, 0.0) for e in edges]) if edges else 0.0
        cost = (-len(edges), round(float(error), 12))
        if best is None or cost < best[0]:
            best = (cost, tuple(region))
    if best is None:
        raise HardwareError(
            f"the device has no connected region of {n_qubits} qubits (it has {graph.number_of_nodes()} qubits)"
        )
    return best[1]


def interaction(circuit: cirq.AbstractCircuit) -> Counter:
    """How often each pair of qubits shares a two-qubit gate."""
    return Counter(frozenset(op.qubits) for op in circuit.all_operations() if len(op.qubits) == 2)


def _embeddings(region: nx.Graph, pairs: Sequence[frozenset], qubits: Sequence[cirq.Qid]) -> list[dict]:
    """Up to ``_MAX_EMBEDDINGS`` maps logical→physical under which every pair in ``pairs`` is a coupler."""
    logical = nx.Graph()
    logical.add_nodes_from(qubits)
    logical.add_edges_from(tuple(p) for p in pairs)
    matcher = nx.algorithms.isomorphism.GraphMatcher(region, logical)
    maps = islice(matcher.subgraph_monomorphisms_iter(), _MAX_EMBEDDINGS)
    return [{lq: pq for pq, lq in m.items()} for m in maps]


def route(
    circuit: cirq.AbstractCircuit, qubits: Sequence[cirq.Qid], region: nx.Graph
) -> tuple[cirq.Circuit, dict[cirq.Qid, cirq.Qid], dict[cirq.Qid, cirq.Qid], int]:
    """Route ``circuit`` onto ``region`` with the initial map needing the fewest SWAPs.

    Returns:
        The routed circuit, the initial and the final map logical → physical qubit (the
        final one says where each logical qubit is measured), and the number of SWAPs.
    """
    router = cirq.RouteCQC(region)
    counts = interaction(circuit)
    candidates: list[cirq.AbstractInitialMapper | None] = [None]  # None: Cirq's LineInitialMapper
    heavy = [p for p, c in counts.items() if c > 1]
    for pairs in (list(counts), heavy):
        for mapping in _embeddings(region, pairs, qubits):
            candidates.append(cirq.HardCodedInitialMapper(mapping))
        if candidates[1:]:
            break  # the whole interaction graph (or its repeated pairs) embeds: no need to look further
    best = None
    for mapper in candidates:
        routed, initial, swap_map = router.route_circuit(circuit, initial_mapper=mapper, tag_inserted_swaps=True)
        swaps = sum(1 for op in routed.all_operations() if cirq.RoutingSwapTag() in op.tags)
        if best is None or swaps < best[3]:
            best = (routed, initial, swap_map, swaps)
        if swaps == 0:
            break
    assert best is not None
    routed, initial, swap_map, swaps = best
    final = {q: swap_map.get(p, p) for q, p in initial.items()}
    free = [p for p in region.nodes if p not in initial.values()]
    for q in qubits:  # logical qubits without any gate still need a home to be measured on
        if q not in initial:
            initial[q] = final[q] = free.pop(0)
    return cirq.Circuit(routed), initial, final, swaps
