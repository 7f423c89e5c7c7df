"""The native kernel against Cirq: states, expectations, gradients to second order, errors."""

from __future__ import annotations

import contextlib

import cirq
import numpy as np
import pytest
import sympy

import qkernel  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf
from benchmarks.kernel import benchmark_train_step, reference_circuit
from qkernel.errors import InputError, UnsupportedGateError
from qkernel.sim.kernel import CompiledCircuit, compile_circuit, inline_circuits

W = sympy.symbols("w0:8")
X = sympy.symbols("x0:3")


def _expr(rng: np.random.Generator) -> sympy.Expr:
    """A random gate parameter: weights, data, and expressions of them."""
    w, x = W[rng.integers(len(W))], X[rng.integers(len(X))]
    pool = [w, 2 * w, w / sympy.pi, w + 0.5, x, x * w, sympy.sin(w), w**2, x - w, 0.7 * x]
    return pool[rng.integers(len(pool))]


def _random_unitary(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))
    return q * (np.diag(r) / np.abs(np.diag(r)))


def _families(rng: np.random.Generator):
    """One maker per supported family: ``(arity, make(params) -> gate)``."""
    e = lambda: _expr(rng)  # noqa: E731
    return [
        (1, lambda: cirq.H), (1, lambda: cirq.X), (1, lambda: cirq.Y), (1, lambda: cirq.Z),
        (1, lambda: cirq.S), (1, lambda: cirq.T), (2, lambda: cirq.CNOT), (2, lambda: cirq.CZ),
        (2, lambda: cirq.SWAP), (2, lambda: cirq.ISWAP), (3, lambda: cirq.TOFFOLI),
        (3, lambda: cirq.CCZ), (3, lambda: cirq.CSWAP),
        (1, lambda: cirq.MatrixGate(_random_unitary(rng, 2))),
        (2, lambda: cirq.MatrixGate(_random_unitary(rng, 4))),
        (1, lambda: cirq.rx(e())), (1, lambda: cirq.ry(e())), (1, lambda: cirq.rz(e())),
        (1, lambda: cirq.XPowGate(exponent=e(), global_shift=0.25)),
        (1, lambda: cirq.YPowGate(exponent=e())),
        (1, lambda: cirq.ZPowGate(exponent=e(), global_shift=-0.3)),
        (1, lambda: cirq.HPowGate(exponent=e())),
        (2, lambda: cirq.CXPowGate(exponent=e())), (2, lambda: cirq.CZPowGate(exponent=e())),
        (2, lambda: cirq.SwapPowGate(exponent=e())), (2, lambda: cirq.ISwapPowGate(exponent=e())),
        (2, lambda: cirq.ZZPowGate(exponent=e())), (2, lambda: cirq.XXPowGate(exponent=e())),
        (3, lambda: cirq.CCZPowGate(exponent=e())),
        (1, lambda: cirq.PhasedXPowGate(phase_exponent=e(), exponent=e(), global_shift=0.1)),
        (1, lambda: cirq.PhasedXZGate(x_exponent=e(), z_exponent=e(), axis_phase_exponent=e())),
        (2, lambda: cirq.FSimGate(theta=e(), phi=e())),
        (2, lambda: cirq.PhasedISwapPowGate(phase_exponent=e(), exponent=e())),
        (2, lambda: cirq.ControlledGate(cirq.ry(e()))),
        (2, lambda: cirq.ControlledGate(cirq.rz(e()), control_values=[0])),
        (3, lambda: cirq.ControlledGate(cirq.FSimGate(theta=e(), phi=0.4))),
        (2, lambda: cirq.ControlledGate(cirq.PhasedXPowGate(phase_exponent=e(), exponent=0.3))),
    ]


