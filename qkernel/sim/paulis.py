"""Pauli observables as weights on the final state.

The last step of :func:`qkernel.sim.kernel.compile_circuit`. Expectation values of Pauli
strings grouped by their X/Y mask ``m`` are ``Re sum_x conj(psi[x ^ m]) psi[x] w_m[x]``:
one matmul per mask, a single ``|psi|^2 @ signs`` for Z strings
(:meth:`qkernel.sim.kernel.CompiledCircuit._expectations`). When every observable is
diagonal, a trailing phase-permutation stage is folded into the sign matrix instead of
being applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Union

import cirq
import numpy as np

from qkernel.errors import InputError

__all__ = ["ObservableLike", "observable_weights"]

ObservableLike = Union[cirq.PauliSum, cirq.PauliString]


def _pauli_terms(obs: ObservableLike, pos: Mapping[cirq.Qid, int]) -> list[tuple[complex, dict[int, str]]]:
    if isinstance(obs, cirq.PauliString):
        strings = [obs]
    elif isinstance(obs, cirq.PauliSum):
        strings = list(obs)
    else:
        raise InputError(f"observables must be cirq.PauliSum or cirq.PauliString, got {type(obs).__name__}")
    terms = []
    for s in strings:
        coeff = complex(s.coefficient)
        paulis = {}
        for q, pauli in s.items():
            if q not in pos:
                raise InputError(f"observable {obs} acts on {q}, which is not among the compiled qubits")
            paulis[pos[q]] = {cirq.X: "X", cirq.Y: "Y", cirq.Z: "Z"}[pauli]
        terms.append((coeff, paulis))
    return terms


def observable_weights(observables, pos, n) -> dict[int, np.ndarray]:
    """Per X/Y mask ``m``: complex ``(2**n, n_outputs)`` weights ``w_m[x, j]`` (see module doc)."""
    x = np.arange(2**n)
    out: dict[int, np.ndarray] = {}
    for j, obs in enumerate(observables):
        for coeff, paulis in _pauli_terms(obs, pos):
            mask = 0
            omega = np.full(2**n, coeff, dtype=np.complex128)
            for p, name in paulis.items():
                bit = (x >> (n - 1 - p)) & 1
                sign = 1 - 2 * bit
                if name in "XY":
                    mask |= 1 << (n - 1 - p)
                if name == "Y":
                    omega = omega * 1j * sign
                elif name == "Z":
                    omega = omega * sign
            out.setdefault(mask, np.zeros((2**n, len(observables)), np.complex128))[:, j] += omega
    return out
