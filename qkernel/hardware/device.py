"""Compile a logical circuit for a Google processor: place, route, convert, validate, count.

:func:`compile_circuit` is the one path from a circuit on ``cirq.LineQubit`` s (qkernel's
convention) to a circuit the device accepts:

1. **Placement and routing** (:mod:`qkernel.hardware.placement`): a compact connected
   region of the device, the initial map needing the fewest SWAPs, ``cirq.RouteCQC``.
2. **Gateset.** ``cirq.optimize_for_target_gateset`` converts to √iSWAP (default) or CZ
   plus ``PhasedXZGate`` s. Data and weight symbols stay symbolic: the circuit is compiled
   once and every sample is a ``cirq.ParamResolver`` of the same program. Each symbolic X/Y
   rotation is first written as Clifford · symbolic Z · Clifford; the Cliffords merge into
   the neighbouring constant gates and the symbolic Z is folded into the next
   ``PhasedXZGate`` (linear in the symbols) or stays a virtual Z, so symbols cost no extra
   microwave gates. Symbolic expressions keep only float constants (no ``sympy.pi``), which
   resolve fast and serialize for the Engine.
3. **Validation.** ``device.validate_circuit`` on the result, and again once measurements
   are added (:meth:`CompiledCircuit.measured`).

Only √iSWAP and Sycamore gates are characterised by the calibrations cirq-google ships for
``rainbow`` and ``weber``, so on the Quantum Virtual Machine CZ circuits carry no
two-qubit gate error — hence √iSWAP is the default.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import cirq
import cirq_google
import networkx as nx
import sympy

from qkernel.errors import HardwareError
from qkernel.hardware.placement import choose_qubits, interaction, route

__all__ = [
    "GATESETS",
    "CircuitStats",
    "CompiledCircuit",
    "circuit_stats",
    "compile_circuit",
    "known_processors",
    "load_device",
    "quiet_cirq",
    "validate",
]

#: Two-qubit gate families a circuit can be compiled to.
GATESETS = ("sqrt_iswap", "cz")


@contextmanager
def quiet_cirq() -> Iterator[None]:
    """Silence cirq 1.5's FutureWarning about ``use_repetition_ids`` raised inside its own transformers."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*use_repetition_ids.*", category=FutureWarning)
        yield


def known_processors() -> tuple[str, ...]:
    """Processors whose device specification and calibration ship with cirq-google (offline)."""
    from cirq_google.engine.virtual_engine_factory import MEDIAN_CALIBRATIONS, MOST_RECENT_TEMPLATES

    return tuple(sorted(set(MOST_RECENT_TEMPLATES) & set(MEDIAN_CALIBRATIONS)))


def load_device(processor_id: str) -> cirq_google.GridDevice:
    """The bundled device specification of ``processor_id`` (no network).

    Raises:
        qkernel.errors.HardwareError: if cirq-google ships no specification for it.
    """
    if processor_id not in known_processors():
        raise HardwareError(
            f"unknown processor {processor_id!r} for the Quantum Virtual Machine; cirq-google "
            f"{cirq_google.__version__} ships device data for {', '.join(known_processors())} "
            "(e.g. --processor weber)"
        )
    return cirq_google.engine.create_device_from_processor_id(processor_id)


def _gateset(name: str) -> cirq.CompilationTargetGateset:
    if name == "sqrt_iswap":
        return cirq.SqrtIswapTargetGateset()
    if name == "cz":
        return cirq_google.GoogleCZTargetGateset()
    raise HardwareError(f"unknown gateset {name!r}; expected one of {', '.join(GATESETS)}")


@dataclass(frozen=True)
class CircuitStats:
    """Size of a compiled circuit.

    Attributes:
        depth: Number of moments.
        two_qubit_gates: Number of two-qubit operations.
        one_qubit_gates: Number of single-qubit microwave gates (virtual Z rotations and
            measurements excluded).
        qubits: Number of qubits acted on.
        swaps: SWAPs the router inserted before conversion to the gateset.
    """

    depth: int
    two_qubit_gates: int
    one_qubit_gates: int
    qubits: int
    swaps: int = 0

    def as_dict(self) -> dict[str, int]:
        """The fields as a plain mapping (for JSON and tables)."""
        return {"depth": self.depth, "two_qubit_gates": self.two_qubit_gates,
                "one_qubit_gates": self.one_qubit_gates, "qubits": self.qubits, "swaps": self.swaps}


