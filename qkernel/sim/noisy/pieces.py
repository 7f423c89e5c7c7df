"""Lowering a noisy circuit: every operation becomes a *piece* acting on a few register positions.

The first step of :func:`qkernel.sim.noisy.compile_noisy_circuit`. Unitary operations go
through the state-vector kernel's own lowering (:func:`qkernel.sim.lowering.lower_op`), so
the noisy mode accepts exactly the gates the kernel does; noise channels (anything with
Kraus operators: depolarising, thermal relaxation, generalised amplitude damping, …) are
read with :func:`cirq.kraus`. Each piece's operator is an :class:`~qkernel.sim.plans.ExpSum`
— ``sum_t exp(i coef[t] · angles) Q_t`` — over the global angles it uses:

* **density mode** (``local_dim = 4``): the superoperator ``ρ ↦ A ρ B†`` on the vectorised
  density matrix, whose per-qubit index is ``2·row bit + column bit``. A gate
  ``U(a) = Σ_k e^{i a μ_k} P_k`` becomes ``Σ_{k,l} e^{i a (μ_k − μ_l)} P_k ⊗ P_l*`` (still
  of the ExpSum form, so symbols stay symbols), a channel ``Σ_k K_k ⊗ K_k*``;
* **trajectory mode** (``local_dim = 2``): gates are their unitaries; channels keep their
  Kraus operators (and their mixture, when they are mixed-unitary) for sampling.

Terminal measurements are recorded (key, positions); resets are channels like any other;
anything else without a unitary or Kraus operators raises :class:`qkernel.errors.UnsupportedGateError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import cirq
import numpy as np
import sympy

from qkernel.errors import UnsupportedGateError
from qkernel.sim.lowering import Prim, lower_op
from qkernel.sim.plans import ExpSum

__all__ = ["Lowered", "Piece", "lower_noisy", "permute_operator", "superoperator"]


@dataclass
class Piece:
    """One lowered operation on ascending register positions.

    Attributes:
        qubits: Register positions, ascending; the operator's axes follow this order.
        op: The operator (superoperator in density mode, unitary in trajectory mode), or
            ``None`` for a trajectory-mode channel.
        angles: Global angle indices of the columns of ``op.coef``.
        kraus: Trajectory-mode channels: Kraus operators ``(r, d, d)``.
        mixture: Trajectory-mode mixed-unitary channels: ``(probabilities (r,), unitaries (r, d, d))``.
    """

    qubits: tuple[int, ...]
    op: ExpSum | None = None
    angles: tuple[int, ...] = ()
    kraus: np.ndarray | None = None
    mixture: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def is_channel(self) -> bool:
        """A trajectory-mode channel (sampled, not fused)."""
        return self.op is None


@dataclass
class Lowered:
    """A circuit as pieces, with the angle expressions they refer to and its measurements.

    Attributes:
        pieces: In order of application.
        angles: Sympy expression of every global angle index.
        measurements: ``(key, positions)`` of each terminal measurement, in circuit order.
    """

    pieces: list[Piece] = field(default_factory=list)
    angles: list[sympy.Expr] = field(default_factory=list)
    measurements: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)


def permute_operator(q: np.ndarray, order: Sequence[int], local_dim: int) -> np.ndarray:
    """Reorder the subsystems of operators ``q`` ``(T, d, d)``: new subsystem ``j`` is old ``order[j]``."""
    m = len(order)
    if list(order) == list(range(m)):
        return q
    t = q.reshape((len(q),) + (local_dim,) * (2 * m))
    axes = [0] + [1 + o for o in order] + [1 + m + o for o in order]
    return t.transpose(axes).reshape(q.shape)


def superoperator(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The superoperator of ``ρ ↦ a ρ b†`` on the per-qubit interleaved vectorisation.

    ``a`` and ``b`` are ``(2**k, 2**k)``; the result is ``(4**k, 4**k)`` with qubit ``j``'s
    index ``2·r_j + c_j`` (row bit, column bit), qubits in the operators' order.
    """
    k = int(np.log2(a.shape[0]))
    t = np.einsum("ij,kl->ikjl", a, np.conj(b)).reshape((2,) * (4 * k))  # r, c, r', c' (bits)
    axes = [x for j in range(k) for x in (j, k + j)] + [x for j in range(k) for x in (2 * k + j, 3 * k + j)]
    return t.transpose(axes).reshape(4**k, 4**k)


