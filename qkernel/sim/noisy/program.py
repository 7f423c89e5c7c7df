"""The noisy mode of the native kernel: a circuit with noise channels compiled into one TF program.

::

    noisy = compile_noisy_circuit(circuit.with_noise(model), data_symbols=xs, weight_symbols=ws)
    p = noisy.probabilities(weights, data=values)        # (B, 2**m) exact outcome distribution
    bits = noisy.sample(weights, data=values, repetitions=1000, rng=rng)   # {key: (B, 1000, bits)}

Steps, one module each: :mod:`~qkernel.sim.noisy.pieces` (operations → superoperators or
unitaries/Kraus operators), :mod:`~qkernel.sim.noisy.fusion` (pieces → blocks of a few
qubits, each a short product of precomputed factors), :mod:`~qkernel.sim.noisy.register`
(the batched state and its lazy axis order).

* ``method="density_matrix"``: the batch of vectorised density matrices ``(B, 4**n)``
  evolves exactly; the outcome distribution is the diagonal (marginalised to the measured
  qubits), shots are drawn from it. Differentiable with respect to weights and data, to any
  order (plain TensorFlow ops), which is what noise-aware training uses.
* ``method="trajectories"``: ``T`` state vectors per sample (``(B, T, 2**n)``): every channel
  picks one Kraus operator per trajectory with probability ``‖K ψ‖²`` (mixed-unitary
  channels with their fixed probabilities) and renormalises — quantum trajectories, as qsim
  samples them — for qubit counts where ``4**n`` entries per sample are too many. Each
  trajectory gives one shot; their mean ``|ψ|²`` estimates the distribution.

Measurements must be terminal; channels just before them (e.g. the readout error a noise
model prepends) act on the state like any other channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cirq
import numpy as np
import sympy
import tensorflow as tf

from qkernel.errors import InputError
from qkernel.sim.angles import AngleVector, Env
from qkernel.sim.noisy.fusion import Block, Factor, fuse
from qkernel.sim.noisy.pieces import lower_noisy
from qkernel.sim.noisy.register import Register

__all__ = ["METHODS", "NoisyCircuit", "compile_noisy_circuit"]

#: Simulation methods of :func:`compile_noisy_circuit`.
METHODS = ("density_matrix", "trajectories")
#: Default largest block, in qubits, per method (density: 16×16 superoperators).
_BLOCK_QUBITS = {"density_matrix": 2, "trajectories": 3}


class NoisyCircuit:
    """A noisy circuit compiled by :func:`compile_noisy_circuit`.

    Attributes:
        qubits: Register order (``qubits[0]`` most significant).
        method: ``"density_matrix"`` or ``"trajectories"``.
        measurements: ``(key, qubits)`` of each terminal measurement (all qubits under ``""``
            if the circuit measures nothing).
        data_symbols, weight_symbols: Symbol names in the column order of ``data`` / ``weights``.
        blocks: Fused blocks, in order of application.
        dtype: ``tf.complex64`` (default) or ``tf.complex128``.
    """

    def __init__(self, qubits, method, lowered, blocks: list[Block], data_names, weight_names, dtype, jit_compile,
                 branches: Sequence[tuple[list[Block], list[tuple[str, tuple[int, ...]]]]] = ()):
        self.qubits = tuple(qubits)
        self.method = method
        self.dtype = dtype
        self.data_symbols, self.weight_symbols = tuple(data_names), tuple(weight_names)
        self.blocks = blocks
        self.jit_compile = jit_compile
        measured = lowered.measurements or [("", tuple(range(len(self.qubits))))]
        self.measurements = [(key, tuple(self.qubits[p] for p in pos)) for key, pos in measured]
        self._positions = [p for _, pos in measured for p in pos]
        #: ``(blocks, measured positions)`` of each branch (see :meth:`branch_probabilities`).
        self.branches = [(b, [p for _, pos in m for p in pos]) for b, m in branches]
        data = set(data_names)
        batched = [any(s.name in data for s in e.free_symbols) for e in lowered.angles]
        self._kind = {}  # global angle -> ("w" | "d", column)
        exprs: dict[bool, list[sympy.Expr]] = {False: [], True: []}
        for i, (expr, b) in enumerate(zip(lowered.angles, batched)):
            self._kind[i] = ("d" if b else "w", len(exprs[b]))
            exprs[b].append(expr)
        self._angles = {k: AngleVector(exprs[b], weight_names, data_names) if exprs[b] else None
                        for k, b in (("w", False), ("d", True))}
        self._functions: dict[tuple, Any] = {}

    def __repr__(self) -> str:
        return (f"NoisyCircuit(n_qubits={len(self.qubits)}, method={self.method!r}, blocks={len(self.blocks)}, "
                f"data_symbols={len(self.data_symbols)}, weight_symbols={len(self.weight_symbols)})")

    @property
    def n_measured(self) -> int:
        """Measured bits per shot (all keys together)."""
        return len(self._positions)

    def probabilities(self, weights: Any = (), *, data: Any = None, trajectories: int = 1, seed: int = 0) -> tf.Tensor:
        """Outcome distribution ``(B, 2**n_measured)`` float of the measured qubits (keys in circuit order).

        Args:
            weights: ``(W,)`` values of :attr:`weight_symbols`.
            data: ``(B, len(data_symbols))`` per-sample values (required iff there are data symbols).
            trajectories: Trajectory mode only: trajectories per sample averaged.
            seed: Trajectory mode only: seed of the Kraus choices.

        Returns:
            Exact (density mode) or trajectory-averaged probabilities, real, summing to 1.
        """
        return tf.reduce_mean(self._run(weights, data, trajectories, seed), axis=1)

    def branch_probabilities(self, weights: Any = (), *, data: Any = None) -> list[tf.Tensor]:
        """Outcome distributions ``[(B, 2**m_b)]`` of every branch, continuing from the shared prefix.

        The prefix (the circuit) is simulated once; each branch (e.g. one measurement setting's
        basis change and measurement) continues from a copy of its final state. Density mode.
        """
        if not self.branches or self.method != "density_matrix":
            raise InputError("branch_probabilities() needs branches and method='density_matrix'")
        return [p[:, 0] for p in self._run(weights, data, 1, 0, output="branches")]

    def density_matrix(self, weights: Any = (), *, data: Any = None) -> tf.Tensor:
        """Final density matrices ``(B, 2**n, 2**n)`` of all qubits in register order (density mode;
        measurements are not applied, channels before them are). For checks and inspection."""
        if self.method != "density_matrix":
            raise InputError("density_matrix() needs method='density_matrix'")
        return self._run(weights, data, 1, 0, output="state")[:, 0]

    def sample(self, weights: Any = (), *, data: Any = None, repetitions: int = 1,
               rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        """Measurement samples ``{key: (B, repetitions, bits) uint8}``.

        Density mode draws all repetitions from the exact distribution; trajectory mode runs
        one trajectory per repetition and samples each once.
        """
        rng = np.random.default_rng() if rng is None else rng
        if self.method == "density_matrix":
            p = np.asarray(self._run(weights, data, 1, 0)[:, 0], dtype=np.float64)
            p = np.clip(p, 0.0, None)
            counts = rng.multinomial(repetitions, p / p.sum(axis=1, keepdims=True))
            outcomes = np.stack([rng.permutation(np.repeat(np.arange(p.shape[1]), c)) for c in counts])
        else:
            seed = int(rng.integers(2**31))
            p = np.clip(np.asarray(self._run(weights, data, repetitions, seed), dtype=np.float64), 0.0, None)
            cdf = np.cumsum(p, axis=2)
            u = rng.random(cdf.shape[:2] + (1,)) * cdf[:, :, -1:]
            outcomes = np.minimum((cdf < u).sum(axis=2), p.shape[2] - 1)
        m = self.n_measured
        bits = ((outcomes[..., None] >> (m - 1 - np.arange(m))) & 1).astype(np.uint8)
        out, start = {}, 0
        for key, qubits in self.measurements:
            out[key] = bits[:, :, start:start + len(qubits)]
            start += len(qubits)
        return out

    # ------------------------------------------------------------------ tracing

    def _run(self, weights, data, trajectories: int, seed: int, output: str = "probabilities") -> tf.Tensor:
        w = tf.cast(tf.reshape(tf.convert_to_tensor(weights), [-1]), tf.float32)
        if w.shape[0] is not None and w.shape[0] != len(self.weight_symbols):
            raise InputError(f"weights: expected shape ({len(self.weight_symbols)},), one per weight symbol; "
                             f"received {tuple(w.shape)}")
        if self.data_symbols and data is None:
            raise InputError(f"data: the circuit has data symbols; pass data of shape (batch, {len(self.data_symbols)})")
        d = None if data is None else tf.cast(tf.convert_to_tensor(data), tf.float32)
        if d is not None and (d.shape.rank != 2 or d.shape[1] not in (None, len(self.data_symbols))):
            raise InputError(f"data: expected shape (batch, {len(self.data_symbols)}), received {tuple(d.shape)}")
        if d is None:
            d = tf.zeros([1, len(self.data_symbols)], tf.float32)
        t = 1 if self.method == "density_matrix" else int(trajectories)
        if t < 1:
            raise InputError(f"trajectories must be >= 1; got {trajectories!r}")
        if not tf.executing_eagerly():
            return self._program(w, d, t, tf.constant([seed, 0], tf.int64), output)
        fn = self._functions.get((t, output))
        if fn is None:
            spec = [tf.TensorSpec([len(self.weight_symbols)], tf.float32),
                    tf.TensorSpec([None, len(self.data_symbols)], tf.float32), tf.TensorSpec([2], tf.int64)]
            fn = self._functions[(t, output)] = tf.function(
                lambda w_, d_, s_: self._program(w_, d_, t, s_, output), input_signature=spec,
                jit_compile=self.jit_compile, autograph=False)
        return fn(w, d, tf.constant([seed, 0], tf.int64))

    def _program(self, w: tf.Tensor, d: tf.Tensor, trajectories: int, seed: tf.Tensor, output: str) -> tf.Tensor:
        n = len(self.qubits)
        density = self.method == "density_matrix"
        local = 4 if density else 2
        env = Env(w, d, self.weight_symbols, self.data_symbols)
        real = tf.float64 if self.dtype == tf.complex128 else tf.float32
        angles = {k: (v(env, real) if v is not None else None) for k, v in self._angles.items()}
        batch = tf.shape(d)[0]
        x = tf.one_hot(tf.zeros([batch, trajectories], tf.int32), local**n, dtype=self.dtype)
        register = Register(n, local, trajectories)

        def run(blocks: list[Block], x: tf.Tensor, register: Register, offset: int) -> tf.Tensor:
            for i, block in enumerate(blocks):
                if block.channel is not None:
                    u = tf.random.stateless_uniform([batch, trajectories, 1],
                                                    seed + tf.constant([0, offset + i + 1], tf.int64), dtype=real)
                    x = self._channel(register, x, block, u)
                    continue
                matrix = None
                for factor in block.factors:
                    f = self._factor(factor, angles)
                    matrix = f if matrix is None else tf.matmul(f, matrix)
                if matrix is not None:
                    x = register.apply(x, matrix, block.qubits)
            return x

        x = run(self.blocks, x, register, 0)
        if output == "branches":
            out = []
            for blocks, positions in self.branches:
                fork = Register(n, local, trajectories)
                fork.order = list(register.order)
                out.append(fork.marginal(run(blocks, x, fork, len(self.blocks)), positions))
            return out
        if output == "state":
            x = register.to_front(x, list(range(n)))
            x = tf.reshape(x, [-1, trajectories] + [2, 2] * n)
            rows, cols = [2 + 2 * j for j in range(n)], [3 + 2 * j for j in range(n)]
            return tf.reshape(tf.transpose(x, [0, 1, *rows, *cols]), [-1, trajectories, 2**n, 2**n])
        return register.marginal(x, self._positions)

    def _factor(self, factor: Factor, angles: dict[str, tf.Tensor | None]) -> tf.Tensor:
        """The factor's matrix, ``(1, 1, d, d)`` or per sample ``(B, 1, d, d)``."""
        e = factor.op
        d = e.q.shape[-1]
        if factor.constant:
            return tf.constant(e.q.sum(axis=0)[None, None], self.dtype)
        real = tf.float64 if self.dtype == tf.complex128 else tf.float32
        theta = None
        for kind in ("w", "d"):
            idx = [j for j, c in enumerate(factor.cols) if self._kind[c][0] == kind]
            if not idx or not e.coef[:, idx].any():
                continue
            values = tf.gather(angles[kind], [self._kind[factor.cols[j]][1] for j in idx], axis=-1)
            coef = tf.constant(e.coef[:, idx].T, real)  # (g, T)
            part = tf.matmul(values[None] if kind == "w" else values, coef)  # (1|B, T)
            theta = part if theta is None else theta + part
        phase = tf.complex(tf.cos(theta), tf.sin(theta))
        m = tf.matmul(phase, tf.constant(e.q.reshape(len(e.q), d * d), self.dtype))
        return tf.reshape(m, [-1, 1, d, d])

    def _channel(self, register: Register, x: tf.Tensor, block: Block, u: tf.Tensor) -> tf.Tensor:
        """One Kraus operator per trajectory, chosen by the uniform ``u`` ``(B, T, 1)``: with the
        mixture's fixed probabilities, else with probability ``‖K ψ‖²`` (then renormalised)."""
        piece = block.channel
        if piece.mixture is not None:
            probabilities, unitaries = piece.mixture
            thresholds = tf.constant(np.cumsum(probabilities)[:-1] / probabilities.sum(), u.dtype)
            pick = tf.reduce_sum(tf.cast(u > thresholds, tf.int32), axis=-1)  # (B, T)
            return register.apply(x, tf.gather(tf.constant(unitaries, self.dtype), pick), block.qubits)
        r, d = piece.kraus.shape[:2]
        kraus = tf.constant(piece.kraus.reshape(r * d, d), self.dtype)  # every branch in one matmul
        branches = tf.matmul(kraus, register.split(register.to_front(x, block.qubits), len(block.qubits)))
        branches = tf.reshape(branches, [-1, register.trajectories, r, d, branches.shape[-1]])
        weights = tf.reduce_sum(tf.square(tf.abs(branches)), axis=[3, 4])  # (B, T, r)
        cdf = tf.math.cumsum(weights, axis=-1)
        pick = tf.minimum(tf.reduce_sum(tf.cast(cdf < u * cdf[..., -1:], tf.int32), axis=-1), r - 1)
        chosen = tf.gather(branches, pick, axis=2, batch_dims=2)  # (B, T, d, rest)
        norm = tf.math.rsqrt(tf.maximum(tf.gather(weights, pick, axis=2, batch_dims=2), 1e-30))
        return tf.reshape(chosen * tf.cast(norm[..., None, None], self.dtype), [-1, register.trajectories, -1])


