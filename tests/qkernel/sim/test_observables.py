"""Observable builders, Pauli-spec parsing and sampled estimation."""

from __future__ import annotations

import qkernel  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

import cirq
import numpy as np
import pytest

from qkernel.errors import InputError
from qkernel.sim.observables import (
    measurement_plan,
    pauli_strings,
    xyz_each,
    z_each,
)

Q = cirq.LineQubit.range(4)


def test_z_and_xyz_each_order() -> None:
    assert z_each(Q) == [cirq.PauliSum.from_pauli_strings(cirq.Z(q)) for q in Q]
    xyz = xyz_each(Q[:2])
    expected = [cirq.X(Q[0]), cirq.Y(Q[0]), cirq.Z(Q[0]), cirq.X(Q[1]), cirq.Y(Q[1]), cirq.Z(Q[1])]
    assert xyz == [cirq.PauliSum.from_pauli_strings(p) for p in expected]


def test_pauli_strings_parse() -> None:
    parsed = pauli_strings(["Z0", "X0 Y3", "Z0*Z1", "0.5*z2 * x1", "I1"], Q)
    expected = [
        cirq.Z(Q[0]),
        cirq.X(Q[0]) * cirq.Y(Q[3]),
        cirq.Z(Q[0]) * cirq.Z(Q[1]),
        0.5 * cirq.Z(Q[2]) * cirq.X(Q[1]),
        cirq.PauliString(),
    ]
    assert parsed == [cirq.PauliSum.from_pauli_strings(e) for e in expected]
    assert pauli_strings("Z3", Q) == z_each(Q[3:])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Q0", r"'Q0'.*token 'Q0' is not a factor"),
        ("Z0 W1", r"token 'W1'"),
        ("Z7", r"index 7 out of range for 4 qubits"),
        ("Z0*X0", r"qubit 0 appears more than once"),
        ("", r"empty Pauli spec"),
        ("0.5", r"no Pauli factor"),
    ],
)
def test_pauli_strings_bad_spec(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        pauli_strings([spec], Q)


def test_measurement_plan_groups_and_estimates() -> None:
    assert len(measurement_plan(z_each(Q), Q).settings) == 1
    assert len(measurement_plan(xyz_each(Q), Q).settings) == 3
    observable = 0.5 * cirq.X(Q[0]) * cirq.Z(Q[1]) - 2.0 * cirq.Z(Q[2]) + 0.25
    plan = measurement_plan([observable, cirq.PauliSum.from_pauli_strings(cirq.Z(Q[1]))], Q)
    assert plan.settings == (("X", "Z", "Z", "Z"),) and plan.constants == (0.25, 0.0)
    # Two shots: bits (q0,q1,q2,q3) = 1000 and 0110.
    bits = [np.array([[[1, 0, 0, 0], [0, 1, 1, 0]]])]
    values, errors = plan.estimate(bits)
    # shot 1: 0.5*(-1)(+1) - 2(+1) = -2.5; shot 2: 0.5*(+1)(-1) - 2(-1) = 1.5
    np.testing.assert_allclose(values, [[0.25 + (-2.5 + 1.5) / 2, 0.0]])
    np.testing.assert_allclose(errors, [[np.std([-2.5, 1.5], ddof=1) / np.sqrt(2), np.sqrt(2 / 2)]])
    with pytest.raises(InputError, match="non-real coefficient"):
        measurement_plan([1j * cirq.Z(Q[0])], Q)
    with pytest.raises(InputError, match="not among the 4 qubits"):
        measurement_plan([cirq.PauliSum.from_pauli_strings(cirq.Z(cirq.LineQubit(9)))], Q)