def circuit_stats(circuit: cirq.AbstractCircuit, swaps: int = 0) -> CircuitStats:
    """Depth, gate counts and qubits of ``circuit`` (measurements are not gates here)."""
    ops = [op for op in circuit.all_operations() if not cirq.is_measurement(op)]
    return CircuitStats(
        depth=len(circuit),
        two_qubit_gates=sum(1 for op in ops if len(op.qubits) == 2),
        one_qubit_gates=sum(1 for op in ops if len(op.qubits) == 1 and not isinstance(op.gate, cirq.ZPowGate)),
        qubits=len(circuit.all_qubits()),
        swaps=swaps,
    )


_PLAIN = sympy.Symbol("_symbolic")


def _plain_symbols(op: cirq.Operation, _: int) -> cirq.Operation:
    """``op`` with each symbolic exponent replaced by one plain symbol (same type, qubits, tags)."""
    gate = op.gate
    if not cirq.is_parameterized(op) or len(op.qubits) != 1:
        return op
    plain = lambda v: _PLAIN if cirq.is_parameterized(v) else v  # noqa: E731
    if isinstance(gate, cirq.PhasedXZGate):
        new = cirq.PhasedXZGate(x_exponent=plain(gate.x_exponent), z_exponent=plain(gate.z_exponent),
                                axis_phase_exponent=plain(gate.axis_phase_exponent))
    elif isinstance(gate, cirq.ZPowGate):
        new = cirq.ZPowGate(exponent=_PLAIN, global_shift=gate.global_shift)
    else:
        return op
    return new.on(*op.qubits).with_tags(*op.tags)


def validate(device: cirq.Device, circuit: cirq.AbstractCircuit, label: str = "circuit") -> None:
    """``device.validate_circuit``, with the device's complaint wrapped in a :class:`HardwareError`.

    Symbolic single-qubit exponents are validated as one plain symbol: the device checks gate
    families, qubits and couplers, never exponent values, but hashes every gate on the way,
    and hashing a composite sympy exponent (through ``sympy.Mod``) costs ~10 ms per gate.
    """
    try:
        device.validate_circuit(cirq.map_operations(circuit, _plain_symbols))
    except ValueError as exc:
        raise HardwareError(f"{label} does not validate against the device: {exc}") from exc


# --------------------------------------------------------------------------- conversion


def _symbolic_phxz(op: cirq.Operation, _: int) -> cirq.OP_TREE:
    """Symbolic X/Y/PhasedX rotations → symbolic ``PhasedXZGate`` (equal up to global phase)."""
    gate = op.gate
    if len(op.qubits) != 1 or not cirq.is_parameterized(op) or isinstance(gate, cirq.PhasedXZGate):
        return op
    if isinstance(gate, cirq.XPowGate):
        new = cirq.PhasedXZGate(x_exponent=_numeric(gate.exponent), z_exponent=0, axis_phase_exponent=0)
    elif isinstance(gate, cirq.YPowGate):
        new = cirq.PhasedXZGate(x_exponent=_numeric(gate.exponent), z_exponent=0, axis_phase_exponent=0.5)
    elif isinstance(gate, cirq.PhasedXPowGate):
        new = cirq.PhasedXZGate(x_exponent=_numeric(gate.exponent), z_exponent=0,
                                axis_phase_exponent=_numeric(gate.phase_exponent))
    else:
        return op
    return new.on(*op.qubits).with_tags(*op.tags)


def _numeric(value: Any) -> Any:
    """Symbolic expressions with their constants evaluated (``θ/π`` → ``0.3183·θ``).

    Cirq hashes gates through ``sympy.Mod`` of their exponents (device validation does);
    with ``sympy.pi`` inside, that costs milliseconds per gate.
    """
    return value.evalf() if isinstance(value, sympy.Basic) else value


