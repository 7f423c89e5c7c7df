"""Built-in ansatzes: contract conformance (every registered ansatz) and exact structure."""

from __future__ import annotations

import qkernel  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

import cirq
import numpy as np
import pluggy
import pytest

import plugins.ansatzes
from plugins.ansatzes import HardwareEfficientAnsatz, RotationsAnsatz, StronglyEntanglingAnsatz
from qkernel.plugin import hookspecs
from qkernel.plugin.contracts import Ansatz
from qkernel.errors import ConfigError, InputError


def _registered() -> list[type]:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(plugins.ansatzes)
    return [factory for result in manager.hook.register_ansatzes() for factory in result]


ANSATZES = _registered()
PER_QUBIT_LAYER = {"rotations": 3, "hardware_efficient": 2, "strongly_entangling": 3}


def _two_qubit_pairs(circuit: cirq.Circuit) -> list[tuple[int, int]]:
    return [tuple(q.x for q in op.qubits) for op in circuit.all_operations() if len(op.qubits) == 2]


def _unitary(ansatz: object, weights: np.ndarray) -> np.ndarray:
    circuit = ansatz.circuit(cirq.LineQubit.range(ansatz.n_qubits))
    resolved = cirq.resolve_parameters(circuit, dict(zip(ansatz.symbols(), weights.tolist())))
    return cirq.unitary(resolved)


def _reference_unitary(ops: list[cirq.Operation], n: int) -> np.ndarray:
    """Unitary of ``ops`` applied in the listed order (independent of moment packing)."""
    return cirq.Circuit(ops, strategy=cirq.InsertStrategy.NEW).unitary(qubit_order=cirq.LineQubit.range(n))


def test_registered_names() -> None:
    assert [f.name for f in ANSATZES] == ["rotations", "hardware_efficient", "strongly_entangling"]


