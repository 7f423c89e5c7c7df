"""Dense stages of fixed gates only (an H layer, feature maps that start with H) against Cirq.

A dense stage with two or more fixed gates and no symbolic gate used to fail to compile
(its phase coefficients have no columns). These tests compare the kernel with
``cirq.Simulator`` in complex128: expectation values, and gradients w.r.t. the weights and
the data symbol values, exact through the parameter-shift rule.
"""

from __future__ import annotations

import cirq
import numpy as np
import pytest
import sympy

import qkernel  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf
from qkernel.plugin.registry import get_registry
from qkernel.sim.kernel import compile_circuit

#: The kernel computes in float32, the references in complex128. Measured errors: values
#: <= 5e-7; gradients <= 5e-7, up to 2.7e-6 for data gradients of magnitude ~2.4 (the
#: feature map's ZZ angles x_i x_{i+1} reach pi**2), float32 rounding at ~1e-6 relative.
VALUE_ATOL = 1e-6
GRAD_ATOL = 1e-5

SIMULATOR = cirq.Simulator(dtype=np.complex128)


def _observables(q: list[cirq.Qid]) -> list[cirq.PauliString | cirq.PauliSum]:
    """Z, ZZ and X (plus Y and a Pauli sum: the states below are complex)."""
    return [
        cirq.Z(q[0]),
        cirq.Z(q[0]) * cirq.Z(q[1]),
        cirq.X(q[-1]),
        cirq.Y(q[1]),
        0.5 * cirq.Z(q[1]) * cirq.Z(q[2]) + 0.3 * cirq.X(q[0]) * cirq.Y(q[2]) - 0.2,
    ]


def _slotted(circuit: cirq.Circuit) -> tuple[cirq.Circuit, dict[sympy.Symbol, sympy.Expr]]:
    """``circuit`` with the exponent of each symbolic gate replaced by its own slot symbol.

    Returns the new circuit and ``{slot: original exponent}``. Every symbolic gate must be an
    EigenGate whose eigen-exponents differ by 0 or 1 (Rx/Ry/Rz, ZZPow, CZPow …): its
    expectation values are then ``a + b cos(pi e) + c sin(pi e)`` in the exponent ``e``, so
    ``d/de = pi/2 * (f(e + 1/2) - f(e - 1/2))`` exactly (the parameter-shift rule).
    """
    exponents: dict[sympy.Symbol, sympy.Expr] = {}

    def swap(op: cirq.Operation) -> cirq.Operation:
        if not cirq.is_parameterized(op):
            return op
        gate = op.gate
        assert isinstance(gate, cirq.EigenGate), op
        shifts = np.array(gate._eigen_shifts(), float)
        gaps = np.abs(shifts[:, None] - shifts[None, :])
        assert np.all(np.isclose(gaps, 0) | np.isclose(gaps, 1)), f"no two-term shift rule for {op}"
        slot = sympy.Symbol(f"slot{len(exponents)}")
        exponents[slot] = sympy.sympify(gate.exponent)
        return gate._with_exponent(slot).on(*op.qubits)

    return circuit.map_operations(swap), exponents


