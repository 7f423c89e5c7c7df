"""Scheduling: primitives into alternating phase-permutation and dense stages (the plan).

The second step of :func:`qkernel.sim.kernel.compile_circuit`. Primitives are classified:
*diagonal* (Z/S/T/CZ/Rz/CZPow …: one phase per basis state, linear in the gate angles),
*monomial* (X/CNOT/SWAP/Toffoli/ISWAP …: a permutation of the basis with constant phases) or
*dense* (Ry/Rx/H/FSim/MatrixGate …). They are scheduled greedily into alternating stages,
each primitive moving back past stages on disjoint qubits:

* a *phase-permutation stage* (:class:`PhasePerm`) composes every diagonal and monomial
  primitive between two dense stages into one ``gather`` of basis rows and one elementwise
  phase multiply, ``phi = const + coefficients @ angles`` (a CNOT ring plus an Rz layer:
  1 gather, 1 multiply);
* a *dense stage* (:class:`Dense`) holds gates on disjoint qubits, grouped by their qubits
  in order; :mod:`qkernel.sim.plans` multiplies them and forms Kronecker blocks.

The stages are numpy and sympy data only; :mod:`qkernel.sim.plans` turns them into TensorFlow ops.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import sympy

from qkernel.sim.lowering import Prim

__all__ = ["Dense", "PhasePerm", "schedule"]

_ATOL = 1e-10


class PhasePerm:
    """``psi'[x] = exp(1j * phi[x]) * psi[sigma[x]]``, ``phi = const + sum_e coefs[e] * value(e)``."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.sigma = np.arange(2**n)
        self.const = np.zeros(2**n)
        self.coefs: dict[sympy.Expr, np.ndarray] = {}
        self.support: set[int] = set()

    def then(self, sigma: np.ndarray | None, const: np.ndarray, coefs: Mapping[sympy.Expr, np.ndarray], qubits) -> None:
        """Compose another phase-permutation after this one."""
        if sigma is not None:
            self.sigma = self.sigma[sigma]
            self.const = self.const[sigma]
            self.coefs = {k: v[sigma] for k, v in self.coefs.items()}
        self.const = self.const + const
        for k, v in coefs.items():
            self.coefs[k] = self.coefs.get(k, 0.0) + v
        self.support |= set(qubits)

    def finish(self) -> None:
        """Derive the runtime form once scheduling is done."""
        self.coefs = {k: v for k, v in self.coefs.items() if np.abs(v).max() > _ATOL}
        self.const = np.mod(self.const + np.pi, 2 * np.pi) - np.pi
        self.identity_perm = bool(np.array_equal(self.sigma, np.arange(2**self.n)))
        self.inverse = np.argsort(self.sigma)
        signs = np.cos(self.const)
        self.real = not self.coefs and bool(np.all(np.abs(np.abs(signs) - 1) < 1e-9))
        self.signs = np.round(signs) if self.real else None
        self.trivial_phase = self.real and bool(np.all(self.signs == 1))


class Dense:
    """Gates on pairwise disjoint qubit sets; each group is a product of primitives (in order)."""

    def __init__(self) -> None:
        self.groups: dict[tuple[int, ...], list[Prim]] = {}
        self.support: set[int] = set()


def _lift(n: int, qubits: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Local index of every basis state on ``qubits``, and the basis states with those bits cleared."""
    x = np.arange(2**n)
    k = len(qubits)
    local = np.zeros_like(x)
    mask = 0
    for j, p in enumerate(qubits):
        local |= ((x >> (n - 1 - p)) & 1) << (k - 1 - j)
        mask |= 1 << (n - 1 - p)
    return local, x & ~mask


def _as_phase_perm(p: Prim, n: int):
    """``(sigma, const, coefs)`` on the full space if ``p`` is diagonal or monomial, else ``None``."""
    local, base = _lift(n, p.qubits)
    k = len(p.qubits)
    if p.matrix is None:
        if any(np.abs(q - np.diag(np.diag(q))).max() > _ATOL for q in p.projectors):
            return None
        diag = np.array([np.diag(q).real for q in p.projectors])  # (K, d) with 0/1 entries
        if np.abs(diag * (1 - diag)).max() > 1e-9:
            return None
        return None, np.zeros(2**n), {p.angle: (p.mus @ diag)[local]}
    m = p.matrix
    cols = np.argmax(np.abs(m), axis=1)
    picked = m[np.arange(len(m)), cols]
    if not (np.allclose(np.abs(picked), 1, atol=1e-9) and len(set(cols)) == len(m)):
        return None
    if np.abs(np.abs(m).sum(axis=1) - 1).max() > 1e-9:
        return None
    phases = np.angle(picked)[local]
    if np.array_equal(cols, np.arange(len(m))):
        return None, phases, {}
    c = cols[local]
    sigma = base.copy()
    for j, q in enumerate(p.qubits):
        sigma |= ((c >> (k - 1 - j)) & 1) << (n - 1 - q)
    return sigma, phases, {}


def schedule(prims: Iterable[Prim], n: int) -> list[Dense | PhasePerm]:
    """Greedy list scheduling: each primitive joins the earliest stage of its kind that it
    can reach by commuting back past stages on disjoint qubits."""
    stages: list[Dense | PhasePerm] = []
    for p in prims:
        if p.matrix is not None and np.allclose(p.matrix, np.eye(len(p.matrix)), atol=_ATOL):
            continue
        qset = set(p.qubits)
        pp = _as_phase_perm(p, n)
        kind = PhasePerm if pp is not None else Dense
        target = None
        for i in range(len(stages) - 1, -1, -1):
            s = stages[i]
            overlap = bool(s.support & qset)
            if isinstance(s, kind) and (kind is PhasePerm or not overlap or p.qubits in s.groups):
                target = i
            if overlap:
                break
        if target is None:
            stages.append(kind(n) if kind is PhasePerm else Dense())
            target = len(stages) - 1
        s = stages[target]
        if pp is not None:
            s.then(*pp, p.qubits)
        else:
            s.groups.setdefault(p.qubits, []).append(p)
            s.support |= qset
    return stages
