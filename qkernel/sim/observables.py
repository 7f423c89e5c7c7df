"""Observables read out of the circuits: Pauli sums and their estimation from samples.

* :func:`z_each`, :func:`xyz_each`, :func:`pauli_strings` build ``cirq.PauliSum`` lists
  (one expectation value per entry) for the backends.
* :class:`MeasurementPlan` estimates such a list from samples: terms are grouped into
  qubit-wise commuting measurement settings, each setting is one basis change plus a
  measurement of every qubit, and every term is the mean of a parity.

The Keras readout layers built on them live in :mod:`qkernel.nn.readouts`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import cirq
import numpy as np

from qkernel.errors import InputError

__all__ = [
    "MeasurementPlan",
    "measurement_plan",
    "pauli_strings",
    "xyz_each",
    "z_each",
]

_PAULIS = {"I": cirq.I, "X": cirq.X, "Y": cirq.Y, "Z": cirq.Z}
_FACTOR = re.compile(r"^([IXYZ])(\d+)$", re.IGNORECASE)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def z_each(qubits: Sequence[cirq.Qid]) -> list[cirq.PauliSum]:
    """``[Z_0, Z_1, …]``: one ``⟨Z⟩`` per qubit, in qubit order."""
    return [cirq.PauliSum.from_pauli_strings(cirq.Z(q)) for q in qubits]


def xyz_each(qubits: Sequence[cirq.Qid]) -> list[cirq.PauliSum]:
    """``[X_0, Y_0, Z_0, X_1, Y_1, Z_1, …]`` (qubit-major): the input of :class:`HermitianReadout`."""
    return [cirq.PauliSum.from_pauli_strings(p(q)) for q in qubits for p in (cirq.X, cirq.Y, cirq.Z)]


def pauli_strings(spec: Sequence[str] | str, qubits: Sequence[cirq.Qid]) -> list[cirq.PauliSum]:
    """Parse observables written as Pauli products, one ``cirq.PauliSum`` per entry.

    Each entry is a product of factors ``P<k>`` (``P`` in ``I X Y Z``, ``k`` an index into
    ``qubits``) separated by spaces and/or ``*``, optionally led by a real coefficient:
    ``"Z0"``, ``"X0 Y3"``, ``"Z0*Z1"``, ``"0.5*Z0*Z1"``. A single string is one entry.

    Args:
        spec: The entries.
        qubits: Qubits the indices refer to.

    Returns:
        One observable per entry, in order.

    Raises:
        qkernel.errors.InputError: naming the entry and the offending token if a token is not
            a factor, an index is out of range, or a qubit appears twice.
    """
    entries = [spec] if isinstance(spec, str) else list(spec)
    qubits = list(qubits)
    result = []
    for entry in entries:
        if not isinstance(entry, str):
            raise InputError(f"Pauli spec entries must be strings like 'Z0' or 'X0 Y3'; got {entry!r}")
        tokens = [t for t in re.split(r"[\s*]+", entry.strip()) if t]
        if not tokens:
            raise InputError(f"empty Pauli spec {entry!r}; expected e.g. 'Z0', 'X0 Y3' or 'Z0*Z1'")
        coefficient = 1.0
        if _NUMBER.match(tokens[0]):
            coefficient = float(tokens.pop(0))
            if not tokens:
                raise InputError(f"Pauli spec {entry!r} has a coefficient but no Pauli factor")
        factors: dict[cirq.Qid, cirq.Gate] = {}
        for token in tokens:
            match = _FACTOR.match(token)
            if match is None:
                raise InputError(
                    f"bad Pauli spec {entry!r}: token {token!r} is not a factor P<k> with P in I, X, Y, Z "
                    "(e.g. 'Z0', 'X0 Y3', 'Z0*Z1')"
                )
            index = int(match.group(2))
            if index >= len(qubits):
                raise InputError(
                    f"bad Pauli spec {entry!r}: qubit index {index} out of range for {len(qubits)} qubits"
                )
            qubit = qubits[index]
            if qubit in factors:
                raise InputError(f"bad Pauli spec {entry!r}: qubit {index} appears more than once")
            factors[qubit] = _PAULIS[match.group(1).upper()]
        string = cirq.PauliString({q: p for q, p in factors.items() if p is not cirq.I}, coefficient=coefficient)
        result.append(cirq.PauliSum.from_pauli_strings(string))
    return result


# --------------------------------------------------------------------------- sampling


@dataclass(frozen=True)
class MeasurementPlan:
    """How to estimate a list of Pauli-sum observables from measurement samples.

    Attributes:
        qubits: Qubits measured, in the column order of the sampled bits.
        settings: One basis per setting: ``settings[s][k]`` is ``"X"``, ``"Y"`` or ``"Z"`` for
            qubit ``k`` (qubits no term of the setting touches are measured in ``Z``).
        terms: ``(observable, setting, coefficient, qubit indices)`` for every non-identity term.
        constants: Identity-term coefficient of each observable.
    """

    qubits: tuple[cirq.Qid, ...]
    settings: tuple[tuple[str, ...], ...]
    terms: tuple[tuple[int, int, float, tuple[int, ...]], ...]
    constants: tuple[float, ...]

    @property
    def n_observables(self) -> int:
        """Number of observables estimated."""
        return len(self.constants)

    def measurement_circuit(self, setting: int, key: str = "m") -> cirq.Circuit:
        """Basis change to ``Z`` for ``settings[setting]`` followed by measuring every qubit."""
        basis = []
        for qubit, pauli in zip(self.qubits, self.settings[setting]):
            if pauli == "X":
                basis.append(cirq.H(qubit))
            elif pauli == "Y":  # H S† maps the Y eigenbasis onto the Z eigenbasis
                basis.extend([cirq.S(qubit) ** -1, cirq.H(qubit)])
        return cirq.Circuit(basis, cirq.measure(*self.qubits, key=key))

    def estimate(
        self, bits: Sequence[np.ndarray], readout: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Estimate every observable from the samples of every setting.

        Args:
            bits: ``bits[s]`` has shape ``(batch, shots, len(qubits))`` with values 0/1, the
                measurements of :meth:`measurement_circuit` ``(s)``.
            readout: Optional readout-error correction ``(scale, offset)``, one value per
                qubit: qubit ``k``'s ±1 outcome ``s`` is replaced by ``(s − offset[k]) / scale[k]``.
                With ``scale = 1 − p(1|0) − p(0|1)`` and ``offset = p(0|1) − p(1|0)`` this is
                unbiased for independent per-qubit readout errors, also inside products of
                qubits (the tensor-product inverse of the per-qubit confusion matrices).

        Returns:
            ``(values, standard_errors)``, each ``(batch, n_observables)`` float64. Terms
            measured in the same setting are combined shot by shot, so their covariance is
            included in the standard error; settings are independent.
        """
        if len(bits) != len(self.settings):
            raise InputError(f"expected samples for {len(self.settings)} settings; received {len(bits)}")
        signs = [1.0 - 2.0 * np.asarray(b, dtype=np.float64) for b in bits]
        if readout is not None:
            scale, offset = (np.asarray(v, dtype=np.float64).reshape(-1) for v in readout)
            if scale.shape != (len(self.qubits),) or offset.shape != scale.shape:
                raise InputError(
                    f"readout correction needs one scale and one offset per qubit ({len(self.qubits)}); "
                    f"received {scale.size} and {offset.size}"
                )
            signs = [(sign - offset) / scale for sign in signs]
        batch = signs[0].shape[0] if signs else 0
        values = np.tile(np.asarray(self.constants, dtype=np.float64), (batch, 1))
        variances = np.zeros_like(values)
        for s, sign in enumerate(signs):
            per_shot: dict[int, np.ndarray] = {}
            for observable, setting, coefficient, indices in self.terms:
                if setting != s:
                    continue
                parity = np.prod(sign[:, :, list(indices)], axis=2)
                per_shot[observable] = per_shot.get(observable, 0.0) + coefficient * parity
            for observable, shots in per_shot.items():
                n_shots = shots.shape[1]
                values[:, observable] += shots.mean(axis=1)
                if n_shots > 1:
                    variances[:, observable] += shots.var(axis=1, ddof=1) / n_shots
        return values, np.sqrt(variances)


