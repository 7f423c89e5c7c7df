"""Native kernel: a Cirq circuit compiled once into a batched, differentiable TensorFlow program.

TensorFlow Quantum returns first-order gradients only and is slow for amplitude-encoded
inputs. Dataset distillation differentiates through unrolled training steps (nested
:class:`tf.GradientTape`), so qdistill simulates its circuits with plain TensorFlow ops,
which TensorFlow differentiates to any order::

    compiled = compile_circuit(circuit, weight_symbols=thetas, observables=[cirq.Z(q) for q in qs])
    expectations = compiled(weights, state=amplitudes)          # (batch, n_outputs) float32

A circuit is compiled once, in Python, by :func:`compile_circuit`, one module per step:

1. :mod:`qkernel.sim.lowering` lowers every operation to primitives on sorted qubit
   positions: a constant unitary, or a symbolic member of an :class:`cirq.EigenGate` family
   ``U(a) = sum_k exp(i a mu_k) P_k``.
2. :mod:`qkernel.sim.schedule` schedules the primitives into alternating stages: a
   *phase-permutation stage* composes diagonal and monomial primitives (Rz, CZ, CNOT …)
   into one gather and one elementwise phase multiply; a *dense stage* holds the other
   gates (Ry, H, FSim …) on disjoint qubits.
3. :mod:`qkernel.sim.plans` turns each stage into TensorFlow ops: a dense stage becomes a
   few matmuls with Kronecker blocks of gates, each precomputed as a sum of constant
   matrices weighted by ``exp(i theta_t)``. Gate angles come from :mod:`qkernel.sim.angles`
   (symbolic expressions through :mod:`qkernel.sim.sympy_tf`), state updates from
   :mod:`qkernel.sim.tfops`.
4. :mod:`qkernel.sim.paulis` turns the observables into weights per X/Y mask: one matmul
   per mask on the final state, a single ``|psi|^2 @ signs`` for Z strings.

At run time the state is basis-major, ``(2**n, B)`` (gates multiply from the left, a
permutation gathers contiguous rows), and real: one tensor while the state is real (real
input, real gates: Ry, H, CNOT, CZ, X, Z, SWAP …), a ``(re, im)`` pair once a complex gate
has acted, so real gates never pay for complex arithmetic.

``jit_compile=True`` runs the program under XLA. Inside a caller's ``tf.function`` that is
itself XLA-compiled, or with ``jit_compile=False``, the ops are added to the caller's graph
directly (no nested function: cheaper higher-order gradients).

Measurements are ignored when they are terminal (they do not change expectation values);
a mid-circuit measurement, a reset, a noise channel or any other non-unitary operation
raises :class:`qkernel.errors.UnsupportedGateError`. Only qubits (dimension 2) are supported.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import cirq
import numpy as np
import sympy
import tensorflow as tf

from qkernel.errors import InputError, UnsupportedGateError
from qkernel.sim.angles import Env
from qkernel.sim.lowering import SUPPORTED_FAMILIES, Prim, lower_op
from qkernel.sim.paulis import ObservableLike, observable_weights
from qkernel.sim.plans import DensePlan, PhasePermPlan
from qkernel.sim.schedule import Dense, PhasePerm, schedule
from qkernel.sim.sympy_tf import sympy_to_tf
from qkernel.sim.tfops import add_all, in_xla_context, permute

__all__ = ["CompiledCircuit", "compile_circuit", "inline_circuits", "sympy_to_tf", "SUPPORTED_FAMILIES"]

#: A dense (2**n, batch) float32 state beyond this is no longer practical on a CPU.
_MAX_QUBITS = 24


class _Inline(threading.local):
    active = False  # per thread: a thread's tracing never inlines another thread's circuits


_inline = _Inline()


@contextlib.contextmanager
def inline_circuits() -> Iterator[None]:
    """Circuits traced inside this block add their ops to the caller's graph, XLA or not.

    For graphs that differentiate a circuit to second order under :func:`tf.vectorized_map`
    (gradient matching): there an XLA function call per circuit costs more than it saves —
    quantum LeNet's per-class match traces in 7 s instead of 22 s and runs 25 % faster
    inlined. First-order training keeps XLA.
    """
    before, _inline.active = _inline.active, True
    try:
        yield
    finally:
        _inline.active = before


class CompiledCircuit:
    """A circuit compiled by :func:`compile_circuit`; call it to get expectation values.

    Attributes:
        n_qubits: Number of qubits (state width ``2**n_qubits``).
        n_outputs: Number of observables (output columns).
        qubits: Qubit order; ``qubits[0]`` is the most significant bit of a basis index.
        data_symbols: Names of per-sample symbols, in the column order of ``data``.
        weight_symbols: Names of shared symbols, in the order of ``weights``.
        jit_compile: Whether the TensorFlow program is compiled with XLA.
    """

    def __init__(self, qubits, data_names, weight_names, stages, obs_weights, n_outputs: int, jit_compile: bool) -> None:
        self.qubits = tuple(qubits)
        self.n_qubits = len(self.qubits)
        self.data_symbols = tuple(data_names)
        self.weight_symbols = tuple(weight_names)
        self.jit_compile = jit_compile
        self.n_outputs = n_outputs
        n = self.n_qubits
        plans = [
            (DensePlan if isinstance(s, Dense) else PhasePermPlan)(s, weight_names, data_names) for s in stages
        ]
        self._plans = plans
        # Diagonal observables only see |psi|^2: fold a trailing phase-permutation into them.
        self._expect_plans = plans
        if set(obs_weights) <= {0} and stages and isinstance(stages[-1], PhasePerm):
            self._expect_plans = plans[:-1]
            if obs_weights:
                obs_weights = {0: obs_weights[0][stages[-1].inverse]}
        self._observables = []
        for mask, w in sorted(obs_weights.items()):
            perm = np.arange(2**n) ^ mask
            im = w.imag.astype(np.float32) if np.abs(w.imag).max() > 0 else None
            self._observables.append((mask, perm, w.real.astype(np.float32), im))
        self._functions: dict[tuple, Any] = {}

    def __repr__(self) -> str:
        return (
            f"CompiledCircuit(n_qubits={self.n_qubits}, n_outputs={self.n_outputs}, "
            f"data_symbols={len(self.data_symbols)}, weight_symbols={len(self.weight_symbols)}, "
            f"stages='{self.describe()}', jit_compile={self.jit_compile})"
        )

    def describe(self) -> str:
        """The compiled stages, e.g. ``D[4,4] P[perm,phase]``: ``D[...]`` applies one-qubit
        Kronecker blocks (sizes) and multi-qubit gates (``m`` + qubits); ``P[...]`` one
        gather (``perm``) and/or one elementwise ``sign``/``phase`` multiply."""
        tokens = []
        for plan in self._plans:
            s = plan.stage
            if isinstance(s, Dense):
                tokens.append(f"D[{plan.describe()}]")
            else:
                parts = ([] if s.identity_perm else ["perm"]) + ([] if s.trivial_phase else ["sign" if s.real else "phase"])
                tokens.append(f"P[{','.join(parts)}]")
        return " ".join(tokens)

    # ----------------------------------------------------------------- calling

    @tf.autograph.experimental.do_not_convert
    def __call__(self, weights: Any, *, data: Any = None, state: Any = None) -> tf.Tensor:
        """Expectation values of the observables.

        Args:
            weights: ``(W,)`` float32 values of ``weight_symbols``.
            data: ``(B, len(data_symbols))`` float32 per-sample symbol values; required iff the
                circuit has data symbols (a ``(B, 0)`` tensor may be passed to set ``B``).
            state: Optional initial states ``(B, 2**n_qubits)``, real float (e.g. an
                L2-normalised amplitude encoding; not renormalised here) or complex64.
                Default ``|0...0>``.

        Returns:
            ``(B, n_outputs)`` float32 real parts of the expectation values (``B = 1`` when
            neither data nor state is given). Differentiable w.r.t. weights, data and state,
            to any order.

        Raises:
            InputError: on a wrong shape, a missing ``data``, or a non-finite ``state``
                (the non-finite check runs in eager mode only).
        """
        return self._run("expect", weights, data, state)

    @tf.autograph.experimental.do_not_convert
    def state_vector(self, weights: Any, *, data: Any = None, state: Any = None) -> tf.Tensor:
        """Final states ``(B, 2**n_qubits)`` complex64; same arguments as :meth:`__call__`."""
        return self._run("state", weights, data, state)

    def _run(self, mode: str, weights, data, state) -> tf.Tensor:
        w, d, s = self._validate(weights, data, state)
        if not tf.executing_eagerly() and (not self.jit_compile or in_xla_context() or _inline.active):
            # Inside the caller's tf.function (or its XLA cluster): add the ops to its graph.
            # No function boundary: cheaper higher-order gradients, and no forward-pass
            # tensors crossing into an XLA cluster as compile-time constants.
            return self._program(mode, w, d, s)
        key = (mode, d is not None, None if s is None else s.dtype)
        fn = self._functions.get(key)
        if fn is None:
            fn = self._functions[key] = self._make_function(*key)
        return fn(*[t for t in (w, d, s) if t is not None])

    def _make_function(self, mode: str, has_data: bool, state_dtype):
        signature = [tf.TensorSpec([len(self.weight_symbols)], tf.float32)]
        if has_data:
            signature.append(tf.TensorSpec([None, len(self.data_symbols)], tf.float32))
        if state_dtype is not None:
            signature.append(tf.TensorSpec([None, 2**self.n_qubits], state_dtype))

        def program(*args):
            d = args[1] if has_data else None
            s = args[-1] if state_dtype is not None else None
            return self._program(mode, args[0], d, s)

        # A fixed signature with a free batch size: one trace per (mode, inputs) variant.
        # autograph=False: the program is straight-line Python; converting it only costs time.
        return tf.function(program, input_signature=signature, jit_compile=self.jit_compile, autograph=False)

    def _validate(self, weights, data, state):
        n_w, n_d, width = len(self.weight_symbols), len(self.data_symbols), 2**self.n_qubits
        w = _to_float(weights, "weights")
        if w.shape.rank is not None and (w.shape.rank != 1 or w.shape[0] not in (None, n_w)):
            shown = f"{list(self.weight_symbols)[:8]}{'...' if n_w > 8 else ''}"
            raise InputError(f"weights: expected shape ({n_w},) for weight symbols {shown}, received {tuple(w.shape)}")
        batch = None
        d = None
        if data is not None:
            d = _to_float(data, "data")
            if d.shape.rank != 2 or d.shape[1] not in (None, n_d):
                raise InputError(
                    f"data: expected shape (batch, {n_d}) for data symbols {list(self.data_symbols)}, "
                    f"received {tuple(d.shape)}"
                )
            batch = d.shape[0]
        elif n_d:
            raise InputError(f"data: the circuit has data symbols {list(self.data_symbols)}; pass data of shape (batch, {n_d})")
        s = None
        if state is not None:
            s = tf.convert_to_tensor(state)
            if s.dtype.is_complex:
                s = tf.cast(s, tf.complex64)
            elif s.dtype.is_floating:
                s = tf.cast(s, tf.float32)
            else:
                raise InputError(f"state: expected a float32 or complex64 tensor, received dtype {s.dtype.name}")
            if s.shape.rank != 2 or s.shape[1] not in (None, width):
                raise InputError(f"state: expected shape (batch, {width}) for {self.n_qubits} qubits, received {tuple(s.shape)}")
            if batch is not None and s.shape[0] is not None and s.shape[0] != batch:
                raise InputError(f"state: expected the data batch size {batch}, received batch size {s.shape[0]}")
            if tf.executing_eagerly():
                finite = tf.math.is_finite(tf.math.real(s)) & tf.math.is_finite(tf.math.imag(s))
                if not bool(tf.reduce_all(finite)):
                    bad = np.unique(np.nonzero(~finite.numpy())[0])
                    raise InputError(f"state: expected finite amplitudes, received NaN/inf in sample(s) {bad[:10].tolist()}")
        return w, d, s

    # ----------------------------------------------------------------- the TF program

    def _program(self, mode: str, w: tf.Tensor, d: tf.Tensor | None, s: tf.Tensor | None) -> tf.Tensor:
        n = self.n_qubits
        env = Env(w, d, self.weight_symbols, self.data_symbols)
        # The state is carried basis-major, (2**n, B): gates become matmuls from the left
        # and permutations gather contiguous rows. One tensor while real, (re, im) after.
        if s is None:
            batch = tf.shape(d)[0] if d is not None else 1
            parts = [tf.one_hot(tf.zeros([batch], tf.int32), 2**n, axis=0)]
        elif s.dtype.is_complex:
            parts = [tf.transpose(tf.math.real(s), [1, 0]), tf.transpose(tf.math.imag(s), [1, 0])]
        else:
            parts = [tf.transpose(s, [1, 0])]
        for plan in self._plans if mode == "state" else self._expect_plans:
            parts = plan.apply(parts, env, n)
        if mode == "state":
            im = parts[1] if len(parts) == 2 else tf.zeros_like(parts[0])
            return tf.transpose(tf.complex(parts[0], im), [1, 0])
        return self._expectations(parts)

    def _expectations(self, parts: list[tf.Tensor]) -> tf.Tensor:
        out = []
        for mask, perm, wr, wi in self._observables:
            if mask == 0:
                prob = add_all([tf.square(x) for x in parts])
                out.append(tf.matmul(prob, wr, transpose_a=True))
                continue
            flipped = [permute(x, perm, perm) for x in parts]
            r = add_all([x * y for x, y in zip(parts, flipped)])  # Re conj(psi[x^m]) psi[x]
            e = tf.matmul(r, wr, transpose_a=True)
            if wi is not None and len(parts) == 2:
                s_ = parts[1] * flipped[0] - parts[0] * flipped[1]  # Im conj(psi[x^m]) psi[x]
                e = e - tf.matmul(s_, wi, transpose_a=True)
            out.append(e)
        if not out:
            return tf.zeros([tf.shape(parts[0])[1], self.n_outputs])
        return add_all(out)


def _to_float(value: Any, name: str) -> tf.Tensor:
    t = tf.convert_to_tensor(value)
    if not (t.dtype.is_floating or t.dtype.is_integer):
        raise InputError(f"{name}: expected a real float32 tensor, received dtype {t.dtype.name}")
    return tf.cast(t, tf.float32) if t.dtype != tf.float32 else t


def _names(symbols: Sequence[sympy.Symbol | str], what: str) -> list[str]:
    names = [s if isinstance(s, str) else getattr(s, "name", None) for s in symbols]
    if any(not isinstance(s, str) for s in names):
        raise InputError(f"{what}: expected sympy.Symbol or str entries, received {list(symbols)!r}")
    dup = sorted({s for s in names if names.count(s) > 1})
    if dup:
        raise InputError(f"{what}: symbols listed twice: {dup}")
    return names


def compile_circuit(
    circuit: cirq.Circuit,
    *,
    qubits: Sequence[cirq.Qid] | None = None,
    data_symbols: Sequence[sympy.Symbol] = (),
    weight_symbols: Sequence[sympy.Symbol] = (),
    observables: Sequence[ObservableLike],
    jit_compile: bool = True,
) -> CompiledCircuit:
    """Compile a Cirq circuit into a batched, differentiable TensorFlow program.

    Args:
        circuit: The circuit. Terminal measurements are ignored; see the module docstring.
        qubits: Qubit order (``qubits[0]`` = most significant bit, Cirq's order). Default:
            ``sorted`` qubits of the circuit and the observables. Pass it explicitly when some
            qubit (e.g. of ``LineQubit.range(n)``) is untouched by the circuit.
        data_symbols: Per-sample symbols, in the column order of ``data``.
        weight_symbols: Symbols shared by the batch, in the order of ``weights``.
        observables: Pauli sums or strings; one output column each.
        jit_compile: Compile the program with XLA (``tf.function(jit_compile=True)``).

    Returns:
        The :class:`CompiledCircuit`.

    Raises:
        InputError: if a circuit symbol is in neither symbol list, the lists overlap, or an
            observable acts on a qubit outside ``qubits``.
        UnsupportedGateError: for a non-unitary operation or a symbolic gate outside
            :data:`SUPPORTED_FAMILIES`.
    """
    data_names = _names(data_symbols, "data_symbols")
    weight_names = _names(weight_symbols, "weight_symbols")
    both = sorted(set(data_names) & set(weight_names))
    if both:
        raise InputError(f"symbols {both} are listed both as data and as weight symbols")
    circuit = cirq.unroll_circuit_op(circuit, deep=True, tags_to_check=None)
    missing = sorted({s.name for s in cirq.parameter_symbols(circuit)} - set(data_names) - set(weight_names))
    if missing:
        raise InputError(
            f"circuit symbols {missing} are in neither data_symbols {data_names} nor weight_symbols "
            f"{weight_names[:10]}{'...' if len(weight_names) > 10 else ''}"
        )
    if not circuit.are_all_measurements_terminal():
        raise UnsupportedGateError("mid-circuit measurements are not supported; only terminal measurements (ignored)")
    if qubits is None:
        obs_qubits = {q for o in observables for q in o.qubits}
        qubits = sorted(set(circuit.all_qubits()) | obs_qubits)
    qubits = list(qubits)
    if len(set(qubits)) != len(qubits):
        raise InputError(f"qubits: listed twice in {qubits}")
    if any(q.dimension != 2 for q in qubits):
        raise InputError("qubits: only qubits of dimension 2 are supported")
    pos = {q: i for i, q in enumerate(qubits)}
    outside = sorted(set(circuit.all_qubits()) - set(pos), key=str)
    if outside:
        raise InputError(f"circuit acts on {outside}, which are not in qubits {qubits}")
    n = len(qubits)
    if n > _MAX_QUBITS:
        raise InputError(f"qubits: the state-vector kernel supports up to {_MAX_QUBITS} qubits, received {n}")
    prims: list[Prim] = []
    for op in circuit.all_operations():
        if cirq.is_measurement(op):
            continue
        prims += lower_op(op.untagged, pos)
    stages = schedule(prims, n)
    for st in stages:
        if isinstance(st, PhasePerm):
            st.finish()
    obs_weights = observable_weights(list(observables), pos, n)
    return CompiledCircuit(qubits, data_names, weight_names, stages, obs_weights, len(observables), jit_compile)