def _gate_piece(p: Prim, density: bool, angle_index: int | None) -> Piece:
    if p.matrix is not None:
        u = p.matrix
        q = superoperator(u, u) if density else u
        return Piece(p.qubits, ExpSum(np.zeros((1, 0)), q[None]))
    mus, projectors = np.asarray(p.mus, float), np.asarray(p.projectors)
    if density:
        coef = (mus[:, None] - mus[None, :]).reshape(-1, 1)
        q = np.array([superoperator(a, b) for a in projectors for b in projectors])
    else:
        coef, q = mus[:, None], projectors
    return Piece(p.qubits, ExpSum(coef, q).simplified(), angles=(angle_index,))


def _channel_piece(op: cirq.Operation, positions: tuple[int, ...], density: bool) -> Piece:
    order = sorted(range(len(positions)), key=lambda i: positions[i])
    kraus = permute_operator(np.asarray(cirq.kraus(op), dtype=np.complex128), order, 2)
    qubits = tuple(sorted(positions))
    if density:
        return Piece(qubits, ExpSum(np.zeros((1, 0)), sum(superoperator(k, k) for k in kraus)[None]))
    mixture = None
    if cirq.has_mixture(op):
        probabilities, unitaries = zip(*cirq.mixture(op))
        mixture = (np.asarray(probabilities, float), permute_operator(np.asarray(unitaries, complex), order, 2))
    return Piece(qubits, kraus=kraus, mixture=mixture)


def lower_noisy(circuit: cirq.AbstractCircuit, pos: Mapping[cirq.Qid, int], *, density: bool,
                angles: list[sympy.Expr] | None = None) -> Lowered:
    """Lower every operation of ``circuit`` (see the module docstring).

    Args:
        circuit: A circuit of gates, noise channels and terminal measurements.
        pos: Register position of each qubit.
        density: Superoperators (density mode) or unitaries and Kraus operators (trajectories).
        angles: Angle list to share (and extend) with other circuits lowered for the same program.

    Raises:
        UnsupportedGateError: for a mid-circuit measurement, a classically controlled
            operation, or a symbolic gate the kernel cannot lower.
    """
    if not circuit.are_all_measurements_terminal():
        raise UnsupportedGateError("mid-circuit measurements are not supported; only terminal measurements")
    out = Lowered(angles=[] if angles is None else angles)
    index: dict[sympy.Expr, int] = {e: i for i, e in enumerate(out.angles)}
    for op in circuit.all_operations():
        op = op.untagged
        positions = tuple(pos[q] for q in op.qubits)
        if cirq.is_measurement(op):
            if not isinstance(op.gate, cirq.MeasurementGate) or op.gate.confusion_map or any(op.gate.invert_mask):
                raise UnsupportedGateError(f"only plain measurements are supported; got {op!r}")
            out.measurements.append((cirq.measurement_key_name(op), positions))
            continue
        if cirq.is_parameterized(op) or cirq.has_unitary(op):
            for p in lower_op(op, pos):
                column = None
                if p.angle is not None:
                    column = index.setdefault(p.angle, len(index))
                    if column == len(out.angles):
                        out.angles.append(p.angle)
                out.pieces.append(_gate_piece(p, density, column))
        elif cirq.has_kraus(op):
            out.pieces.append(_channel_piece(op, positions, density))
        else:
            raise UnsupportedGateError(
                f"cannot simulate {op!r}: it is neither unitary nor a channel with Kraus operators "
                "(classically controlled operations are not supported)"
            )
    return out