@pytest.mark.parametrize("factory", ANSATZES, ids=lambda f: f.name)
@pytest.mark.parametrize(("n_qubits", "depth"), [(2, 1), (4, 3), (6, 2)])
def test_conformance(factory: type, n_qubits: int, depth: int) -> None:
    ansatz = factory(n_qubits=n_qubits, depth=depth)
    assert isinstance(ansatz, Ansatz)
    assert (ansatz.n_qubits, ansatz.depth) == (n_qubits, depth)
    assert factory.__doc__ and factory.__doc__.strip().splitlines()[0].endswith(".")
    symbols = ansatz.symbols()
    assert len(symbols) == PER_QUBIT_LAYER[factory.name] * n_qubits * depth == ansatz.n_weights
    assert [str(s) for s in symbols] == sorted(str(s) for s in symbols)  # stable w_0000… order
    assert all(str(s).startswith("w_") for s in symbols)
    circuit = ansatz.circuit(cirq.LineQubit.range(n_qubits))
    assert cirq.parameter_symbols(circuit) == set(symbols)
    # Weight-vector order is layer-major: layers appear in the circuit in that order.
    per_layer = len(symbols) // depth
    layers = [symbols.index(s) // per_layer for op in circuit.all_operations() for s in cirq.parameter_symbols(op)]
    assert layers == sorted(layers)
    with pytest.raises(InputError, match=rf"{factory.name} ansatz: expected {n_qubits} qubits; received {n_qubits + 1}"):
        ansatz.circuit(cirq.LineQubit.range(n_qubits + 1))


@pytest.mark.parametrize("factory", ANSATZES, ids=lambda f: f.name)
def test_bad_arguments(factory: type) -> None:
    with pytest.raises(ConfigError, match=rf"{factory.name} ansatz: depth must be an integer >= 1; got 0"):
        factory(n_qubits=4, depth=0)
    with pytest.raises(ConfigError, match=rf"{factory.name} ansatz: n_qubits must be an integer >= 1; got 0"):
        factory(n_qubits=0, depth=1)
    with pytest.raises(ConfigError, match=r"unknown option\(s\) foo"):
        factory(n_qubits=2, depth=1, foo=1)
    with pytest.raises(ConfigError, match=r"entangler must be .*'cnot' or 'cz'; got 'swap'"):
        factory(n_qubits=3, depth=1, entangler="swap")


def test_strongly_entangling_matches_pennylane_definition() -> None:
    ansatz = StronglyEntanglingAnsatz(6, 3)
    assert len(ansatz.symbols()) == 54  # DD paper: 6 qubits, 3 layers, 54 angles
    assert ansatz.ranges() == [1, 2, 3]
    w = np.random.default_rng(0).uniform(0, 2 * np.pi, 54).reshape(3, 6, 3)
    q = cirq.LineQubit.range(6)
    ops = []
    for layer, r in enumerate((1, 2, 3)):
        for i in range(6):
            phi, theta, omega = w[layer, i]
            ops += [cirq.rz(phi)(q[i]), cirq.ry(theta)(q[i]), cirq.rz(omega)(q[i])]
        ops += [cirq.CNOT(q[i], q[(i + r) % 6]) for i in range(6)]
    np.testing.assert_allclose(_unitary(ansatz, w.ravel()), _reference_unitary(ops, 6), atol=1e-10)
    # Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ) on one qubit, weights in order φ, θ, ω.
    single = StronglyEntanglingAnsatz(1, 1)
    phi, theta, omega = 0.3, -1.1, 2.0
    resolver = dict(zip(single.symbols(), (phi, theta, omega)))
    unitary = cirq.unitary(cirq.resolve_parameters(single.circuit(cirq.LineQubit.range(1)), resolver))
    expected_u = cirq.unitary(cirq.rz(omega)) @ cirq.unitary(cirq.ry(theta)) @ cirq.unitary(cirq.rz(phi))
    np.testing.assert_allclose(unitary, expected_u, atol=1e-12)
    assert _two_qubit_pairs(single.circuit(cirq.LineQubit.range(1))) == []
    assert StronglyEntanglingAnsatz(2, 2).ranges() == [1, 1]


def test_rotations_layers_and_entangler_options() -> None:
    default = RotationsAnsatz(4)
    assert default.depth == 2
    w = np.random.default_rng(1).uniform(0, 2 * np.pi, 24).reshape(2, 4, 3)
    q = cirq.LineQubit.range(4)
    ops = []
    for layer in range(2):
        for g, gate in enumerate((cirq.rx, cirq.ry, cirq.rz)):
            ops += [gate(w[layer, i, g])(q[i]) for i in range(4)]
        ops += [cirq.CNOT(q[0], q[1]), cirq.CNOT(q[1], q[2]), cirq.CNOT(q[2], q[3]), cirq.CNOT(q[3], q[0])]
    np.testing.assert_allclose(_unitary(default, w.ravel()), _reference_unitary(ops, 4), atol=1e-10)
    product = RotationsAnsatz(1, depth=3, entangler=None).circuit(cirq.LineQubit.range(1))
    assert _two_qubit_pairs(product) == [] and len(list(product.all_operations())) == 9
    cz = RotationsAnsatz(3, depth=1, entangler="cz").circuit(cirq.LineQubit.range(3))
    assert {op.gate for op in cz.all_operations() if len(op.qubits) == 2} == {cirq.CZ}
    with pytest.raises(ConfigError, match=r"entangler 'cnot' needs n_qubits >= 2.*entangler=None"):
        RotationsAnsatz(1)


def test_hardware_efficient_layers() -> None:
    ansatz = HardwareEfficientAnsatz(3)
    assert ansatz.depth == 5 and len(ansatz.symbols()) == 30
    w = np.random.default_rng(2).uniform(0, 2 * np.pi, 30).reshape(5, 3, 2)
    q = cirq.LineQubit.range(3)
    ops = []
    for layer in range(5):
        ops += [cirq.ry(w[layer, i, 0])(q[i]) for i in range(3)] + [cirq.rz(w[layer, i, 1])(q[i]) for i in range(3)]
        ops += [cirq.CNOT(q[0], q[1]), cirq.CNOT(q[1], q[2]), cirq.CNOT(q[2], q[0])]
    np.testing.assert_allclose(_unitary(ansatz, w.ravel()), _reference_unitary(ops, 3), atol=1e-10)
    assert _two_qubit_pairs(HardwareEfficientAnsatz(2, 1).circuit(cirq.LineQubit.range(2))) == [(0, 1)]
    with pytest.raises(ConfigError, match="needs n_qubits >= 2"):
        HardwareEfficientAnsatz(1)