def measurement_plan(observables: Sequence[cirq.PauliSum], qubits: Sequence[cirq.Qid]) -> MeasurementPlan:
    """Group the Pauli terms of ``observables`` into qubit-wise commuting settings (greedy).

    ``z_each`` needs one setting, ``xyz_each`` three.

    Raises:
        qkernel.errors.InputError: if a term acts on a qubit outside ``qubits`` or has a
            non-real coefficient (the observable is not Hermitian).
    """
    qubits = tuple(qubits)
    index = {q: k for k, q in enumerate(qubits)}
    settings: list[dict[int, str]] = []
    terms = []
    constants = []
    for m, observable in enumerate(observables):
        constant = 0.0
        for term in cirq.PauliSum.wrap(observable):
            coefficient = complex(term.coefficient)
            if abs(coefficient.imag) > 1e-12:
                raise InputError(f"observable {m} ({observable}) has a non-real coefficient; expected Hermitian")
            paulis = {}
            for qubit, pauli in term.items():
                if qubit not in index:
                    raise InputError(
                        f"observable {m} ({observable}) acts on {qubit}, not among the {len(qubits)} qubits"
                    )
                paulis[index[qubit]] = str(pauli)
            if not paulis:
                constant += coefficient.real
                continue
            for s, setting in enumerate(settings):
                if all(setting.get(k, p) == p for k, p in paulis.items()):
                    setting.update(paulis)
                    break
            else:
                settings.append(dict(paulis))
                s = len(settings) - 1
            terms.append((m, s, coefficient.real, tuple(sorted(paulis))))
        constants.append(constant)
    return MeasurementPlan(
        qubits=qubits,
        settings=tuple(tuple(setting.get(k, "Z") for k in range(len(qubits))) for setting in settings),
        terms=tuple(terms),
        constants=tuple(constants),
    )
