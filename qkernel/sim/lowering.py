"""Lowering: Cirq operations to primitives on sorted qubit positions.

The first step of :func:`qkernel.sim.kernel.compile_circuit`. Every operation is lowered to
primitives (:class:`Prim`): a constant unitary (any gate without symbols, through
:func:`cirq.unitary`) or a symbolic member of an :class:`cirq.EigenGate` family,
``U(a) = sum_k exp(i a mu_k) P_k`` with ``a = pi * exponent``. PhasedXPow, PhasedXZ and
PhasedISwapPow gates lower through their Cirq decomposition, FSim as ``ISWAP**(-2 theta/pi)``
then ``CZ**(-phi/pi)``, controlled gates by lifting each primitive of the controlled gate.
Non-unitary operations and symbolic gates outside :data:`SUPPORTED_FAMILIES` raise
:class:`qkernel.errors.UnsupportedGateError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import cirq
import numpy as np
import sympy

from qkernel.errors import UnsupportedGateError
from qkernel.sim.sympy_tf import unsupported_function

__all__ = ["SUPPORTED_FAMILIES", "Prim", "lower_op"]

#: Human-readable list of the gate families the kernel compiles, quoted by errors.
SUPPORTED_FAMILIES = (
    "any gate without symbols that has a unitary (cirq.unitary: H, X, Y, Z, S, T, CNOT, CZ, "
    "SWAP, ISWAP, CCX, MatrixGate, ...); symbolic: EigenGate families "
    "(XPow/YPow/ZPow incl. Rx/Ry/Rz, HPow, CXPow, CZPow, SwapPow, ISwapPow, CCXPow, CCZPow, "
    "XXPow/YYPow/ZZPow) with a symbolic exponent, PhasedXPowGate, PhasedXZGate, FSimGate, "
    "PhasedISwapPowGate, and cirq.ControlledGate of any of these"
)


@dataclasses.dataclass
class Prim:
    """A lowered gate on ascending qubit positions.

    Either ``matrix`` is a constant unitary, or ``U(a) = sum_k exp(1j * a * mus[k]) projectors[k]``
    with ``a`` the value of the sympy expression ``angle``.
    """

    qubits: tuple[int, ...]
    matrix: np.ndarray | None = None
    angle: sympy.Expr | None = None
    mus: np.ndarray | None = None
    projectors: np.ndarray | None = None


def _reorder(mat: np.ndarray, order: Sequence[int]) -> np.ndarray:
    """Permute the qubit axes of a ``(..., d, d)`` operator: new qubit j = old qubit order[j]."""
    k = len(order)
    lead = mat.shape[:-2]
    t = mat.reshape(lead + (2,) * (2 * k))
    nl = len(lead)
    axes = list(range(nl)) + [nl + o for o in order] + [nl + k + o for o in order]
    return t.transpose(axes).reshape(mat.shape)


def _make_prim(qubits: Sequence[int], matrix=None, angle=None, mus=None, projectors=None) -> Prim:
    qubits = tuple(qubits)
    if angle is not None:
        angle = sympy.sympify(angle)
        if not angle.free_symbols:  # symbolic family member with a numeric exponent
            matrix = np.einsum("k,kij->ij", np.exp(1j * float(angle) * mus), projectors)
            angle = mus = projectors = None
    order = sorted(range(len(qubits)), key=lambda i: qubits[i])
    if order != list(range(len(qubits))):
        matrix = None if matrix is None else _reorder(matrix, order)
        projectors = None if projectors is None else _reorder(projectors, order)
    return Prim(tuple(sorted(qubits)), matrix, angle, mus, projectors)


def _unsupported(op: Any, why: str) -> UnsupportedGateError:
    return UnsupportedGateError(f"cannot compile {op!r}: {why}. Supported: {SUPPORTED_FAMILIES}")


def lower_op(op: cirq.Operation, pos: Mapping[cirq.Qid, int]) -> list[Prim]:
    """The primitives of ``op`` on the positions ``pos`` of its qubits, in order of application.

    Raises:
        UnsupportedGateError: for a non-unitary operation, a symbolic gate outside
            :data:`SUPPORTED_FAMILIES`, or a parameter :func:`~qkernel.sim.sympy_tf.sympy_to_tf`
            cannot convert.
    """
    prims = _lower_op_unchecked(op, pos)
    for p in prims:
        bad = None if p.angle is None else unsupported_function(p.angle)
        if bad:
            raise _unsupported(op, f"its parameter {p.angle} uses {bad}, which has no TensorFlow conversion")
    return prims


def _lower_op_unchecked(op: cirq.Operation, pos: Mapping[cirq.Qid, int]) -> list[Prim]:
    qubits = tuple(pos[q] for q in op.qubits)
    if not cirq.is_parameterized(op):
        u = cirq.unitary(op, None)
        if u is None:
            raise _unsupported(op, "it has no unitary (noise channels, resets and mid-circuit measurements are not simulated)")
        return [_make_prim(qubits, matrix=np.asarray(u, dtype=np.complex128))]
    if op.gate is None:
        raise _unsupported(op, "symbolic operations without a gate are not supported")
    return _lower_gate(op.gate, qubits, op)


def _lower_gate(gate: cirq.Gate, qubits: tuple[int, ...], op: Any) -> list[Prim]:
    if not cirq.is_parameterized(gate):
        u = cirq.unitary(gate, None)
        if u is None:
            raise _unsupported(op, f"{gate!r} has no unitary")
        return [_make_prim(qubits, matrix=np.asarray(u, dtype=np.complex128))]
    if isinstance(gate, cirq.ControlledGate):
        if any(d != 2 for d in gate.control_qid_shape):
            raise _unsupported(op, "only qubit (dimension 2) controls are supported")
        nc = gate.num_controls()
        proj = np.zeros(2**nc)
        for values in gate.control_values.expand():
            proj[int("".join(str(int(v)) for v in values) or "0", 2)] = 1.0
        return [_control(p, qubits[:nc], qubits[nc:], proj) for p in _lower_gate(gate.sub_gate, qubits[nc:], op)]
    if isinstance(gate, cirq.FSimGate):
        iswap = cirq.ISwapPowGate(exponent=-2 * sympy.sympify(gate.theta) / sympy.pi)
        cz = cirq.CZPowGate(exponent=-sympy.sympify(gate.phi) / sympy.pi)
        return _lower_gate(iswap, qubits, op) + _lower_gate(cz, qubits, op)
    if isinstance(gate, (cirq.PhasedXPowGate, cirq.PhasedXZGate, cirq.PhasedISwapPowGate)):
        line = [cirq.LineQubit(p) for p in qubits]
        identity = {q: q.x for q in line}
        return [p for sub in cirq.decompose_once_with_qubits(gate, line) for p in lower_op(sub, identity)]
    if isinstance(gate, cirq.EigenGate):
        try:
            comps = gate._eigen_components()  # the EigenGate extension API
            mus = np.array([float(h) + float(gate.global_shift) for h, _ in comps])
            projectors = np.array([np.asarray(p, dtype=np.complex128) for _, p in comps])
        except TypeError as exc:
            raise _unsupported(op, "only the exponent of an EigenGate may be symbolic") from exc
        return [_make_prim(qubits, angle=sympy.pi * sympy.sympify(gate.exponent), mus=mus, projectors=projectors)]
    raise _unsupported(op, f"gate {type(gate).__name__} with symbolic parameters is not a supported family")


def _control(p: Prim, controls: tuple[int, ...], targets: tuple[int, ...], proj: np.ndarray) -> Prim:
    """Controlled version of a primitive originally given on ``targets`` (in that order)."""
    # _make_prim sorted the primitive's qubits; undo to the caller's target order is not needed
    # because the controlled operator is built on (controls + sorted targets).
    d = 2 ** len(p.qubits)
    on, off = np.diag(proj), np.diag(1.0 - proj)
    qubits = controls + p.qubits
    if p.matrix is not None:
        return _make_prim(qubits, matrix=np.kron(off, np.eye(d)) + np.kron(on, p.matrix))
    projectors = np.array([np.kron(off, np.eye(d))] + [np.kron(on, q) for q in p.projectors])
    return _make_prim(qubits, angle=p.angle, mus=np.concatenate([[0.0], p.mus]), projectors=projectors)