def _random_circuit(n: int, seed: int) -> cirq.Circuit:
    """Every family at least once, on random (also non-adjacent, reversed) qubits."""
    rng = np.random.default_rng(seed)
    q = cirq.LineQubit.range(n)
    families = _families(rng)
    order = list(range(len(families))) + list(rng.integers(len(families), size=10))
    circuit = cirq.Circuit(cirq.GlobalPhaseGate(np.exp(0.3j)).on())
    for i in order:
        arity, make = families[i]
        targets = [q[j] for j in rng.choice(n, size=arity, replace=False)]
        circuit.append(make().on(*targets))
    return circuit


def _resolve(circuit: cirq.Circuit, weights: np.ndarray, data_row: np.ndarray) -> cirq.Circuit:
    values = {s.name: float(v) for s, v in zip(W, weights)} | {s.name: float(v) for s, v in zip(X, data_row)}
    return cirq.resolve_parameters(circuit, cirq.ParamResolver(values))


def _random_states(rng: np.random.Generator, batch: int, n: int, complex_: bool) -> np.ndarray:
    psi = rng.normal(size=(batch, 2**n)) + (1j * rng.normal(size=(batch, 2**n)) if complex_ else 0)
    return psi / np.linalg.norm(psi, axis=1, keepdims=True)


def _observables(q):
    return [
        cirq.Z(q[0]),
        cirq.X(q[1]) * cirq.Y(q[-1]),
        0.5 * cirq.Z(q[0]) * cirq.Z(q[2]) + 0.3 * cirq.X(q[2]) - 0.2 * cirq.Y(q[1]) * cirq.Y(q[3]) + 0.7,
        cirq.PauliSum.from_pauli_strings([cirq.Z(q[-1]) * cirq.X(q[0])]),
    ]


@pytest.mark.parametrize("n", [4, 6])
def test_random_circuits_match_cirq(n: int) -> None:
    rng = np.random.default_rng(n)
    q = cirq.LineQubit.range(n)
    circuit = _random_circuit(n, seed=n)
    observables = _observables(q)
    compiled = compile_circuit(
        circuit, qubits=q, data_symbols=X, weight_symbols=W, observables=observables, jit_compile=False
    )
    weights = tf.constant(rng.uniform(-np.pi, np.pi, len(W)), tf.float32)
    batch = 3
    data = tf.constant(rng.uniform(-np.pi, np.pi, (batch, len(X))), tf.float32)
    qubit_map = {qq: i for i, qq in enumerate(q)}
    for initial in (None, _random_states(rng, batch, n, False), _random_states(rng, batch, n, True)):
        state = None if initial is None else tf.constant(initial, tf.complex64 if np.iscomplexobj(initial) else tf.float32)
        got = compiled.state_vector(weights, data=data, state=state)
        assert got.shape == (batch, 2**n) and got.dtype == tf.complex64
        refs = []
        for b in range(batch):
            start = np.eye(2**n)[0] if initial is None else initial[b]
            refs.append(
                cirq.Simulator(dtype=np.complex128).simulate(
                    _resolve(circuit, weights.numpy(), data.numpy()[b]), initial_state=start.astype(np.complex128), qubit_order=q
                ).final_state_vector
            )
            np.testing.assert_allclose(got.numpy()[b], refs[-1], atol=1e-5, rtol=0)  # global phase included
    expect = compiled(weights, data=data, state=state)  # the complex initial states
    assert expect.shape == (batch, len(observables)) and expect.dtype == tf.float32
    ref_e = [[o.expectation_from_state_vector(ref, qubit_map).real for o in observables] for ref in refs]
    np.testing.assert_allclose(expect.numpy(), ref_e, atol=1e-5, rtol=0)


