"""Runtime plans: each scheduled stage as TensorFlow ops on the state.

The third step of :func:`qkernel.sim.kernel.compile_circuit`:

* :class:`PhasePermPlan` applies a :class:`~qkernel.sim.schedule.PhasePerm` stage as one
  gather of basis rows and one elementwise sign or phase multiply;
* :class:`DensePlan` applies a :class:`~qkernel.sim.schedule.Dense` stage. Gates on the
  same qubits are multiplied, and neighbouring one-qubit gates form Kronecker blocks of up
  to ``_MAX_BLOCK_QUBITS`` qubits. Each block is precomputed as ``sum_t exp(i theta_t) Q_t``
  (:class:`ExpSum`, ``theta`` linear in the gate angles), so building a 16x16 block of four
  rotations costs one ``cos``/``sin`` and one small matmul, and applying it one matmul on
  the state.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from qkernel.sim.angles import AngleVector, Env
from qkernel.sim.lowering import Prim
from qkernel.sim.schedule import Dense, PhasePerm
from qkernel.sim.tfops import add_all, apply_matrix, materialize, pair_matmul, permute

__all__ = ["DensePlan", "ExpSum", "PhasePermPlan"]

#: Largest Kronecker block of one-qubit gates applied as one matmul. Four qubits (16x16)
#: measured fastest on the 8-qubit reference step (benchmarks.kernel, B=256, no XLA:
#: blocks of 2 ~20k samples/s, 3 ~23k, 4 ~28-33k, 8 i.e. one 256x256 matmul ~14k).
_MAX_BLOCK_QUBITS = 4

#: Largest ``terms * d * d`` of one precomputed :class:`ExpSum` (constants per unit).
_MAX_EXPSUM_SIZE = 2**16


def _pairwise_sums(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Phase coefficients of a product of two exponential sums: ``first[a] + second[b]``.

    Returns ``(Ta * Tb, G)`` rows, ``a`` major. The row count is explicit because with no
    gate angles (``G == 0``: a dense stage of fixed gates only) ``reshape(-1, 0)`` cannot
    infer it.
    """
    return (first[:, None, :] + second[None, :, :]).reshape(len(first) * len(second), first.shape[1])


@dataclasses.dataclass
class ExpSum:
    """``U = sum_t exp(1j * coef[t] . angles) * q[t]`` with constant ``q``.

    A parametrised gate ``sum_k exp(1j a mu_k) P_k``, a fixed matrix, and products and
    Kronecker products of them all have this form, so a whole Kronecker block of rotations
    is evaluated by one ``cos``/``sin`` of ``T`` phases and one small matmul instead of a
    chain of per-gate ops (fewer ops: faster graphs and much faster higher-order tracing).
    """

    coef: np.ndarray  # (T, G): phase t is coef[t] @ angles
    q: np.ndarray  # (T, d, d) complex

    @classmethod
    def of(cls, p: Prim, column: int | None, g: int) -> ExpSum:
        if p.matrix is not None:
            return cls(np.zeros((1, g)), p.matrix[None])
        coef = np.zeros((len(p.mus), g))
        coef[:, column] = p.mus
        return cls(coef, p.projectors).simplified()

    @property
    def size(self) -> int:
        return self.q.size

    def then(self, later: ExpSum) -> ExpSum:
        """``later @ self``."""
        coef = _pairwise_sums(later.coef, self.coef)
        q = np.einsum("aij,bjk->abik", later.q, self.q).reshape((-1,) + self.q.shape[1:])
        return ExpSum(coef, q).simplified()

    def kron(self, other: ExpSum) -> ExpSum:
        d = self.q.shape[-1] * other.q.shape[-1]
        coef = _pairwise_sums(self.coef, other.coef)
        q = np.einsum("aij,bkl->abikjl", self.q, other.q).reshape(-1, d, d)
        return ExpSum(coef, q).simplified()

    def simplified(self) -> ExpSum:
        keys, inverse = np.unique(np.round(self.coef, 9), axis=0, return_inverse=True)
        q = np.zeros((len(keys),) + self.q.shape[1:], complex)
        np.add.at(q, inverse.ravel(), self.q)
        keep = np.abs(q).reshape(len(q), -1).max(axis=1) > 1e-12
        if not keep.any():
            keep[0] = True
        return ExpSum(keys[keep], q[keep])

    def is_real(self) -> bool:
        rng = np.random.default_rng(0)
        for _ in range(3):
            phases = np.exp(1j * self.coef @ rng.uniform(-4, 4, self.coef.shape[1]))
            if np.abs(np.einsum("t,tij->ij", phases, self.q).imag).max() > 1e-9:
                return False
        return True


