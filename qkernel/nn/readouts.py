"""Readouts: which Pauli expectations a quantum layer measures, and the layer that combines them.

One registry, :data:`READOUTS`, names every readout a student or model may use; configuration
validation, the student, quantum LeNet and the hardware cost model all read it:

* ``z`` — ⟨Z_i⟩ on every qubit;
* ``xyz`` — ⟨X_i⟩, ⟨Y_i⟩, ⟨Z_i⟩ on every qubit;
* ``hermitian`` — ⟨H_i⟩ for a trainable per-qubit Hermitian ``H_i = (A_i + A_i†)/2``
  (the DD paper's readout, REFERENCE B), computed from ⟨X_i⟩, ⟨Y_i⟩, ⟨Z_i⟩;
* ``hermitian-fixed`` — the same with a fixed random ``H_i`` (the paper's "for stability" variant).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cirq
import numpy as np
import tensorflow as tf

from qkernel.errors import ConfigError, InputError
from qkernel.sim.observables import xyz_each, z_each

__all__ = [
    "READOUTS",
    "HermitianReadout",
    "Readout",
    "get_readout",
    "hermitian_coefficients",
    "readout_head",
    "readout_observables",
]


@dataclass(frozen=True)
class Readout:
    """One readout: the observables measured and the (optional) layer applied to them.

    Attributes:
        name: What users select (``student.readout``, quantum LeNet's ``readout`` option).
        description: One line for documentation and errors.
        observables: ``observables(qubits) -> list[cirq.PauliSum]``, one output column each.
        head: ``head(n_qubits, seed) -> layer | None`` applied to the measured expectations.
    """

    name: str
    description: str
    observables: Callable[[list[cirq.Qid]], list[cirq.PauliSum]]
    head: Callable[[int, int | None], tf.keras.layers.Layer | None] = lambda n, seed: None


def _hermitian(trainable: bool) -> Callable[[int, int | None], tf.keras.layers.Layer]:
    return lambda n, seed: HermitianReadout(n, trainable=trainable, init="random", seed=seed, name="hermitian")


#: Every readout, by name.
READOUTS: dict[str, Readout] = {
    r.name: r
    for r in (
        Readout("z", "Pauli-Z on each qubit", z_each),
        Readout("xyz", "Pauli X, Y and Z on each qubit", xyz_each),
        Readout("hermitian", "trainable H_i = (A_i + A_i†)/2 on each qubit", xyz_each, _hermitian(True)),
        Readout("hermitian-fixed", "fixed random H_i on each qubit (not trained)", xyz_each, _hermitian(False)),
    )
}


def get_readout(name: str) -> Readout:
    """The readout called ``name``.

    Raises:
        ConfigError: for an unknown name, listing the valid ones.
    """
    if name not in READOUTS:
        raise ConfigError(f"unknown readout {name!r}; expected one of {', '.join(READOUTS)}")
    return READOUTS[name]


def readout_observables(readout: str, n_qubits: int) -> list[cirq.PauliSum]:
    """The Pauli observables ``readout`` measures on ``cirq.LineQubit.range(n_qubits)``."""
    return get_readout(readout).observables(cirq.LineQubit.range(n_qubits))


def readout_head(readout: str, n_qubits: int, seed: int | None = None) -> tf.keras.layers.Layer | None:
    """The layer turning the measured expectations into the readout's features (``None`` for plain Paulis)."""
    return get_readout(readout).head(n_qubits, seed)



def hermitian_coefficients(a_real: tf.Tensor, a_imag: tf.Tensor) -> tuple[tf.Tensor, ...]:
    """Pauli coefficients ``(h0, hx, hy, hz)`` of ``H = (A + A†)/2`` for ``A = a_real + i·a_imag``.

    ``H = h0·I + hx·X + hy·Y + hz·Z`` with ``h0 = (H00 + H11)/2``, ``hz = (H00 − H11)/2``,
    ``hx = Re H01``, ``hy = −Im H01``; inputs ``(..., 2, 2)``, outputs ``(...)``.
    """
    h00, h11 = a_real[..., 0, 0], a_real[..., 1, 1]
    re_h01 = (a_real[..., 0, 1] + a_real[..., 1, 0]) / 2
    im_h01 = (a_imag[..., 0, 1] - a_imag[..., 1, 0]) / 2
    return (h00 + h11) / 2, re_h01, -im_h01, (h00 - h11) / 2


class HermitianReadout(tf.keras.layers.Layer):
    """Per-qubit Hermitian observables ``⟨H_i⟩`` from ``⟨X_i⟩, ⟨Y_i⟩, ⟨Z_i⟩`` (DD paper readout).

    Input ``(B, 3n)`` ordered as :func:`xyz_each`; output ``(B, n)`` with
    ``⟨H_i⟩ = h0 + hx⟨X_i⟩ + hy⟨Y_i⟩ + hz⟨Z_i⟩`` for ``H_i = (A_i + A_i†)/2`` and a free
    complex ``2×2`` ``A_i`` stored as two real weights ``a_real``, ``a_imag`` ``(n, 2, 2)``.

    Args:
        n_qubits: Number of qubits ``n``.
        trainable: Whether ``A`` is trained; ``False`` fixes ``H`` (the DD paper's
            "for stability" variant).
        init: ``"z"`` (``A_i = Z``, so the output starts as ``⟨Z_i⟩``), ``"random"``
            (standard normal real and imaginary parts), or a complex array ``(n, 2, 2)``/``(2, 2)``.
        seed: Seed of the ``"random"`` initialiser.
        **kwargs: Passed to :class:`tf.keras.layers.Layer` (``name``, ``dtype`` …).
    """

    def __init__(
        self,
        n_qubits: int,
        trainable: bool = True,
        init: str | np.ndarray = "z",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(trainable=trainable, **kwargs)
        if isinstance(n_qubits, bool) or not isinstance(n_qubits, (int, np.integer)) or n_qubits < 1:
            raise InputError(f"HermitianReadout: n_qubits must be an integer >= 1; got {n_qubits!r}")
        self.n_qubits = int(n_qubits)
        self.seed = seed
        if isinstance(init, str):
            if init not in ("z", "random"):
                raise InputError(f"HermitianReadout: init must be 'z', 'random' or a complex array; got {init!r}")
            self.init = init
            self._init_matrix = None
        else:
            matrix = np.broadcast_to(np.asarray(init, dtype=np.complex128), (self.n_qubits, 2, 2)).copy()
            self.init = "array"
            self._init_matrix = matrix

    def _initializers(self) -> tuple[Any, Any]:
        if self._init_matrix is not None:
            real, imag = self._init_matrix.real, self._init_matrix.imag
            return tf.keras.initializers.Constant(real), tf.keras.initializers.Constant(imag)
        if self.init == "z":
            z = np.tile(np.diag([1.0, -1.0]), (self.n_qubits, 1, 1))
            return tf.keras.initializers.Constant(z), tf.keras.initializers.Zeros()
        seed2 = None if self.seed is None else self.seed + 1
        return (
            tf.keras.initializers.RandomNormal(seed=self.seed),
            tf.keras.initializers.RandomNormal(seed=seed2),
        )

    def build(self, input_shape: Any) -> None:
        width = tf.TensorShape(input_shape)[-1]
        if width is not None and width != 3 * self.n_qubits:
            raise InputError(
                f"HermitianReadout({self.n_qubits} qubits) expects (batch, {3 * self.n_qubits}) inputs "
                f"⟨X_i⟩,⟨Y_i⟩,⟨Z_i⟩ (see xyz_each); received width {width}"
            )
        real_init, imag_init = self._initializers()
        self.a_real = self.add_weight(name="a_real", shape=(self.n_qubits, 2, 2), initializer=real_init)
        self.a_imag = self.add_weight(name="a_imag", shape=(self.n_qubits, 2, 2), initializer=imag_init)
        super().build(input_shape)

    def coefficients(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """``(h0, hx, hy, hz)``, each ``(n_qubits,)``."""
        return hermitian_coefficients(self.a_real, self.a_imag)

    def hermitians(self) -> np.ndarray:
        """The current ``H_i`` as a complex array ``(n_qubits, 2, 2)``."""
        a = np.asarray(self.a_real, dtype=np.float64) + 1j * np.asarray(self.a_imag, dtype=np.float64)
        return (a + np.conj(np.swapaxes(a, -1, -2))) / 2

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        xyz = tf.reshape(tf.cast(inputs, self.compute_dtype), [-1, self.n_qubits, 3])
        h0, hx, hy, hz = (tf.cast(c, self.compute_dtype) for c in self.coefficients())
        return h0 + hx * xyz[..., 0] + hy * xyz[..., 1] + hz * xyz[..., 2]

    def compute_output_shape(self, input_shape: Any) -> tf.TensorShape:
        return tf.TensorShape(input_shape)[:-1].concatenate([self.n_qubits])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        init: Any = self.init
        if self._init_matrix is not None:  # complex is not JSON: store [real, imag]
            init = [self._init_matrix.real.tolist(), self._init_matrix.imag.tolist()]
        config.update({"n_qubits": self.n_qubits, "init": init, "seed": self.seed})
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HermitianReadout:
        config = dict(config)
        init = config.get("init")
        if isinstance(init, list):
            config["init"] = np.asarray(init[0]) + 1j * np.asarray(init[1])
        return cls(**config)
