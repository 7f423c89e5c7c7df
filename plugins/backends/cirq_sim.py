"""The reference backend (``cirq.Simulator``, exact, complex128), and what sweep backends share.

:func:`build_program` is the one definition of the executed circuit —
``encoder.circuit(q) + ansatz.circuit(q)`` on ``q = cirq.LineQubit.range(n)`` — used by every
backend here. :class:`SweepBackend` turns a batch into one list of ``cirq.ParamResolver``
(one sweep per call, no per-sample jobs) and runs it in numpy; subclasses provide the
simulator call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import cirq
import numpy as np
import sympy
import tensorflow as tf

from qkernel.plugin.contracts import Ansatz, Encoder
from qkernel.errors import InputError, PluginError

__all__ = ["CirqBackend", "Program", "SweepBackend", "build_program", "check_weights"]


@dataclass(frozen=True)
class Program:
    """A composed circuit and how its symbols split into data and weights.

    Attributes:
        qubits: ``cirq.LineQubit.range(n_qubits)``.
        circuit: ``encoder.circuit(qubits) + ansatz.circuit(qubits)``.
        data_symbols: ``encoder.symbols()``.
        weight_symbols: ``ansatz.symbols()``.
        observables: The observables, as ``cirq.PauliSum``.
        label: ``"<encoder>+<ansatz>"`` for messages.
    """

    qubits: tuple[cirq.LineQubit, ...]
    circuit: cirq.Circuit
    data_symbols: tuple[sympy.Symbol, ...]
    weight_symbols: tuple[sympy.Symbol, ...]
    observables: tuple[cirq.PauliSum, ...]
    label: str

    @property
    def symbols(self) -> tuple[sympy.Symbol, ...]:
        """Data symbols then weight symbols: the column order of the symbol values."""
        return self.data_symbols + self.weight_symbols


def build_program(encoder: Encoder, ansatz: Ansatz, observables: Sequence[cirq.PauliSum]) -> Program:
    """Compose and check encoder, ansatz and observables.

    Raises:
        qkernel.errors.PluginError: qubit counts differ, symbols collide, or the circuit has
            symbols that neither plugin declares.
        qkernel.errors.InputError: no observables, or one acts outside the qubits.
    """
    label = f"{encoder.name}+{ansatz.name}"
    if encoder.n_qubits != ansatz.n_qubits:
        raise PluginError(
            f"encoder {encoder.name!r} has {encoder.n_qubits} qubits but ansatz {ansatz.name!r} has "
            f"{ansatz.n_qubits}; they must match"
        )
    qubits = tuple(cirq.LineQubit.range(encoder.n_qubits))
    circuit = encoder.circuit(qubits) + ansatz.circuit(qubits)
    data, weights = tuple(encoder.symbols()), tuple(ansatz.symbols())
    shared = set(data) & set(weights)
    if shared:
        raise PluginError(f"{label}: encoder and ansatz share symbols {sorted(map(str, shared))}")
    undeclared = cirq.parameter_symbols(circuit) - set(data) - set(weights)
    if undeclared:
        raise PluginError(f"{label}: circuit symbols {sorted(map(str, undeclared))} are declared by neither plugin")
    observables = tuple(cirq.PauliSum.wrap(o) for o in observables)
    if not observables:
        raise InputError(f"{label}: at least one observable is needed (e.g. qkernel.sim.observables.z_each)")
    for m, observable in enumerate(observables):
        outside = set(observable.qubits) - set(qubits)
        if outside:
            raise InputError(
                f"{label}: observable {m} ({observable}) acts on {sorted(outside)}, outside {len(qubits)} qubits"
            )
    return Program(qubits, circuit, data, weights, observables, label)


def check_weights(program: Program, weights: tf.Tensor) -> None:
    """Raise :class:`qkernel.errors.InputError` unless ``weights`` has shape ``(n_weights,)``."""
    shape = tuple(weights.shape)
    if weights.shape.rank is None:
        return
    if len(shape) != 1 or shape[0] not in (None, len(program.weight_symbols)):
        raise InputError(
            f"{program.label}: expected weights of shape ({len(program.weight_symbols)},), one per ansatz "
            f"symbol; received shape {shape}"
        )


class SweepBackend:
    """Base of the non-differentiable backends that evaluate a batch as one parameter sweep.

    ``fn(features, weights)`` accepts tf tensors or numpy arrays and returns a ``float32``
    tf.Tensor; inside ``tf.function`` the simulator runs in ``tf.numpy_function``. Symbol
    values are computed in float64 (features are cast up before the encoder sees them).
    """

    name: ClassVar[str]
    differentiable: ClassVar[bool] = False
    hardware: ClassVar[bool] = False

    def __init__(self) -> None:
        self._executions = 0
        self._shots = 0

    _simulator: Any  # a cirq.SimulatesExpectationValues, set by subclasses

    def _executor(self, program: Program) -> Callable[[list[cirq.ParamResolver]], np.ndarray]:
        """Return ``evaluate(resolvers) -> (len(resolvers), M)`` float64 for ``program``.

        Default: exact expectation values of the whole sweep from ``self._simulator``.
        """

        def exact(resolvers: list[cirq.ParamResolver]) -> np.ndarray:
            values = self._simulator.simulate_expectation_values_sweep(
                program.circuit, list(program.observables), resolvers, qubit_order=program.qubits
            )
            self._executions += len(resolvers)
            return np.real(np.asarray(values))

        return exact

    def compile(self, encoder: Encoder, ansatz: Ansatz, observables: Sequence[cirq.PauliSum]) -> Any:
        """Build ``fn(features, weights) -> (B, len(observables))`` float32 (see the Backend contract)."""
        program = build_program(encoder, ansatz, observables)
        evaluate = self._executor(program)
        n_out = len(program.observables)

        def run(data: np.ndarray, weights: np.ndarray) -> np.ndarray:
            data = np.asarray(data, dtype=np.float64)
            weights = np.asarray(weights, dtype=np.float64)
            if data.shape[0] == 0:
                return np.zeros((0, n_out))
            values = np.concatenate([data, np.broadcast_to(weights, (data.shape[0], weights.size))], axis=1)
            resolvers = [cirq.ParamResolver(dict(zip(program.symbols, row.tolist()))) for row in values]
            return np.asarray(evaluate(resolvers), dtype=np.float64)

        def fn(features: Any, weights: Any) -> tf.Tensor:
            x = tf.cast(tf.convert_to_tensor(features), tf.float64)
            w = tf.cast(tf.convert_to_tensor(weights), tf.float64)
            check_weights(program, w)
            data = encoder.symbol_values(x)
            if tf.executing_eagerly():
                return tf.constant(run(data.numpy(), w.numpy()), dtype=tf.float32)
            out = tf.numpy_function(run, [data, w], tf.float64, stateful=True, name=f"{self.name}_expectation")
            out.set_shape([data.shape[0], n_out])
            return tf.cast(out, tf.float32)

        return fn

    def stats(self) -> dict[str, int]:
        """``circuit_executions`` (one per sample and measurement setting) and ``shots``."""
        return {"circuit_executions": self._executions, "shots": self._shots}


class CirqBackend(SweepBackend):
    """Reference backend: exact expectations from ``cirq.Simulator`` in complex128.

    Slow but independent of qsim and TFQ; used to check the other backends.
    """

    name = "cirq"

    def __init__(self, seed: int | None = None) -> None:
        super().__init__()
        self._simulator = cirq.Simulator(dtype=np.complex128, seed=seed)