def _as_z_rotation(op: cirq.Operation, _: int) -> cirq.OP_TREE:
    """A symbolic X/Y/PhasedX rotation as Clifford · symbolic Z · Clifford (equal up to global phase).

    The Cliffords merge into neighbouring constant gates during conversion; the symbolic Z
    is then absorbed into a neighbouring ``PhasedXZGate`` (:func:`_absorb_z`) or stays a
    virtual Z — either way no extra microwave gate per data or weight symbol.
    """
    if len(op.qubits) != 1 or not cirq.is_parameterized(op) or isinstance(op.gate, cirq.PhasedXZGate):
        return op
    gate, q = op.gate, op.qubits[0]
    if isinstance(gate, cirq.PhasedXPowGate):  # Z^p X^e Z^-p
        z = cirq.ZPowGate(exponent=_numeric(gate.phase_exponent))
        return [z(q) ** -1, cirq.H(q), cirq.ZPowGate(exponent=_numeric(gate.exponent))(q), cirq.H(q), z(q)]
    if isinstance(gate, cirq.XPowGate):  # X^t = H Z^t H
        return [cirq.H(q), cirq.ZPowGate(exponent=_numeric(gate.exponent))(q), cirq.H(q)]
    if isinstance(gate, cirq.YPowGate):  # Y^t = S H Z^t H S†
        z = cirq.ZPowGate(exponent=_numeric(gate.exponent))
        return [cirq.S(q) ** -1, cirq.H(q), z(q), cirq.H(q), cirq.S(q)]
    if isinstance(gate, cirq.ZPowGate):
        return cirq.ZPowGate(exponent=_numeric(gate.exponent)).on(q)
    return op


def _absorb_z(circuit: cirq.AbstractCircuit, diagonal_two_qubit: bool) -> list[cirq.Operation]:
    """Fold symbolic Z rotations into the next ``PhasedXZGate`` on their qubit (linear in the symbols).

    ``PhXZ(a, x, z) · Z^t = PhXZ(a − t, x, z + t)``. Pending Z rotations commute through
    diagonal two-qubit gates (CZ); before any other operation, or at the end, they are
    emitted as (virtual) Z gates.
    """
    pending: dict[cirq.Qid, Any] = {}
    out: list[cirq.Operation] = []
    for op in circuit.all_operations():
        gate = op.gate
        if len(op.qubits) == 1 and isinstance(gate, cirq.ZPowGate) and cirq.is_parameterized(op):
            q = op.qubits[0]
            pending[q] = pending.get(q, 0) + gate.exponent
            continue
        if len(op.qubits) == 1 and isinstance(gate, cirq.PhasedXZGate) and op.qubits[0] in pending:
            t = pending.pop(op.qubits[0])
            out.append(cirq.PhasedXZGate(x_exponent=gate.x_exponent, z_exponent=_numeric(gate.z_exponent + t),
                                         axis_phase_exponent=_numeric(gate.axis_phase_exponent - t)).on(*op.qubits))
            continue
        if not (diagonal_two_qubit and len(op.qubits) == 2 and cirq.is_diagonal(cirq.unitary(op), atol=1e-9)):
            out.extend(cirq.ZPowGate(exponent=pending.pop(q))(q) for q in op.qubits if q in pending)
        out.append(op)
    out.extend(cirq.ZPowGate(exponent=t)(q) for q, t in pending.items())
    return out


def _to_gateset(circuit: cirq.AbstractCircuit, gateset: str) -> cirq.Circuit:
    with quiet_cirq():
        circuit = cirq.map_operations_and_unroll(circuit, _as_z_rotation)
        out = cirq.optimize_for_target_gateset(circuit, gateset=_gateset(gateset))
    out = cirq.map_operations(out, _symbolic_phxz)
    ops = _absorb_z(out, diagonal_two_qubit=gateset == "cz")
    # Global phases are unobservable and not device gates; routing tags would reach the Engine's
    # serializer. Rebuilding from the operation list packs every gate into its earliest moment.
    return cirq.Circuit(op.untagged for op in ops if not isinstance(op.gate, cirq.GlobalPhaseGate))


