"""Built-in ansatzes: per-qubit rotation layers, hardware-efficient, strongly entangling.

Each class satisfies :class:`qkernel.plugin.contracts.Ansatz` and is registered through the
``register_ansatzes`` hook. Factories are called as ``Ansatz(n_qubits=n, depth=d, **options)``.

Weight symbols are ``w_0000, w_0001, …`` numbered layer by layer, qubit by qubit, gate by
gate (the order of the weight vector). Rotations are ``R_a(θ) = exp(−iθσ_a/2)``.

Readout note: every ansatz here ends a layer with RZ gates followed only by CNOTs/CZs.
Diagonal gates commute through those to a ``⟨Z⟩`` measurement, so with ``z_each`` readout
the *last* layer's RZ angles receive exactly zero gradient (``n_qubits`` dead weights;
strongly entangling: the last ``ω``). They are live under ``xyz_each``/Hermitian readout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import cirq
import numpy as np
import sympy

from qkernel.errors import ConfigError, InputError
from qkernel.plugin.hookspecs import hookimpl

__all__ = [
    "HardwareEfficientAnsatz",
    "RotationsAnsatz",
    "StronglyEntanglingAnsatz",
    "register_ansatzes",
]

_ENTANGLERS = {"cnot": cirq.CNOT, "cz": cirq.CZ}


def _ring(gate: cirq.Gate, qubits: Sequence[cirq.Qid]) -> list[cirq.Operation]:
    """``gate(q_i, q_{i+1 mod n})`` for every ``i``; a single gate for two qubits.

    With two qubits ``i → i+1 mod 2`` names the same pair twice; like PennyLane's ``"ring"``
    broadcast pattern (``BasicEntanglerLayers``), one gate per pair is applied.
    """
    n = len(qubits)
    if n < 2:
        return []
    if n == 2:
        return [gate(qubits[0], qubits[1])]
    return [gate(qubits[i], qubits[(i + 1) % n]) for i in range(n)]


class _AnsatzBase:
    """Shared argument checks and weight-symbol naming."""

    name: ClassVar[str]
    default_depth: ClassVar[int]
    option_defaults: ClassVar[Mapping[str, Any]] = {}
    #: Rotation gates per qubit per layer.
    rotations_per_qubit: ClassVar[int]

    def __init__(self, n_qubits: int, depth: int | None = None, **options: Any) -> None:
        depth = self.default_depth if depth is None else depth
        for label, value in (("n_qubits", n_qubits), ("depth", depth)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{self.name} ansatz: {label} must be an integer >= 1; got {value!r}")
        unknown = sorted(set(options) - set(self.option_defaults))
        if unknown:
            accepted = ", ".join(sorted(self.option_defaults)) or "none"
            raise ConfigError(f"{self.name} ansatz: unknown option(s) {', '.join(unknown)}; accepted: {accepted}")
        self.n_qubits = int(n_qubits)
        self.depth = int(depth)
        self.options = {**self.option_defaults, **options}

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}(n_qubits={self.n_qubits}, depth={self.depth}{opts})"

    def _entangler(self, allow_none: bool) -> cirq.Gate | None:
        value = self.options["entangler"]
        key = None if value is None else str(value).lower()
        if key in (None, "none") and allow_none:
            return None
        if key not in _ENTANGLERS:
            choices = "None, 'cnot' or 'cz'" if allow_none else "'cnot' or 'cz'"
            raise ConfigError(f"{self.name} ansatz: option entangler must be {choices}; got {value!r}")
        if self.n_qubits < 2:
            raise ConfigError(
                f"{self.name} ansatz: entangler {key!r} needs n_qubits >= 2; got n_qubits={self.n_qubits} "
                + ("(use entangler=None)" if allow_none else "")
            )
        return _ENTANGLERS[key]

    @property
    def n_weights(self) -> int:
        """Length of the weight vector, ``len(symbols())``."""
        return self.depth * self.n_qubits * self.rotations_per_qubit

    def symbols(self) -> tuple[sympy.Symbol, ...]:
        """Weight symbols ``w_0000 …`` (layer-major, then qubit, then gate)."""
        width = max(4, len(str(self.n_weights - 1)))
        return tuple(sympy.Symbol(f"w_{i:0{width}d}") for i in range(self.n_weights))

    def _layer_symbols(self) -> np.ndarray:
        """Symbols shaped ``(depth, n_qubits, rotations_per_qubit)``."""
        return np.array(self.symbols(), dtype=object).reshape(self.depth, self.n_qubits, self.rotations_per_qubit)

    def _check_qubits(self, qubits: Sequence[cirq.Qid]) -> list[cirq.Qid]:
        qubits = list(qubits)
        if len(qubits) != self.n_qubits:
            raise InputError(f"{self.name} ansatz: expected {self.n_qubits} qubits; received {len(qubits)}")
        return qubits


class RotationsAnsatz(_AnsatzBase):
    """Per-qubit rotation layers (the KD paper's PQC): RX RY RZ on each qubit, then a ring.

    REFERENCE part A: the published figure shows per-qubit ``RX RY RZ RX`` then
    ``RX RY RZ`` and no entanglement. qdistill generalises it to ``depth`` layers of
    ``RX RY RZ`` per qubit (default 2), each followed by an entangling ring
    ``CNOT(i, i+1 mod n)`` by default. Without entanglement every qubit evolves on its own,
    so a per-qubit ``⟨Z_i⟩`` readout depends only on what was encoded into qubit ``i``
    (for amplitude encoding: a marginal) and the circuit cannot mix information between
    features; ``entangler=None`` reproduces the figure's product circuit for comparison.

    Options:
        entangler: ``"cnot"`` (default), ``"cz"`` or ``None``.
    """

    name = "rotations"
    default_depth = 2
    option_defaults = {"entangler": "cnot"}
    rotations_per_qubit = 3

    def __init__(self, n_qubits: int, depth: int | None = None, **options: Any) -> None:
        super().__init__(n_qubits, depth, **options)
        self.entangler = self._entangler(allow_none=True)

    def circuit(self, qubits: Sequence[cirq.Qid]) -> cirq.Circuit:
        """``depth`` × (RX RY RZ on every qubit, then the entangling ring)."""
        qubits = self._check_qubits(qubits)
        w = self._layer_symbols()
        circuit = cirq.Circuit()
        for layer in range(self.depth):
            for gate_index, gate in enumerate((cirq.rx, cirq.ry, cirq.rz)):
                circuit.append(gate(w[layer, i, gate_index]).on(q) for i, q in enumerate(qubits))
            if self.entangler is not None:
                circuit.append(_ring(self.entangler, qubits))
        return circuit


class HardwareEfficientAnsatz(_AnsatzBase):
    """Hardware-efficient layers: RY then RZ on each qubit, then a CNOT (or CZ) ring.

    REFERENCE "Stack facts" measures this shape with 5 layers (the default depth).

    Options:
        entangler: ``"cnot"`` (default) or ``"cz"``; needs ``n_qubits >= 2``.
    """

    name = "hardware_efficient"
    default_depth = 5
    option_defaults = {"entangler": "cnot"}
    rotations_per_qubit = 2

    def __init__(self, n_qubits: int, depth: int | None = None, **options: Any) -> None:
        super().__init__(n_qubits, depth, **options)
        self.entangler = self._entangler(allow_none=False)

    def circuit(self, qubits: Sequence[cirq.Qid]) -> cirq.Circuit:
        """``depth`` × (RY, RZ on every qubit, then the entangling ring)."""
        qubits = self._check_qubits(qubits)
        w = self._layer_symbols()
        circuit = cirq.Circuit()
        for layer in range(self.depth):
            circuit.append(cirq.ry(w[layer, i, 0]).on(q) for i, q in enumerate(qubits))
            circuit.append(cirq.rz(w[layer, i, 1]).on(q) for i, q in enumerate(qubits))
            circuit.append(_ring(self.entangler, qubits))
        return circuit


class StronglyEntanglingAnsatz(_AnsatzBase):
    """Strongly entangling layers (PennyLane ``StronglyEntanglingLayers``), as in the DD paper.

    Layer ``l``: on each qubit ``Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ)`` (``φ`` applied first;
    weights ordered ``φ, θ, ω``), then ``CNOT(i, (i + r) mod n)`` for ``i = 0 … n−1`` with
    range ``r = (l mod (n − 1)) + 1``. With one qubit there are no CNOTs. ``3 · n · depth``
    weights: 6 qubits × 3 layers = 54, the DD paper's count (REFERENCE part B).

    Options:
        entangler: ``"cnot"`` (default) or ``"cz"`` (PennyLane's ``imprimitive``).
    """

    name = "strongly_entangling"
    default_depth = 3
    option_defaults = {"entangler": "cnot"}
    rotations_per_qubit = 3

    def __init__(self, n_qubits: int, depth: int | None = None, **options: Any) -> None:
        super().__init__(n_qubits, depth, **options)
        value = self.options["entangler"]
        if value is None or str(value).lower() not in _ENTANGLERS:
            raise ConfigError(f"{self.name} ansatz: option entangler must be 'cnot' or 'cz'; got {value!r}")
        self.entangler = _ENTANGLERS[str(value).lower()]

    def ranges(self) -> list[int]:
        """CNOT range ``r`` of each layer (empty ranges for one qubit)."""
        if self.n_qubits < 2:
            return []
        return [(layer % (self.n_qubits - 1)) + 1 for layer in range(self.depth)]

    def circuit(self, qubits: Sequence[cirq.Qid]) -> cirq.Circuit:
        """``depth`` × (Rot on every qubit, then CNOTs of range ``r``)."""
        qubits = self._check_qubits(qubits)
        n = self.n_qubits
        w = self._layer_symbols()
        circuit = cirq.Circuit()
        for layer in range(self.depth):
            for i, q in enumerate(qubits):
                phi, theta, omega = w[layer, i]
                circuit.append([cirq.rz(phi).on(q), cirq.ry(theta).on(q), cirq.rz(omega).on(q)])
            if n > 1:
                r = (layer % (n - 1)) + 1
                circuit.append(self.entangler(qubits[i], qubits[(i + r) % n]) for i in range(n))
        return circuit


@hookimpl
def register_ansatzes() -> list[type]:
    """The built-in ansatzes."""
    return [RotationsAnsatz, HardwareEfficientAnsatz, StronglyEntanglingAnsatz]