def test_expectations_of_a_real_state_match_cirq() -> None:
    q = cirq.LineQubit.range(4)
    t = sympy.symbols("t0:4")
    circuit = cirq.Circuit([cirq.H(q[0]), cirq.ry(t[0]).on(q[1]), cirq.CNOT(q[0], q[2]), cirq.ry(2 * t[1]).on(q[3])])
    circuit += cirq.Circuit([cirq.CZ(q[1], q[3]), cirq.SWAP(q[0], q[3]), cirq.ry(t[2] + t[3]).on(q[2])])
    observables = _observables(q)
    compiled = compile_circuit(circuit, weight_symbols=t, observables=observables, jit_compile=False)
    rng = np.random.default_rng(2)
    w = rng.uniform(-np.pi, np.pi, 4)
    state = _random_states(rng, 2, 4, False)
    got = compiled(tf.constant(w, tf.float32), state=tf.constant(state, tf.float32)).numpy()
    resolved = cirq.resolve_parameters(circuit, {s.name: v for s, v in zip(t, w)})
    for b in range(2):
        ref = cirq.final_state_vector(resolved, initial_state=state[b].astype(np.complex128), qubit_order=q, dtype=np.complex128)
        np.testing.assert_allclose(got[b], [o.expectation_from_state_vector(ref, {x: i for i, x in enumerate(q)}).real for o in observables], atol=1e-5)


def test_reference_ansatz_is_fused_into_few_stages() -> None:
    circuit, symbols, observables = reference_circuit(8, 5)
    compiled = compile_circuit(circuit, weight_symbols=symbols, observables=observables, jit_compile=False)
    # 5 x (Ry layer -> two 4-qubit Kronecker blocks; Rz layer + CNOT ring -> one gather + one phase).
    assert compiled.describe() == " ".join(["D[4,4] P[perm,phase]"] * 5)
    assert (compiled.n_qubits, compiled.n_outputs) == (8, 8)


# --------------------------------------------------------------------------- gradients


def _grad_setup():
    """3 qubits: data on an Ry, weights in Ry/Rz/Rx/CZPow/FSim, expressions 2a, a*b, b+x."""
    q = cirq.LineQubit.range(3)
    a, b, c = W[:3]
    x0, x1 = X[:2]
    circuit = cirq.Circuit(
        cirq.ry(x0).on(q[0]), cirq.H(q[1]), cirq.ry(2 * a).on(q[1]), cirq.CNOT(q[0], q[1]),
        cirq.H(q[2]), cirq.rz(a * b).on(q[2]), cirq.rx(b + x1).on(q[2]),
        cirq.CZPowGate(exponent=c).on(q[1], q[2]), cirq.FSimGate(theta=c, phi=a).on(q[0], q[2]),
        cirq.rx(a).on(q[0]), cirq.ry(c).on(q[1]),
    )
    observables = [cirq.Z(q[0]) * cirq.Z(q[1]), cirq.X(q[2]) + 0.5 * cirq.Y(q[1]), cirq.Z(q[2])]
    return q, circuit, (a, b, c), (x0, x1), observables


def _reference_value(q, circuit, wsyms, xsyms, observables, coeffs, w, data, state) -> float:
    """float64 sum_b sum_j coeffs[j] <psi_b|O_j|psi_b> with unnormalised states allowed."""
    matrices = [o.matrix(q) if isinstance(o, cirq.PauliSum) else cirq.PauliSum.from_pauli_strings([o]).matrix(q) for o in observables]
    total = 0.0
    for row, psi in zip(data, state):
        values = {s.name: v for s, v in zip(wsyms, w)} | {s.name: v for s, v in zip(xsyms, row)}
        u = cirq.unitary(cirq.resolve_parameters(circuit, cirq.ParamResolver(values)))
        out = u @ psi
        total += sum(c * np.vdot(out, m @ out).real for c, m in zip(coeffs, matrices))
    return total


