"""A circuit as it would run on a Google processor, as a differentiable TensorFlow function.

:class:`ProcessorEmulator` takes a logical circuit (qkernel's ``LineQubit`` convention), its
data and weight symbols and the observables, and builds what the Quantum Virtual Machine
would execute:

1. the circuit compiled for the device — placed, routed, converted to √iSWAP or CZ
   (:func:`qkernel.hardware.compile_circuit`), symbols intact;
2. one measured circuit per measurement setting of the observables
   (:func:`qkernel.sim.observables.measurement_plan`: ``z`` readouts need one, ``xyz`` or
   Hermitian readouts three), with the basis change compiled like the rest;
3. the QVM's calibration noise inserted (:mod:`qkernel.hardware.noise`) — thermal
   relaxation, depolarising and coherent gate errors, and readout error (the noise model
   acts moment by moment, so the shared circuit and each setting's tail get it separately);
4. compiled into the native kernel's density-matrix mode
   (:func:`qkernel.sim.noisy.compile_noisy_circuit`): the shared circuit once, each
   setting's basis change and measurement as a branch of its final state.

:meth:`ProcessorEmulator.expectations` returns what the QVM's shot estimates average to —
``Σ_x p(x) · parity`` over the exact noisy outcome distribution, readout error included —
and is differentiable with respect to the weights and the data (so students can be
trained *through* the processor's noise: noise-aware training). Shots are not simulated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cirq
import numpy as np
import sympy
import tensorflow as tf

from qkernel.hardware.device import compile_circuit, load_device
from qkernel.hardware.noise import FidelityEstimate, add_noise, estimate_fidelity, noise_model, noise_properties
from qkernel.sim.noisy import NoisyCircuit, compile_noisy_circuit
from qkernel.sim.observables import MeasurementPlan, measurement_plan

__all__ = ["ProcessorEmulator", "parity_weights"]


def parity_weights(plan: MeasurementPlan) -> list[np.ndarray]:
    """Per measurement setting, ``(2**n, n_observables)`` weights: ``coefficient · Π (−1)^bit`` of each term.

    ``expectations = constants + Σ_s p_s @ W_s`` for outcome distributions ``p_s`` whose bit
    ``k`` (most significant first) is qubit ``k`` of the plan.
    """
    n = len(plan.qubits)
    signs = 1.0 - 2.0 * ((np.arange(2**n)[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1)
    weights = [np.zeros((2**n, plan.n_observables)) for _ in plan.settings]
    for observable, setting, coefficient, indices in plan.terms:
        weights[setting][:, observable] += coefficient * np.prod(signs[:, list(indices)], axis=1)
    return weights


class ProcessorEmulator:
    """A logical circuit compiled for a processor and simulated under its calibration noise (see the module docstring).

    Args:
        circuit: The logical circuit on ``qubits`` (no measurements).
        qubits: Its logical qubits, in observable order.
        observables: Pauli sums, one output each.
        data_symbols: Per-sample symbols (the encoder's).
        weight_symbols: Shared symbols (the ansatz's).
        processor: ``"weber"`` or ``"rainbow"``: device and median calibration shipped with cirq-google.
        gateset: ``"sqrt_iswap"`` or ``"cz"``.
        noise: ``False`` simulates the same compiled circuits without noise (for checks).
        calibration: Another ``cirq_google.Calibration`` (e.g. an Engine processor's) instead of the median one.
        dtype: ``tf.complex64`` (default) or ``tf.complex128``.
        jit_compile: Compile the TensorFlow programs with XLA.

    Attributes:
        compiled: The :class:`qkernel.hardware.CompiledCircuit` (statistics, placement).
        program: The :class:`~qkernel.sim.noisy.NoisyCircuit` (one branch per measurement setting).
        settings: Number of measurement settings.
        fidelity: The calibration's fidelity estimate of the first setting's circuit.
    """

    def __init__(
        self,
        circuit: cirq.AbstractCircuit,
        qubits: Sequence[cirq.Qid],
        observables: Sequence[cirq.PauliSum],
        *,
        data_symbols: Sequence[sympy.Symbol] = (),
        weight_symbols: Sequence[sympy.Symbol] = (),
        processor: str = "weber",
        gateset: str = "sqrt_iswap",
        noise: bool = True,
        calibration: Any = None,
        dtype: tf.DType = tf.complex64,
        jit_compile: bool = False,
    ) -> None:
        from cirq_google.engine.virtual_engine_factory import load_median_device_calibration

        device = load_device(processor)  # raises HardwareError for unknown processors
        calibration = calibration if calibration is not None else load_median_device_calibration(processor)
        self.processor, self.gateset = processor, gateset
        self.compiled = compile_circuit(circuit, qubits, device, gateset=gateset, calibration=calibration)
        properties = noise_properties(calibration)
        model = noise_model(properties) if noise else None
        self.plan = measurement_plan(observables, qubits)
        self.settings = len(self.plan.settings)
        shared = len(self.compiled.circuit)
        tails = []
        for s in range(self.settings):
            measured = self.compiled.measured(self.plan.measurement_circuit(s))
            if s == 0:
                self.fidelity: FidelityEstimate = estimate_fidelity(measured, properties)
            tails.append(add_noise(measured[shared:], model))
        self.program: NoisyCircuit = compile_noisy_circuit(
            add_noise(self.compiled.circuit, model), qubits=self.compiled.region, data_symbols=data_symbols,
            weight_symbols=weight_symbols, dtype=dtype, jit_compile=jit_compile, branches=tails)
        real = tf.float64 if dtype == tf.complex128 else tf.float32
        self._weights = [tf.constant(w, real) for w in parity_weights(self.plan)]
        self._constants = tf.constant(self.plan.constants, real)

    def expectations(self, weights: Any, data: Any = None) -> tf.Tensor:
        """Noisy expectation values ``(B, n_observables)`` (what the QVM's shot estimates average to).

        Args:
            weights: ``(W,)`` weight-symbol values.
            data: ``(B, D)`` data-symbol values (``None`` if there are none: ``B = 1``).
        """
        out = self._constants
        for p, w in zip(self.program.branch_probabilities(weights, data=data), self._weights):
            out = out + tf.matmul(tf.cast(p, w.dtype), w)
        return out

    def describe(self) -> dict[str, Any]:
        """Processor, gateset, compiled-circuit size and fidelity estimate."""
        return {"processor": self.processor, "gateset": self.gateset, "settings": self.settings,
                "compiled": self.compiled.stats.as_dict(), "fidelity": self.fidelity.fidelity,
                "qubits": [str(q) for q in self.compiled.region]}