def _reference(
    circuit: cirq.Circuit,
    qubits: list[cirq.Qid],
    observables: list[cirq.PauliSum],
    symbols: list[sympy.Symbol],
    rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``(B, O)`` expectation values and ``(B, O, S)`` gradients w.r.t. ``symbols``.

    ``rows[b]`` holds the values of ``symbols`` for sample ``b``; the gradients are the
    chain rule over every gate of :func:`_slotted`: ``sum_g d<O>/de_g * de_g/ds``.
    """
    slotted, exponents = _slotted(circuit)
    slots = list(exponents)
    exponent_of = sympy.lambdify(symbols, list(exponents.values()), "numpy")
    jacobian_of = sympy.lambdify(symbols, [[sympy.diff(e, s) for s in symbols] for e in exponents.values()], "numpy")
    values, grads = [], []
    for row in rows:
        e0 = np.array(exponent_of(*row), float)
        de_ds = np.array(jacobian_of(*row), float).reshape(len(slots), len(symbols))
        points = [e0]
        for g in range(len(slots)):
            for shift in (0.5, -0.5):
                points.append(e0 + shift * np.eye(len(slots))[g])
        resolvers = [cirq.ParamResolver({s.name: float(v) for s, v in zip(slots, p)}) for p in points]
        f = np.array(
            SIMULATOR.simulate_expectation_values_sweep(slotted, observables, resolvers, qubit_order=qubits)
        )
        assert np.abs(f.imag).max() < 1e-12
        df_de = np.pi / 2 * (f.real[1::2] - f.real[2::2])  # (G, O)
        values.append(f.real[0])
        grads.append(df_de.T @ de_ds)  # (O, S)
    return np.array(values), np.array(grads).reshape(len(rows), len(observables), len(symbols))


def _kernel_with_gradients(compiled, weights: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, ...]:
    """Kernel values ``(B, O)`` and per-sample gradients ``(B, O, W)``, ``(B, O, D)`` (tf.GradientTape)."""
    w = tf.constant(weights, tf.float32)
    d = tf.constant(data, tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([w, d])
        out = compiled(w, data=d)
        entries = {(b, o): out[b, o] for b in range(out.shape[0]) for o in range(out.shape[1])}
    grad_w = np.zeros(out.shape + (len(weights),))
    grad_d = np.zeros(out.shape + (data.shape[1],))
    for (b, o), entry in entries.items():
        gw, gd = tape.gradient(entry, [w, d], unconnected_gradients=tf.UnconnectedGradients.ZERO)
        grad_w[b, o], grad_d[b, o] = gw.numpy(), gd.numpy()[b]
        assert np.all(np.delete(gd.numpy(), b, axis=0) == 0)  # samples are independent
    return out.numpy(), grad_w, grad_d


def _check_against_cirq(circuit, qubits, observables, data_symbols, weight_symbols, data, weights) -> None:
    compiled = compile_circuit(
        circuit, qubits=qubits, data_symbols=data_symbols, weight_symbols=weight_symbols, observables=observables
    )
    got, grad_w, grad_d = _kernel_with_gradients(compiled, weights, data)
    # The reference sees the float32 inputs the kernel sees.
    data64 = data.astype(np.float32).astype(np.float64)
    weights64 = np.broadcast_to(weights.astype(np.float32).astype(np.float64), (len(data), len(weights)))
    symbols = list(weight_symbols) + list(data_symbols)
    want, want_grad = _reference(circuit, qubits, observables, symbols, np.concatenate([weights64, data64], axis=1))
    np.testing.assert_allclose(got, want, atol=VALUE_ATOL, rtol=0)
    np.testing.assert_allclose(grad_w, want_grad[..., : len(weight_symbols)], atol=GRAD_ATOL, rtol=0)
    np.testing.assert_allclose(grad_d, want_grad[..., len(weight_symbols) :], atol=GRAD_ATOL, rtol=0)


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("n", [3, 4])
def test_hadamard_layer_matches_cirq(n: int, jit_compile: bool) -> None:
    """The reported repro: H on every qubit is one dense stage of fixed gates only."""
    q = cirq.LineQubit.range(n)
    observables = [cirq.Z(q[0]), cirq.Z(q[0]) * cirq.Z(q[1]), cirq.X(q[-1]), cirq.X(q[0]) * cirq.X(q[-1])]
    compiled = compile_circuit(cirq.Circuit(cirq.H.on_each(*q)), observables=observables, jit_compile=jit_compile)
    assert compiled.describe() == f"D[{n}]"  # one Kronecker block of fixed gates
    got = compiled(weights=[]).numpy()
    want = SIMULATOR.simulate_expectation_values(cirq.Circuit(cirq.H.on_each(*q)), observables, qubit_order=q)
    np.testing.assert_allclose(got, [np.real(want)], atol=VALUE_ATOL, rtol=0)
    np.testing.assert_allclose(got, [[0.0, 0.0, 1.0, 1.0]], atol=VALUE_ATOL, rtol=0)


def _fixed_dense_circuits(q: list[cirq.Qid]) -> dict[str, tuple[cirq.Circuit, str]]:
    """Circuits of one dense stage of fixed gates, and the stage each compiles to."""
    fsim = cirq.MatrixGate(cirq.unitary(cirq.FSimGate(0.3, 0.9)))
    return {
        "products on one qubit": (
            cirq.Circuit(cirq.H.on_each(*q), [cirq.rx(0.3 + 0.2 * i).on(x) for i, x in enumerate(q)]),
            "D[4]",
        ),
        "two-qubit products": (
            cirq.Circuit(cirq.FSimGate(0.4, 0.2).on(q[0], q[2]), cirq.FSimGate(-0.7, 1.1).on(q[2], q[0])),
            "D[m02]",
        ),
        "block beside a two-qubit gate": (
            cirq.Circuit(cirq.H.on_each(q[0], q[1]), cirq.ry(0.5).on(q[1]), fsim.on(q[2], q[3])),
            "D[2,m23]",
        ),
    }


@pytest.mark.parametrize("name", ["products on one qubit", "two-qubit products", "block beside a two-qubit gate"])
def test_other_fixed_dense_stages_match_cirq(name: str) -> None:
    """Products of fixed gates on the same qubits (``ExpSum.then``), not only Kronecker blocks."""
    q = cirq.LineQubit.range(4)
    circuit, stages = _fixed_dense_circuits(q)[name]
    observables = _observables(q)
    compiled = compile_circuit(circuit, qubits=q, observables=observables)
    assert compiled.describe() == stages
    want = SIMULATOR.simulate_expectation_values(circuit, observables, qubit_order=q)
    np.testing.assert_allclose(compiled(weights=[]).numpy(), [np.real(want)], atol=VALUE_ATOL, rtol=0)


def test_angle_z_encoder_then_hardware_efficient_ansatz_matches_cirq() -> None:
    """The built-in ``angle`` encoder with ``axis="z"`` (H first), compiled as the native backend does."""
    reg = get_registry()
    enc = reg.create("encoder", "angle", n_qubits=3, axis="z")
    ans = reg.create("ansatz", "hardware_efficient", n_qubits=3, depth=2)
    q = cirq.LineQubit.range(3)
    rng = np.random.default_rng(0)
    features = rng.uniform(0, np.pi, (3, enc.n_features)).astype(np.float32)
    data = enc.symbol_values(tf.constant(features)).numpy()
    weights = rng.uniform(-np.pi, np.pi, len(ans.symbols()))
    circuit = enc.circuit(q) + ans.circuit(q)
    _check_against_cirq(circuit, q, _observables(q), enc.symbols(), ans.symbols(), data, weights)


@pytest.mark.parametrize("n", [3, 4])
def test_zz_feature_map_matches_cirq(n: int) -> None:
    """An IQP-style feature map: 2 x (H layer, RZ(x_i), ZZ**(x_i x_{i+1} / pi)), then RY(theta_i)."""
    q = cirq.LineQubit.range(n)
    x = sympy.symbols(f"x0:{n}")
    theta = sympy.symbols(f"theta0:{n}")
    circuit = cirq.Circuit()
    for _ in range(2):
        circuit.append(cirq.H.on_each(*q))
        circuit.append(cirq.rz(x[i]).on(q[i]) for i in range(n))
        circuit.append(cirq.ZZ(q[i], q[i + 1]) ** (x[i] * x[i + 1] / sympy.pi) for i in range(n - 1))
    circuit.append(cirq.ry(theta[i]).on(q[i]) for i in range(n))
    rng = np.random.default_rng(n)
    data = rng.uniform(0, np.pi, (3, n))
    weights = rng.uniform(-np.pi, np.pi, n)
    _check_against_cirq(circuit, q, _observables(q), x, theta, data, weights)