def compile_noisy_circuit(
    circuit: cirq.AbstractCircuit,
    *,
    qubits: Sequence[cirq.Qid] | None = None,
    data_symbols: Sequence[sympy.Symbol | str] = (),
    weight_symbols: Sequence[sympy.Symbol | str] = (),
    method: str = "density_matrix",
    max_block_qubits: int | None = None,
    dtype: tf.DType = tf.complex64,
    jit_compile: bool = False,
    branches: Sequence[cirq.AbstractCircuit] = (),
) -> NoisyCircuit:
    """Compile a circuit with noise channels (e.g. ``circuit.with_noise(model)``) into a batched TF program.

    Args:
        circuit: Gates the state-vector kernel supports, channels with Kraus operators, and
            terminal measurements.
        qubits: Register order; default: the circuit's qubits, sorted.
        data_symbols: Per-sample symbols (columns of ``data``).
        weight_symbols: Shared symbols (entries of ``weights``).
        method: ``"density_matrix"`` (exact; default) or ``"trajectories"``.
        max_block_qubits: Largest fused block (default 2 for density matrices, 3 for trajectories).
        dtype: ``tf.complex64`` or ``tf.complex128`` (reference precision).
        jit_compile: Compile the program with XLA (worth it for small, repeatedly run circuits).
        branches: Circuits that each continue from ``circuit``'s final state (which must then
            measure nothing), e.g. one per measurement setting: the prefix is simulated once
            (:meth:`NoisyCircuit.branch_probabilities`). Density mode.

    Raises:
        InputError: unknown method, a symbol in neither list or in both, qubits missing.
        UnsupportedGateError: see :func:`qkernel.sim.noisy.pieces.lower_noisy`.
    """
    if method not in METHODS:
        raise InputError(f"unknown noisy simulation method {method!r}; expected one of {', '.join(METHODS)}")
    if dtype not in (tf.complex64, tf.complex128):
        raise InputError(f"dtype must be tf.complex64 or tf.complex128; got {dtype!r}")
    names = [[s if isinstance(s, str) else s.name for s in group] for group in (data_symbols, weight_symbols)]
    both = sorted(set(names[0]) & set(names[1]))
    if both:
        raise InputError(f"symbols {both} are listed both as data and as weight symbols")
    circuit = cirq.unroll_circuit_op(circuit, deep=True, tags_to_check=None)
    branches = [cirq.unroll_circuit_op(b, deep=True, tags_to_check=None) for b in branches]
    if branches and (method != "density_matrix" or circuit.has_measurements()):
        raise InputError("branches need method='density_matrix' and a prefix circuit without measurements")
    everything = cirq.Circuit(circuit, *branches)
    missing = sorted({s.name for s in cirq.parameter_symbols(everything)} - set(names[0]) - set(names[1]))
    if missing:
        raise InputError(f"circuit symbols {missing[:10]} are in neither data_symbols nor weight_symbols")
    qubits = sorted(everything.all_qubits()) if qubits is None else list(qubits)
    outside = sorted(set(everything.all_qubits()) - set(qubits), key=str)
    if outside:
        raise InputError(f"circuit acts on {outside}, which are not in qubits {qubits}")
    density = method == "density_matrix"
    pos = {q: i for i, q in enumerate(qubits)}
    width, local = max_block_qubits or _BLOCK_QUBITS[method], 4 if density else 2
    lowered = lower_noisy(circuit, pos, density=density)
    forks = []
    for branch in branches:
        part = lower_noisy(branch, pos, density=density, angles=lowered.angles)
        forks.append((fuse(part.pieces, width, local), part.measurements or [("", tuple(range(len(qubits))))]))
    blocks = fuse(lowered.pieces, width, local)
    return NoisyCircuit(qubits, method, lowered, blocks, names[0], names[1], dtype, jit_compile, forks)
