"""Built-in data encoders: amplitude, angle and qubit (dense angle) encoding.

Each class satisfies :class:`qkernel.plugin.contracts.Encoder` and is registered through the
same ``register_encoders`` hook a third-party plugin uses. Factories are called as
``Encoder(n_qubits=n, **options)``; unknown options raise :class:`qkernel.errors.ConfigError`.

Dtypes: ``float64`` features stay ``float64`` (reference checks); anything else is cast to
``float32``, the contract's feature dtype.

Validation: when the features are concrete (eager tensors, numpy arrays) bad rows raise
:class:`qkernel.errors.InputError` listing the rows. Inside ``tf.function`` the same checks
are graph assertions raising ``tf.errors.InvalidArgumentError`` at run time (set the option
``validate=False`` to drop them); XLA (``jit_compile=True``) ignores assertions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import cirq
import numpy as np
import sympy
import tensorflow as tf

from qkernel.sim import stateprep
from qkernel.errors import ConfigError, InputError
from qkernel.plugin.hookspecs import hookimpl

__all__ = ["AmplitudeEncoder", "AngleEncoder", "QubitEncoder", "register_encoders"]

_MAX_LISTED_ROWS = 10


def _rows(mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask)
    listed = ", ".join(str(r) for r in rows[:_MAX_LISTED_ROWS])
    more = f" and {rows.size - _MAX_LISTED_ROWS} more" if rows.size > _MAX_LISTED_ROWS else ""
    return f"{listed}{more}"


def _is_concrete(t: tf.Tensor) -> bool:
    """True for eager tensors, whose values can be checked now (not inside ``tf.function``)."""
    return tf.executing_eagerly() and hasattr(t, "numpy")


class _EncoderBase:
    """Shared option handling, feature checks and symbol naming."""

    name: ClassVar[str]
    #: Options the constructor accepts besides ``n_qubits``, with defaults.
    option_defaults: ClassVar[Mapping[str, Any]] = {"validate": True}
    #: Prefix of the data symbols (distinct from ansatz weight symbols ``w_…``).
    symbol_prefix: ClassVar[str] = "x"
    #: Whether :meth:`state` loads the features as the state (otherwise :meth:`circuit` prepares it).
    loads_state: ClassVar[bool] = False

    def __init__(self, n_qubits: int, **options: Any) -> None:
        if isinstance(n_qubits, bool) or not isinstance(n_qubits, (int, np.integer)) or n_qubits < 1:
            raise ConfigError(f"{self.name} encoder: n_qubits must be an integer >= 1; got {n_qubits!r}")
        unknown = sorted(set(options) - set(self.option_defaults))
        if unknown:
            raise ConfigError(
                f"{self.name} encoder: unknown option(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(sorted(self.option_defaults))}"
            )
        self.n_qubits = int(n_qubits)
        self.options = {**self.option_defaults, **options}
        self.validate = bool(self.options["validate"])

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}(n_qubits={self.n_qubits}, {opts})"

    def _n_symbols(self) -> int:
        return self.n_features

    def symbols(self) -> tuple[sympy.Symbol, ...]:
        """Data symbols ``x_0000 …`` in the column order of :meth:`symbol_values`."""
        count = self._n_symbols()
        width = max(4, len(str(count - 1)))
        return tuple(sympy.Symbol(f"{self.symbol_prefix}_{i:0{width}d}") for i in range(count))

    def _check_qubits(self, qubits: Sequence[cirq.Qid]) -> list[cirq.Qid]:
        qubits = list(qubits)
        if len(qubits) != self.n_qubits:
            raise InputError(f"{self.name} encoder: expected {self.n_qubits} qubits; received {len(qubits)}")
        return qubits

    def _features(self, features: Any) -> tf.Tensor:
        """Convert, check shape and (when concrete) finiteness; returns float32/float64."""
        x = tf.convert_to_tensor(features)
        if x.dtype != tf.float64:
            x = tf.cast(x, tf.float32)
        width = x.shape[-1] if x.shape.rank else None
        if x.shape.rank is None or (x.shape.rank == 2 and width is None):
            # Shape unknown while tracing: check when the graph runs.
            x = tf.ensure_shape(x, [None, self.n_features])
        elif x.shape.rank != 2 or width != self.n_features:
            raise InputError(
                f"{self.name} encoder on {self.n_qubits} qubits expects features of shape "
                f"(batch, {self.n_features}); received shape {tuple(x.shape)}"
                + (f" (width {width})" if x.shape.rank == 2 else "")
            )
        if not self.validate:
            return x
        if _is_concrete(x):
            bad = ~np.all(np.isfinite(x.numpy()), axis=1)
            if bad.any():
                raise InputError(
                    f"{self.name} encoder: features must be finite; rows {_rows(bad)} contain NaN or inf"
                )
        else:
            x = tf.debugging.assert_all_finite(x, f"{self.name} encoder: features must be finite (no NaN/inf)")
        return x


class AmplitudeEncoder(_EncoderBase):
    """Amplitude encoding: the L2-normalised 2**n real features are the state's amplitudes.

    ``n_features = 2**n_qubits``. :meth:`state` writes the normalised vector directly (the
    native kernel uses it); :meth:`circuit` is the Möttönen template of
    :mod:`qkernel.sim.stateprep` (``2**n − 1`` RY and ``2**n − 2`` CNOT gates), whose angles
    :meth:`symbol_values` computes differentiably. Amplitudes are real, as the features are.

    An all-zero row has no direction to normalise. Policy (option ``zero_rows``): ``uniform``
    (default) encodes it as the uniform superposition ``|+…+⟩`` — a fixed reducer such as a
    4×4 centre crop or 4×4 average pooling gives all-zero features for some blank-centred
    digits, and those images still train and are still scored; ``error`` raises
    :class:`qkernel.errors.InputError` naming the rows. The normalisation adds no epsilon;
    gradients of nonzero rows are finite (an all-zero row's are zero).

    Options:
        validate: Check for non-finite values (and, with ``zero_rows: error``, all-zero rows).
        zero_rows: ``uniform`` or ``error`` (see above).
    """

    name = "amplitude"
    symbol_prefix = "amp"
    loads_state = True
    option_defaults: ClassVar[Mapping[str, Any]] = {"validate": True, "zero_rows": "uniform"}

    def __init__(self, n_qubits: int, **options: Any) -> None:
        super().__init__(n_qubits, **options)
        self.n_features = 2**self.n_qubits
        self.zero_rows = self.options["zero_rows"]
        if self.zero_rows not in ("uniform", "error"):
            raise ConfigError(f"{self.name} encoder: option zero_rows must be 'uniform' or 'error'; got {self.zero_rows!r}")

    def _n_symbols(self) -> int:
        return stateprep.n_angles(self.n_qubits)

    def resources(self) -> stateprep.TemplateResources:
        """Rotation count, two-qubit-gate count and depth of the preparation circuit."""
        return stateprep.template_resources(self.n_qubits)

    def circuit(self, qubits: Sequence[cirq.Qid]) -> cirq.Circuit:
        """The state-preparation template over :meth:`symbols`."""
        return stateprep.template_circuit(self._check_qubits(qubits), self.symbols())

    def _nonzero_features(self, features: Any) -> tf.Tensor:
        x = self._features(features)
        if self.zero_rows == "uniform":  # the stated policy: an all-zero row becomes |+…+⟩
            zero = tf.reduce_max(tf.abs(x), axis=1, keepdims=True) == 0
            return tf.where(zero, tf.ones_like(x), x)
        if not self.validate:
            return x
        peak = tf.reduce_max(tf.abs(x), axis=1)
        message = (
            f"{self.name} encoder: every feature row needs a nonzero L2 norm to be a quantum "
            "state; found an all-zero row"
        )
        if _is_concrete(peak):
            zero = peak.numpy() == 0
            if zero.any():
                raise InputError(
                    f"{self.name} encoder: rows {_rows(zero)} are all zero; every row needs a "
                    "nonzero L2 norm to be normalised into a quantum state"
                )
            return x
        with tf.control_dependencies([tf.debugging.assert_positive(peak, message=message)]):
            return tf.identity(x)

    def symbol_values(self, features: tf.Tensor) -> tf.Tensor:
        """Template angles ``(B, 2**n − 1)`` (see :func:`qkernel.sim.stateprep.template_angles`).

        Raises:
            qkernel.errors.InputError: wrong width, non-finite values or all-zero rows.
        """
        return stateprep.template_angles(self._nonzero_features(features))

    def state(self, features: tf.Tensor) -> tf.Tensor:
        """L2-normalised features ``(B, 2**n)``: the real amplitudes of the encoded state.

        Raises:
            qkernel.errors.InputError: wrong width, non-finite values or all-zero rows.
        """
        return stateprep.l2_normalize(self._nonzero_features(features))


class _ScaledAngles(_EncoderBase):
    """Encoders whose symbol values are the features times the option ``scale``."""

    def __init__(self, n_qubits: int, **options: Any) -> None:
        super().__init__(n_qubits, **options)
        self.scale = float(self.options["scale"])
        if not np.isfinite(self.scale) or self.scale == 0:
            raise ConfigError(f"{self.name} encoder: option scale must be finite and nonzero; got {self.scale!r}")

    def symbol_values(self, features: tf.Tensor) -> tf.Tensor:
        """``scale · features``, columns in feature order.

        Raises:
            qkernel.errors.InputError: wrong width or non-finite values.
        """
        x = self._features(features)
        return x * tf.constant(self.scale, dtype=x.dtype)

    def state(self, features: tf.Tensor) -> None:
        """``None``: the state is prepared by :meth:`circuit`."""
        return None


class AngleEncoder(_ScaledAngles):
    """Angle encoding: one feature per qubit, used as a single-qubit rotation angle.

    ``n_features = n_qubits``; qubit ``i`` gets ``R_axis(scale · x_i)|0⟩`` with
    ``R_a(θ) = exp(−iθσ_a/2)``. Because ``RZ`` leaves ``|0⟩`` unchanged up to a phase,
    ``axis="z"`` first applies a Hadamard to every qubit (``RZ(θ)H|0⟩``), so the feature
    sets the phase of ``|+⟩`` instead of being lost.

    Rotations are 2π-periodic (4π up to sign), so features are expected to lie in about
    ``[0, π]`` after scaling — distinct values then give distinct ``⟨Z⟩`` (axis x/y).
    Standardised or min-max scaled features with ``scale=π`` fit this.

    Options:
        axis: ``"x"``, ``"y"`` (default) or ``"z"``.
        scale: Angle per unit feature (default ``1.0``).
        validate: Reject non-finite features (default ``True``).
    """

    name = "angle"
    option_defaults = {"axis": "y", "scale": 1.0, "validate": True}

    _GATES = {"x": cirq.rx, "y": cirq.ry, "z": cirq.rz}

    def __init__(self, n_qubits: int, **options: Any) -> None:
        super().__init__(n_qubits, **options)
        self.axis = str(self.options["axis"]).lower()
        if self.axis not in self._GATES:
            raise ConfigError(f"{self.name} encoder: option axis must be 'x', 'y' or 'z'; got {self.options['axis']!r}")
        self.n_features = self.n_qubits

    def circuit(self, qubits: Sequence[cirq.Qid]) -> cirq.Circuit:
        """``H`` (axis z only) then ``R_axis(x_i)`` on each qubit."""
        qubits = self._check_qubits(qubits)
        gate = self._GATES[self.axis]
        circuit = cirq.Circuit()
        if self.axis == "z":
            circuit.append(cirq.H.on_each(*qubits))
        circuit.append(gate(s).on(q) for q, s in zip(qubits, self.symbols()))
        return circuit

class QubitEncoder(_ScaledAngles):
    """Qubit (dense angle) encoding: two features per qubit set its Bloch-sphere angles.

    ``n_features = 2 · n_qubits`` and qubit ``i`` is prepared as
    ``|ψ_i⟩ = RZ(s·x_{2i+1}) RY(s·x_{2i}) |0⟩``
    ``= e^{−i s x_{2i+1}/2} cos(s x_{2i}/2)|0⟩ + e^{+i s x_{2i+1}/2} sin(s x_{2i}/2)|1⟩``,
    i.e. polar angle ``s·x_{2i}`` and azimuth ``s·x_{2i+1}`` (``s`` is the option ``scale``).
    The KD paper (REFERENCE part A) does not publish its exact form; this is qdistill's.
    As for angle encoding, features are expected in about ``[0, π]`` after scaling.

    Options:
        scale: Angle per unit feature (default ``1.0``).
        validate: Reject non-finite features (default ``True``).
    """

    name = "qubit"
    option_defaults = {"scale": 1.0, "validate": True}

    def __init__(self, n_qubits: int, **options: Any) -> None:
        super().__init__(n_qubits, **options)
        self.n_features = 2 * self.n_qubits

    def circuit(self, qubits: Sequence[cirq.Qid]) -> cirq.Circuit:
        """``RY(x_{2i})`` then ``RZ(x_{2i+1})`` on qubit ``i``."""
        qubits = self._check_qubits(qubits)
        s = self.symbols()
        return cirq.Circuit(
            [cirq.ry(s[2 * i]).on(q) for i, q in enumerate(qubits)]
            + [cirq.rz(s[2 * i + 1]).on(q) for i, q in enumerate(qubits)]
        )

@hookimpl
def register_encoders() -> list[type]:
    """The built-in encoders."""
    return [AmplitudeEncoder, AngleEncoder, QubitEncoder]