class DensePlan:
    """Runtime form of a :class:`Dense` stage: units of (Kronecker blocks of) gates, each
    unit a short product of :class:`ExpSum` factors over the stage's angle vectors."""

    def __init__(self, stage: Dense, weight_names, data_names, max_block: int = _MAX_BLOCK_QUBITS) -> None:
        self.stage = stage
        data = set(data_names)
        eigen = [p for prims in stage.groups.values() for p in prims if p.matrix is None]
        by_data = lambda p: any(s.name in data for s in p.angle.free_symbols)  # noqa: E731
        w_prims = [p for p in eigen if not by_data(p)]
        d_prims = [p for p in eigen if by_data(p)]
        self.angles_w = AngleVector([p.angle for p in w_prims], weight_names, data_names) if w_prims else None
        self.angles_d = AngleVector([p.angle for p in d_prims], weight_names, data_names) if d_prims else None
        self.n_w = len(w_prims)
        column = {id(p): i for i, p in enumerate(w_prims + d_prims)}
        g = len(column)

        def chain(prims: list[Prim]) -> list[ExpSum]:
            """The product of a group's gates, as few precomputed factors as size allows."""
            factors: list[ExpSum] = []
            for p in prims:
                e = ExpSum.of(p, column.get(id(p)), g)
                product = factors[-1].then(e) if factors else None
                if product is not None and product.size <= _MAX_EXPSUM_SIZE:
                    factors[-1] = product
                else:
                    factors.append(e)
            return factors

        # Units: Kronecker blocks of neighbouring one-qubit groups, then multi-qubit groups.
        chains = {k: chain(v) for k, v in stage.groups.items()}
        units: list[tuple[tuple[int, ...], list[ExpSum], bool]] = []
        block: tuple[int, ...] = ()
        acc: ExpSum | None = None
        for q in sorted(k[0] for k in chains if len(k) == 1):
            factors = chains[(q,)]
            if len(factors) > 1:  # a long product on one qubit stays a unit of its own
                units.append(((q,), factors, False))
                continue
            if acc is not None and block[-1] == q - 1 and len(block) < max_block:
                joined = acc.kron(factors[0])
                if joined.size <= _MAX_EXPSUM_SIZE:
                    block, acc = block + (q,), joined
                    continue
            if acc is not None:
                units.append((block, [acc], True))
            block, acc = (q,), factors[0]
        if acc is not None:
            units.append((block, [acc], True))
        units += [(k, f, False) for k, f in chains.items() if len(k) > 1]
        self.units = [(k, [(e, e.is_real()) for e in f], is_block) for k, f, is_block in units]

    def describe(self) -> str:
        """Kronecker blocks by size, other gates as ``m`` + their qubits."""
        return ",".join(str(len(k)) if b else "m" + "".join(map(str, k)) for k, _, b in self.units)

    def _matrix(self, e: ExpSum, real: bool, env: Env, angles) -> tuple[tf.Tensor, tf.Tensor | None]:
        """``(re, im | None)`` of one factor: ``(d, d)``, or ``(B, d, d)`` per sample."""
        d = e.q.shape[-1]
        qr, qi = e.q.real.reshape(len(e.q), -1), e.q.imag.reshape(len(e.q), -1)
        if not e.coef.any():  # constant
            return tf.constant(qr.reshape(d, d), tf.float32), None if real else tf.constant(qi.reshape(d, d), tf.float32)
        ang_w, ang_d = angles
        theta = None
        cw, cd = e.coef[:, : self.n_w], e.coef[:, self.n_w :]
        if cw.any():
            theta = tf.linalg.matvec(tf.constant(cw, tf.float32), ang_w)  # (T,)
        batched = bool(cd.any())
        if batched:
            td = tf.matmul(ang_d, tf.constant(cd.T, tf.float32))  # (B, T)
            theta = td if theta is None else td + theta
        theta = tf.reshape(theta, [-1, len(e.q)])  # (1 or B, T)
        cos, sin = tf.cos(theta), tf.sin(theta)
        shape = ([-1] if batched else []) + [d, d]

        def combine(c_part, s_part, sign):
            terms = []
            if np.any(c_part):
                terms.append(tf.matmul(cos, tf.constant(c_part, tf.float32)))
            if np.any(s_part):
                term = tf.matmul(sin, tf.constant(s_part, tf.float32))
                terms.append(term if sign > 0 else -term)
            return tf.reshape(add_all(terms), shape) if terms else tf.zeros(([tf.shape(theta)[0]] if batched else []) + [d, d])

        re = combine(qr, qi, -1)  # Re U = sum cos Re Q - sin Im Q
        return re, (None if real else combine(qi, qr, +1))  # Im U = sum cos Im Q + sin Re Q

    def apply(self, parts: list[tf.Tensor], env: Env, n: int) -> list[tf.Tensor]:
        angles = (
            self.angles_w(env) if self.angles_w is not None else None,
            self.angles_d(env) if self.angles_d is not None else None,
        )
        for qubits, factors, _ in self.units:
            mr, mi = None, None
            for e, real in factors:
                fr, fi = self._matrix(e, real, env, angles)
                mr, mi = (fr, fi) if mr is None else pair_matmul((fr, fi), (mr, mi))
            parts = apply_matrix(parts, mr, mi, qubits, n)
        return parts


class PhasePermPlan:
    """Runtime form of a :class:`PhasePerm` stage."""

    def __init__(self, stage: PhasePerm, weight_names, data_names) -> None:
        self.stage = stage
        self.keys = list(stage.coefs)
        self.angles = AngleVector(self.keys, weight_names, data_names) if self.keys else None
        self.coef = np.array([stage.coefs[k] for k in self.keys]) if self.keys else None

    def apply(self, parts: list[tf.Tensor], env: Env, n: int) -> list[tf.Tensor]:
        st = self.stage
        if not st.identity_perm:
            parts = [permute(x, st.sigma, st.inverse) for x in parts]
        if st.real:
            if st.trivial_phase:
                return parts
            signs = tf.constant(st.signs[:, None], tf.float32)
            return [x * signs for x in parts]
        phi = tf.constant(st.const[:, None], tf.float32)  # (N, 1)
        if self.angles is not None:
            a = self.angles(env)
            coef = tf.constant(self.coef, tf.float32)  # (G, N)
            if self.angles.batched:
                phi = phi + tf.matmul(coef, a, transpose_a=True, transpose_b=True)  # (N, B)
            else:
                phi = phi + tf.reshape(tf.linalg.matvec(coef, a, transpose_a=True), [-1, 1])
        cos, sin = tf.cos(phi), tf.sin(phi)
        if not self.angles or not self.angles.batched:
            cos, sin = materialize(cos), materialize(sin)
        if len(parts) == 1:
            return [parts[0] * cos, parts[0] * sin]
        re, im = parts
        return [re * cos - im * sin, re * sin + im * cos]