@dataclass(frozen=True)
class CompiledCircuit:
    """A logical circuit compiled for a device, symbols intact.

    Attributes:
        circuit: The compiled circuit on device qubits, without measurements.
        logical_qubits: The logical qubits, in the order results refer to them.
        initial: Logical qubit → physical qubit at the start.
        final: Logical qubit → physical qubit at the end (after routing SWAPs): where it is measured.
        region: The placement region.
        gateset: ``"sqrt_iswap"`` or ``"cz"``.
        stats: Size of :attr:`circuit`.
        device: The device it was validated against.
    """

    circuit: cirq.Circuit
    logical_qubits: tuple[cirq.Qid, ...]
    initial: dict[cirq.Qid, cirq.Qid]
    final: dict[cirq.Qid, cirq.Qid]
    region: tuple[cirq.Qid, ...]
    gateset: str
    stats: CircuitStats
    device: cirq.Device

    @property
    def measured_qubits(self) -> tuple[cirq.Qid, ...]:
        """Physical qubits holding the logical qubits at the end, in logical order."""
        return tuple(self.final[q] for q in self.logical_qubits)

    def measured(self, basis: cirq.AbstractCircuit) -> cirq.Circuit:
        """The compiled circuit followed by ``basis`` (written on the logical qubits, e.g.
        :meth:`qkernel.sim.observables.MeasurementPlan.measurement_circuit`), mapped to the final
        physical qubits, converted to the gateset and validated.

        Raises:
            qkernel.errors.HardwareError: if the result does not validate.
        """
        mapped = basis.transform_qubits(lambda q: self.final.get(q, q))
        unitary_part = cirq.Circuit(op for op in mapped.all_operations() if not cirq.is_measurement(op))
        measurements = [op for op in mapped.all_operations() if cirq.is_measurement(op)]
        tail = _to_gateset(unitary_part, self.gateset) if unitary_part else cirq.Circuit()
        full = self.circuit + tail + (cirq.Circuit(cirq.Moment(measurements)) if measurements else cirq.Circuit())
        validate(self.device, full, "the compiled circuit with measurements")
        return full


def compile_circuit(
    circuit: cirq.AbstractCircuit,
    qubits: Sequence[cirq.Qid],
    device: cirq.Device,
    *,
    gateset: str = "sqrt_iswap",
    calibration: Mapping[str, Any] | None = None,
    region: Sequence[cirq.Qid] | None = None,
) -> CompiledCircuit:
    """Place, route, convert and validate ``circuit`` (once; its symbols stay symbols).

    Args:
        circuit: Logical circuit of one- and two-qubit gates, possibly parametrised.
        qubits: Its logical qubits, in result order.
        device: Target device (``cirq_google.GridDevice``).
        gateset: ``"sqrt_iswap"`` (default) or ``"cz"``.
        calibration: Calibration metrics used to choose the region (optional).
        region: Physical qubits to use instead of :func:`choose_qubits`' choice.

    Returns:
        The :class:`CompiledCircuit`.

    Raises:
        qkernel.errors.HardwareError: unknown gateset, too few qubits, a region that is not
            connected or not on the device, an operation on more than two qubits, or a
            result the device rejects.
    """
    _gateset(gateset)
    qubits = tuple(qubits)
    extra = circuit.all_qubits() - set(qubits)
    if extra:
        raise HardwareError(f"the circuit acts on {sorted(extra)}, outside its {len(qubits)} logical qubits")
    wide = [op for op in circuit.all_operations() if len(op.qubits) > 2]
    if wide:
        raise HardwareError(f"only one- and two-qubit gates can be routed; found {wide[0]!r}")
    graph = device.metadata.nx_graph if device.metadata is not None else None
    if graph is None:
        raise HardwareError("the device has no qubit connectivity metadata to place the circuit on")
    if region is None:
        region = choose_qubits(graph, len(qubits), calibration, gateset)
    region = tuple(region)
    missing = set(region) - set(graph.nodes)
    if missing or len(region) < len(qubits) or not nx.is_connected(graph.subgraph(region)):
        raise HardwareError(
            f"region {list(region)} must be {len(qubits)} or more connected device qubits"
            + (f"; {sorted(missing)} are not on the device" if missing else "")
        )
    sub = nx.Graph(graph.subgraph(region))
    if len(qubits) == 1 or not interaction(circuit):
        initial = dict(zip(qubits, region))
        routed, final, swaps = circuit.transform_qubits(lambda q: initial[q]), dict(initial), 0
    else:
        routed, initial, final, swaps = route(circuit, qubits, sub)
    compiled = _to_gateset(routed, gateset)
    validate(device, compiled, "the compiled circuit")
    return CompiledCircuit(
        circuit=compiled, logical_qubits=qubits, initial=initial, final=final, region=region,
        gateset=gateset, stats=circuit_stats(compiled, swaps), device=device,
    )
