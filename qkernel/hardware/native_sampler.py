"""A ``cirq.Sampler`` on the native kernel's noisy mode: the Quantum Virtual Machine at kernel speed.

:class:`NativeSampler` receives programs whose noise channels are already inserted (by
:class:`qkernel.hardware.engine.PrenoisedSimulator`, with the QVM's own noise model),
compiles each program **once** into a batched TensorFlow density-matrix program
(:func:`qkernel.sim.noisy.compile_noisy_circuit`, every symbol a per-sample input), and
runs a sweep in chunks of samples: one exact outcome distribution per parameter set, all
of its shots drawn from it — the same distribution as ``cirq.DensityMatrixSimulator`` and
qsim's trajectories sample, tested to agree. ``method="trajectories"`` runs one state-vector
trajectory per shot instead (for qubit counts where density matrices are too large);
``"auto"`` picks trajectories above :data:`MAX_DENSITY_QUBITS` qubits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cirq
import numpy as np
import sympy

from qkernel.errors import HardwareError
from qkernel.sim.noisy import NoisyCircuit, compile_noisy_circuit

__all__ = ["MAX_DENSITY_QUBITS", "NativeSampler"]

#: Above this many qubits, ``method="auto"`` samples trajectories (a density matrix has ``4**n`` entries).
MAX_DENSITY_QUBITS = 10
#: Entries of the batched state per chunk (``chunk × 4**n``): large enough to keep the cores
#: busy, small enough to stay in cache-friendly sizes (8 qubits: 16 samples per chunk).
_CHUNK_ENTRIES = 2**20


class NativeSampler(cirq.Sampler):
    """Samples noisy programs with the native kernel (see the module docstring).

    Args:
        seed: Seed of the shots (and trajectories).
        method: ``"density_matrix"``, ``"trajectories"`` or ``"auto"``.
        chunk: Samples simulated together (default: by qubit count).

    Attributes:
        progress: Optional ``progress(done, total)`` called after every chunk of a sweep.
        compiled_programs: How many programs were compiled (a cache miss each).
    """

    def __init__(self, seed: int | None = None, method: str = "auto", chunk: int | None = None) -> None:
        if method not in ("auto", "density_matrix", "trajectories"):
            raise HardwareError(f"unknown native QVM method {method!r}; expected auto, density_matrix or trajectories")
        self.method = method
        self.chunk = chunk
        self.progress: Callable[[int, int], None] | None = None
        self.compiled_programs = 0
        self._rng = np.random.default_rng(seed)
        self._cache: list[tuple[cirq.AbstractCircuit, NoisyCircuit, tuple[sympy.Symbol, ...]]] = []

    def compiled(self, program: cirq.AbstractCircuit) -> tuple[NoisyCircuit, tuple[sympy.Symbol, ...]]:
        """The program's compiled form and its symbols (the columns of its data), cached."""
        for original, noisy, symbols in self._cache:
            if original is program or original == program:
                return noisy, symbols
        symbols = tuple(sorted(cirq.parameter_symbols(program), key=lambda s: s.name))
        n = len(program.all_qubits())
        method = self.method
        if method == "auto":
            method = "density_matrix" if n <= MAX_DENSITY_QUBITS else "trajectories"
        noisy = compile_noisy_circuit(program, data_symbols=symbols, method=method)
        self.compiled_programs += 1
        self._cache = [(program, noisy, symbols), *self._cache[:3]]
        return noisy, symbols

    def run_sweep(
        self, program: cirq.AbstractCircuit, params: cirq.Sweepable, repetitions: int = 1
    ) -> Sequence[cirq.Result]:
        """Sample ``repetitions`` shots of ``program`` for every parameter set of ``params``."""
        noisy, symbols = self.compiled(program)
        resolvers = list(cirq.to_resolvers(params))
        values = np.array([[_value(r, s) for s in symbols] for r in resolvers], dtype=np.float32)
        values = values.reshape(len(resolvers), len(symbols))
        n = len(noisy.qubits)
        per_sample = 4**n if noisy.method == "density_matrix" else repetitions * 2**n
        chunk = self.chunk or max(1, min(256, _CHUNK_ENTRIES // per_sample))
        results: list[cirq.Result] = []
        for start in range(0, len(resolvers), chunk):
            part = values[start:start + chunk]
            samples = noisy.sample(data=part, repetitions=repetitions, rng=self._rng)
            for j in range(len(part)):
                results.append(cirq.ResultDict(params=resolvers[start + j],
                                               measurements={k: v[j] for k, v in samples.items()}))
            if self.progress is not None:
                self.progress(len(results), len(resolvers))
        return results


def _value(resolver: cirq.ParamResolver, symbol: sympy.Symbol) -> float:
    params = resolver.param_dict
    value = params.get(symbol, params.get(symbol.name))
    if value is None or isinstance(value, sympy.Basic):
        value = resolver.value_of(symbol)
    if isinstance(value, sympy.Basic) and value.free_symbols:
        raise HardwareError(f"parameter {symbol} has no value in the sweep")
    return float(value)