@pytest.mark.parametrize("complex_state", [False, True])
def test_first_order_gradients_match_finite_differences(complex_state: bool) -> None:
    rng = np.random.default_rng(7)
    q, circuit, wsyms, xsyms, observables = _grad_setup()
    compiled = compile_circuit(circuit, data_symbols=xsyms, weight_symbols=wsyms, observables=observables, jit_compile=False)
    w = rng.uniform(-2, 2, 3)
    data = rng.uniform(-2, 2, (2, 2))
    state = _random_states(rng, 2, 3, complex_state)
    coeffs = np.array([0.7, -1.3, 0.4])

    def value(w_, data_, state_):
        return _reference_value(q, circuit, wsyms, xsyms, observables, coeffs, w_, data_, state_)

    tw, td = tf.constant(w, tf.float32), tf.constant(data, tf.float32)
    ts = tf.constant(state, tf.complex64 if complex_state else tf.float32)
    with tf.GradientTape() as tape:
        tape.watch([tw, td, ts])
        loss = tf.reduce_sum(compiled(tw, data=td, state=ts) * coeffs.astype(np.float32))
    gw, gd, gs = (g.numpy() for g in tape.gradient(loss, [tw, td, ts]))
    np.testing.assert_allclose(loss.numpy(), value(w, data, state), rtol=1e-5, atol=1e-5)

    eps = 1e-5
    fd_w = [(value(w + eps * e, data, state) - value(w - eps * e, data, state)) / (2 * eps) for e in np.eye(3)]
    fd_d = np.array(
        [(value(w, data + eps * e, state) - value(w, data - eps * e, state)) / (2 * eps) for e in np.eye(4).reshape(4, 2, 2)]
    ).reshape(2, 2)
    np.testing.assert_allclose(gw, fd_w, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(gd, fd_d, rtol=1e-3, atol=1e-4)
    # Directional derivatives along random directions of the (unnormalised) input state;
    # for a complex input TensorFlow's gradient g gives d/de f(z + e v) = Re(sum(conj(g) * v)).
    for _ in range(3):
        v = rng.normal(size=state.shape) + (1j * rng.normal(size=state.shape) if complex_state else 0)
        fd = (value(w, data, state + eps * v) - value(w, data, state - eps * v)) / (2 * eps)
        np.testing.assert_allclose(np.sum(np.conj(gs) * v).real, fd, rtol=1e-3, atol=1e-4)
    assert np.all(np.abs(gw) > 1e-3) and np.all(np.abs(gd) > 1e-3) and np.abs(gs).max() > 1e-3


@pytest.mark.parametrize("jit", [False, True])
def test_second_order_derivatives_match_finite_differences(jit: bool) -> None:
    rng = np.random.default_rng(11)
    q, circuit, wsyms, xsyms, observables = _grad_setup()
    compiled = compile_circuit(circuit, data_symbols=xsyms, weight_symbols=wsyms, observables=observables, jit_compile=jit)
    w = rng.uniform(-2, 2, 3)
    data = rng.uniform(-2, 2, (2, 2))
    state = _random_states(rng, 2, 3, False)
    coeffs = np.array([1.0, 0.0, 0.0])  # <Z0 Z1>

    def value(w_, data_):
        return _reference_value(q, circuit, wsyms, xsyms, observables, coeffs, w_, data_, state)

    ts = tf.constant(state, tf.float32)

    @tf.function
    def second(tw, td):
        """Nested tapes: d/d(w, x) of dL/dw0 -- the shape of a dataset-distillation step."""
        with tf.GradientTape() as outer:
            outer.watch([tw, td])
            with tf.GradientTape() as inner:
                inner.watch(tw)
                loss = tf.reduce_sum(compiled(tw, data=td, state=ts)[:, 0])
            dl_dw0 = inner.gradient(loss, tw)[0]
        return dl_dw0, outer.gradient(dl_dw0, [tw, td])

    dl_dw0, (d2_ww, d2_wx) = second(tf.constant(w, tf.float32), tf.constant(data, tf.float32))
    dl_dw0, d2_ww, d2_wx = dl_dw0.numpy(), d2_ww.numpy(), d2_wx.numpy()
    eps = 1e-3
    ew, ex = np.eye(3), np.eye(4).reshape(4, 2, 2)

    def second_difference(shift):  # d2 f / (d w0 d shift)
        f = lambda s0, s1: value(w + s0 * ew[0] + s1 * shift[0], data + s1 * shift[1])  # noqa: E731
        return (f(eps, eps) - f(eps, -eps) - f(-eps, eps) + f(-eps, -eps)) / (4 * eps**2)

    fd_ww = [second_difference((ew[i], 0)) for i in range(3)]
    fd_wx = np.reshape([second_difference((0, ex[k])) for k in range(4)], (2, 2))
    np.testing.assert_allclose(dl_dw0, (value(w + eps * ew[0], data) - value(w - eps * ew[0], data)) / (2 * eps), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(d2_ww, fd_ww, rtol=1e-3, atol=2e-4)  # d2/dw0^2 and mixed d2/dw0 dwj
    np.testing.assert_allclose(d2_wx, fd_wx, rtol=1e-3, atol=2e-4)  # mixed weight-data
    assert np.abs(d2_ww).min() > 1e-2 and np.abs(d2_wx).max() > 1e-2


def test_every_weight_gets_gradient_through_reference_ansatz() -> None:
    circuit, symbols, observables = reference_circuit(4, 2)
    compiled = compile_circuit(circuit, weight_symbols=symbols, observables=observables, jit_compile=False)
    rng = np.random.default_rng(3)
    w = tf.constant(rng.uniform(-np.pi, np.pi, len(symbols)), tf.float32)
    state = tf.constant(_random_states(rng, 5, 4, False), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(w)
        loss = tf.reduce_sum(compiled(w, state=state) * tf.constant([1.0, -0.5, 0.3, 0.8]))
    grad = tape.gradient(loss, w).numpy()
    # The last Rz layer sits right before Z measurements and cannot matter (zero gradient);
    # every other angle must move the loss.
    last_rz = slice(len(symbols) - 4, len(symbols))
    assert np.all(np.abs(np.delete(grad, np.arange(len(symbols))[last_rz])) > 1e-6)
    np.testing.assert_allclose(grad[last_rz], 0, atol=1e-6)


# --------------------------------------------------------------------------- tf.function / XLA


def test_tf_function_with_and_without_xla_is_identical_and_does_not_retrace() -> None:
    rng = np.random.default_rng(5)
    circuit, symbols, observables = reference_circuit(5, 2)
    w = tf.constant(rng.uniform(-np.pi, np.pi, len(symbols)), tf.float32)
    results, traces = [], []
    states = {b: tf.constant(_random_states(rng, b, 5, False), tf.float32) for b in (3, 4, 6)}
    for jit in (False, True):
        compiled = compile_circuit(circuit, weight_symbols=symbols, observables=observables, jit_compile=jit)

        @tf.function(input_signature=[tf.TensorSpec([None, 32], tf.float32)])
        def step(state, compiled=compiled):
            with tf.GradientTape() as tape:
                tape.watch(state)
                out = compiled(w, state=state)
                loss = tf.reduce_sum(out**2)
            return out, tape.gradient(loss, state)

        for batch in (4, 6):
            state = states[batch]
            out, grad = step(state)
            if batch == 6:
                results.append((out.numpy(), grad.numpy(), compiled(w, state=state).numpy()))
        traces.append(step.experimental_get_tracing_count())
        # Eager calls with several batch sizes share one trace of the kernel program.
        compiled(w, state=states[3])
        inner = compiled._functions[("expect", False, tf.float32)]
        assert inner.experimental_get_tracing_count() == 1
    assert traces == [1, 1]
    (o0, g0, e0), (o1, g1, e1) = results
    np.testing.assert_allclose(o0, e0, atol=1e-6)
    np.testing.assert_allclose(o1, o0, atol=1e-5)
    np.testing.assert_allclose(g1, g0, atol=1e-5)
    np.testing.assert_allclose(e1, e0, atol=1e-5)


def test_inlined_circuits_add_their_ops_to_the_callers_graph_with_the_same_values() -> None:
    """``inline_circuits`` (gradient matching's vectorised second-order graph): no XLA function call in the
    caller's graph, the same expectations and gradients as through the call."""
    rng = np.random.default_rng(6)
    circuit, symbols, observables = reference_circuit(4, 2)
    compiled = compile_circuit(circuit, weight_symbols=symbols, observables=observables, jit_compile=True)
    w = tf.constant(rng.uniform(-np.pi, np.pi, len(symbols)), tf.float32)
    state = tf.constant(_random_states(rng, 5, 4, False), tf.float32)

    def expectations_and_gradient(s):
        with tf.GradientTape() as tape:
            tape.watch(s)
            out = compiled(w, state=s)
            loss = tf.reduce_sum(out**2)
        return out, tape.gradient(loss, s)

    graphs, values = [], []
    for inline in (False, True):
        f = tf.function(expectations_and_gradient)
        with inline_circuits() if inline else contextlib.nullcontext():
            graph = f.get_concrete_function(state).graph
        graphs.append({op.type for op in graph.get_operations()})
        values.append([t.numpy() for t in f(state)])
    assert "StatefulPartitionedCall" in graphs[0] or "PartitionedCall" in graphs[0]
    assert not {"StatefulPartitionedCall", "PartitionedCall"} & graphs[1]
    for called, inlined in zip(*values):
        np.testing.assert_allclose(inlined, called, atol=1e-5)


def test_whole_step_under_xla_with_variable_update_compiles_once() -> None:
    circuit, symbols, observables = reference_circuit(4, 2)
    compiled = compile_circuit(circuit, weight_symbols=symbols, observables=observables, jit_compile=True)
    rate = benchmark_train_step(compiled, batch=8, steps=3, warmup=1, repeats=1, jit_step=True)
    assert rate > 0


def test_default_state_and_data_only_batch() -> None:
    q = cirq.LineQubit.range(2)
    x = sympy.Symbol("x")
    compiled = compile_circuit(
        cirq.Circuit(cirq.ry(x).on(q[0]), cirq.CNOT(q[0], q[1])), data_symbols=[x], observables=[cirq.Z(q[1])]
    )
    out = compiled(tf.zeros([0]), data=tf.constant([[0.0], [np.pi / 2], [np.pi]]))
    np.testing.assert_allclose(out.numpy()[:, 0], [1.0, 0.0, -1.0], atol=1e-6)
    fixed = compile_circuit(cirq.Circuit(cirq.X(q[0])), qubits=q, observables=[cirq.Z(q[0]), cirq.Z(q[1])])
    np.testing.assert_allclose(fixed([]).numpy(), [[-1.0, 1.0]], atol=1e-7)


def test_terminal_measurements_are_ignored() -> None:
    q = cirq.LineQubit.range(2)
    t = sympy.Symbol("t")
    base = cirq.Circuit(cirq.ry(t).on(q[0]), cirq.CNOT(q[0], q[1]))
    measured = base + cirq.Circuit(cirq.measure(*q, key="m"))
    a = compile_circuit(base, weight_symbols=[t], observables=[cirq.Z(q[1])], jit_compile=False)
    b = compile_circuit(measured, weight_symbols=[t], observables=[cirq.Z(q[1])], jit_compile=False)
    np.testing.assert_allclose(a([0.4]).numpy(), b([0.4]).numpy())
    with pytest.raises(UnsupportedGateError, match="mid-circuit"):
        compile_circuit(measured + base, weight_symbols=[t], observables=[cirq.Z(q[1])])


# --------------------------------------------------------------------------- errors


class _SymbolicGateWithoutUnitary(cirq.Gate):
    def __init__(self, t) -> None:
        self.t = t

    def _num_qubits_(self) -> int:
        return 1

    def _is_parameterized_(self) -> bool:
        return cirq.is_parameterized(self.t)

    def _parameter_names_(self):
        return cirq.parameter_names(self.t)

    def _resolve_parameters_(self, resolver, recursive):
        return _SymbolicGateWithoutUnitary(resolver.value_of(self.t, recursive))

    def __repr__(self) -> str:
        return f"_SymbolicGateWithoutUnitary({self.t!r})"


@pytest.mark.parametrize(
    ("op", "match"),
    [
        (_SymbolicGateWithoutUnitary(W[0]).on(cirq.LineQubit(0)), "_SymbolicGateWithoutUnitary.*EigenGate"),
        (cirq.depolarize(0.1).on(cirq.LineQubit(0)), "depolarize.*no unitary"),
        (cirq.X.with_probability(W[0]).on(cirq.LineQubit(0)), "with_probability.*RandomGateChannel"),
        (cirq.amplitude_damp(0.2).on(cirq.LineQubit(0)), "amplitude_damp"),
        (cirq.DiagonalGate([W[0], 0.0]).on(cirq.LineQubit(0)), "DiagonalGate.*PhasedXZGate"),
        (cirq.rx(sympy.erf(W[0])).on(cirq.LineQubit(0)), "erf"),
    ],
)
def test_unsupported_operations_raise_naming_the_gate(op, match: str) -> None:
    with pytest.raises(UnsupportedGateError, match=match):
        compile_circuit(cirq.Circuit(op), weight_symbols=W, observables=[cirq.Z(cirq.LineQubit(0))])


def test_missing_and_overlapping_symbols_raise_input_error() -> None:
    q = cirq.LineQubit(0)
    circuit = cirq.Circuit(cirq.rx(W[0] + W[5]).on(q), cirq.ry(X[1]).on(q))
    with pytest.raises(InputError, match=r"\['w5', 'x1'\]"):
        compile_circuit(circuit, weight_symbols=W[:2], observables=[cirq.Z(q)])
    with pytest.raises(InputError, match="both"):
        compile_circuit(circuit, data_symbols=[W[0]], weight_symbols=W, observables=[cirq.Z(q)])


def test_bad_inputs_raise_input_error_naming_expected_and_received() -> None:
    q = cirq.LineQubit.range(2)
    compiled: CompiledCircuit = compile_circuit(
        cirq.Circuit(cirq.ry(W[0]).on(q[0]), cirq.rz(X[0]).on(q[1])),
        data_symbols=X[:1], weight_symbols=W[:1], observables=[cirq.Z(q[0])],
    )
    data, state = tf.zeros([3, 1]), tf.one_hot([0, 1, 2], 4)
    with pytest.raises(InputError, match=r"weights: expected shape \(1,\).*received \(2,\)"):
        compiled(tf.zeros([2]), data=data, state=state)
    with pytest.raises(InputError, match=r"data: expected shape \(batch, 1\).*received \(3, 2\)"):
        compiled(tf.zeros([1]), data=tf.zeros([3, 2]), state=state)
    with pytest.raises(InputError, match="data: the circuit has data symbols"):
        compiled(tf.zeros([1]), state=state)
    with pytest.raises(InputError, match=r"state: expected shape \(batch, 4\).*received \(3, 8\)"):
        compiled(tf.zeros([1]), data=data, state=tf.zeros([3, 8]))
    with pytest.raises(InputError, match="state: expected the data batch size 3, received batch size 2"):
        compiled(tf.zeros([1]), data=data, state=tf.one_hot([0, 1], 4))
    with pytest.raises(InputError, match=r"NaN/inf in sample\(s\) \[1\]"):
        compiled(tf.zeros([1]), data=data, state=tf.tensor_scatter_nd_update(state, [[1, 2]], [np.nan]))
    with pytest.raises(InputError, match="dtype int32"):
        compiled(tf.zeros([1]), data=data, state=tf.zeros([3, 4], tf.int32))
