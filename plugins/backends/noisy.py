"""The ``noisy`` backend: the native kernel under a Google processor's calibration noise, differentiable.

For **noise-aware training**: the student's circuit is compiled for the processor's device
(placed, routed, converted to √iSWAP or CZ) and simulated with the Quantum Virtual
Machine's own noise model — thermal relaxation, depolarising and coherent gate errors,
readout error — as exact batched density matrices on the native kernel
(:class:`qkernel.hardware.ProcessorEmulator`). The expectations are what the QVM's shot
estimates average to, and gradients flow to the circuit weights and the features, so a
student trained with ``-S student.backend=noisy`` learns the processor it will run on.
Any model plugin that takes ``backend``/``backend_options`` (the KD student, quantum LeNet)
can use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import cirq
import tensorflow as tf

from .cirq_sim import build_program, check_weights
from qkernel.errors import ConfigError
from qkernel.plugin.contracts import Ansatz, Encoder

__all__ = ["NoisyBackend"]

#: Two-qubit gate families (``qkernel.hardware.GATESETS``; repeated so listing plugins stays light).
GATESETS = ("sqrt_iswap", "cz")


class NoisyBackend:
    """Exact noisy expectations of a processor's Quantum Virtual Machine, differentiable (native kernel).

    Args:
        processor: ``"weber"`` or ``"rainbow"`` (device and median calibration shipped with cirq-google).
        gateset: ``"sqrt_iswap"`` (default) or ``"cz"``.
        noise: ``False``: the same compiled circuits without noise (isolates the compilation).
        jit_compile: Compile the density-matrix program with XLA.

    Attributes:
        emulator: The :class:`qkernel.hardware.ProcessorEmulator` of the latest ``compile``.
    """

    name = "noisy"
    differentiable = True
    hardware = False
    #: What :func:`qkernel.plugin.testing.check_backend` builds: the same compiled circuits without
    #: noise, so the device compilation and the density-matrix kernel are compared with Cirq's reference.
    conformance_options: ClassVar[dict[str, Any]] = {"noise": False}

    def __init__(self, processor: str = "weber", gateset: str = "sqrt_iswap", noise: bool = True,
                 jit_compile: bool = False) -> None:
        if gateset not in GATESETS:
            raise ConfigError(f"noisy backend: gateset must be one of {', '.join(GATESETS)}; got {gateset!r}")
        if not isinstance(processor, str) or not processor:
            raise ConfigError(f"noisy backend: processor must be a processor id such as 'weber'; got {processor!r}")
        from qkernel import hardware

        hardware.load_device(processor)  # unknown processors fail here, naming the known ones
        self._hardware = hardware
        self.processor, self.gateset = processor, gateset
        self.noise, self.jit_compile = bool(noise), bool(jit_compile)
        self.emulator: Any = None
        self._executions = tf.Variable(0, dtype=tf.int64, trainable=False, name="noisy_circuit_executions")

    def compile(self, encoder: Encoder, ansatz: Ansatz, observables: Sequence[cirq.PauliSum]) -> Any:
        """Build ``fn(features, weights) -> (B, len(observables))`` float32 (noisy, differentiable)."""
        program = build_program(encoder, ansatz, observables)
        emulator = self._hardware.ProcessorEmulator(
            program.circuit, program.qubits, program.observables, data_symbols=program.data_symbols,
            weight_symbols=program.weight_symbols, processor=self.processor, gateset=self.gateset,
            noise=self.noise, jit_compile=self.jit_compile)
        self.emulator = emulator
        executions = self._executions

        def fn(features: Any, weights: Any) -> tf.Tensor:
            w = tf.cast(tf.convert_to_tensor(weights), tf.float32)
            check_weights(program, w)
            data = tf.cast(encoder.symbol_values(tf.convert_to_tensor(features, tf.float32)), tf.float32)
            executions.assign_add(tf.cast(tf.shape(data)[0], tf.int64) * emulator.settings)
            return tf.cast(emulator.expectations(w, data), tf.float32)

        return fn

    def stats(self) -> dict[str, int]:
        """``circuit_executions``: density-matrix simulations (one per sample and measurement setting)."""
        return {"circuit_executions": int(self._executions.numpy()), "shots": 0}

    def describe(self) -> dict[str, Any]:
        """Processor, gateset, compiled-circuit size and fidelity estimate of the latest ``compile``."""
        return {} if self.emulator is None else self.emulator.describe()
