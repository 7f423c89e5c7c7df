"""Möttönen amplitude state preparation for real amplitude vectors.

A real vector ``a`` of length ``2**n`` is prepared from ``|0…0⟩`` by a fixed circuit
template whose ``2**n − 1`` RY angles are functions of the data; the structure never
changes, so TensorFlow Quantum can serialize it once and receive the angles as symbol
values (``cirq.MatrixGate`` and ``cirq.StatePreparationChannel`` cannot be serialized).

Construction (Möttönen et al., *Quantum Inf. Comput.* 5, 467 (2005), real case):

* **Binary tree.** Level ``l`` (target qubit ``l``, controls ``0…l−1``; qubit 0 is the
  most significant bit, as everywhere in qkernel) has one angle per control pattern ``j``:
  ``θ_{l,j} = 2·atan2(‖right half‖, ‖left half‖)`` of the block of amplitudes whose
  leading bits are ``j``. On the last level the halves are single amplitudes and the
  *signed* values are used, ``θ = 2·atan2(a_{2j+1}, a_{2j})``, which carries the signs of
  the amplitudes exactly; a real vector needs no phase rotations.
* **Uniformly controlled RY.** Level ``l`` is ``RY(α_0) CNOT RY(α_1) CNOT … RY(α_{N−1}) CNOT``
  with ``N = 2**l``. Before ``RY(α_i)`` the CNOTs have flipped the target for control
  pattern ``j`` iff ``popcount(j & g_i)`` is odd (``g_i = i ^ (i >> 1)`` is the Gray code),
  so the target sees ``RY(Σ_i (−1)^{j·g_i} α_i)``. Inverting this Walsh–Hadamard-type
  matrix gives ``α_i = 2**−l · Σ_j (−1)^{j·g_i} θ_{l,j}``. The CNOT after ``RY(α_i)`` is
  controlled by the qubit of the bit where ``g_i`` and ``g_{i+1 mod N}`` differ, which
  returns every control to its original parity at the end of the level.

The template has ``2**n − 1`` RY gates and ``2**n − 2`` CNOTs.

Angles at zero blocks: when a block of amplitudes is all zero its angle is irrelevant to
the state and is set to 0, and the gradient there is set to 0 (the exact map is not
differentiable at such points; for vectors without zero blocks gradients are exact).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import cirq
import numpy as np
import sympy
import tensorflow as tf

from qkernel.errors import InputError

__all__ = [
    "TemplateResources",
    "l2_normalize",
    "n_angles",
    "template_angles",
    "template_angles_np",
    "template_circuit",
    "template_resources",
    "template_symbols",
    "tree_angles_np",
]


@dataclass(frozen=True)
class TemplateResources:
    """Gate counts of the template on ``n_qubits`` qubits.

    Attributes:
        n_qubits: Number of qubits.
        rotations: Number of RY gates (``2**n − 1``), one per symbol.
        two_qubit_gates: Number of CNOTs (``2**n − 2``).
        depth: Number of moments of :func:`template_circuit` as Cirq packs it.
        two_qubit_depth: Number of moments that contain a CNOT.
    """

    n_qubits: int
    rotations: int
    two_qubit_gates: int
    depth: int
    two_qubit_depth: int


def _check_n_qubits(n_qubits: int) -> int:
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, (int, np.integer)) or n_qubits < 1:
        raise ValueError(f"amplitude state preparation needs n_qubits >= 1 (an integer); got {n_qubits!r}")
    return int(n_qubits)


def n_angles(n_qubits: int) -> int:
    """Number of angles (symbols) of the template: ``2**n_qubits − 1``."""
    return 2 ** _check_n_qubits(n_qubits) - 1


def template_symbols(n_qubits: int, prefix: str = "amp") -> tuple[sympy.Symbol, ...]:
    """Symbols ``{prefix}_0000 …`` of the template, in the column order of :func:`template_angles`."""
    count = n_angles(n_qubits)
    width = max(4, len(str(count - 1)))
    return tuple(sympy.Symbol(f"{prefix}_{i:0{width}d}") for i in range(count))


def _gray(i: int) -> int:
    return i ^ (i >> 1)


def _cnot_bits(level: int) -> list[int]:
    """Bit position (0 = least significant control bit) of the CNOT after each RY of a level."""
    size = 2**level
    return [(_gray(i) ^ _gray((i + 1) % size)).bit_length() - 1 for i in range(size)]


@functools.lru_cache(maxsize=None)
def _level_matrix(level: int) -> np.ndarray:
    """``W[j, i] = (−1)^{popcount(j & g_i)} / 2**level`` so that ``α = θ @ W``."""
    size = 2**level
    j = np.arange(size)[:, None]
    g = np.array([_gray(i) for i in range(size)])[None, :]
    parity = np.vectorize(lambda v: bin(v).count("1") & 1)(j & g)
    return (1.0 - 2.0 * parity) / size


def template_circuit(
    qubits: Sequence[cirq.Qid],
    angles: Sequence[sympy.Basic | float] | None = None,
) -> cirq.Circuit:
    """The state-preparation template on ``qubits`` (``qubits[0]`` is the most significant bit).

    Args:
        qubits: ``n`` qubits.
        angles: ``2**n − 1`` symbols or numbers in the order of :func:`template_angles`;
            defaults to :func:`template_symbols`.

    Returns:
        A circuit of RY and CNOT gates only.

    Raises:
        ValueError: if there are no qubits or the number of angles is not ``2**n − 1``.
    """
    qubits = list(qubits)
    n = _check_n_qubits(len(qubits))
    angles = list(template_symbols(n) if angles is None else angles)
    if len(angles) != 2**n - 1:
        raise ValueError(f"the template on {n} qubits needs {2**n - 1} angles; got {len(angles)}")
    ops: list[cirq.Operation] = []
    k = 0
    for level in range(n):
        target = qubits[level]
        if level == 0:
            ops.append(cirq.ry(angles[k]).on(target))
            k += 1
            continue
        for bit in _cnot_bits(level):
            ops.append(cirq.ry(angles[k]).on(target))
            k += 1
            # bit b of the control pattern j is qubit (level − 1 − b): qubit 0 is the MSB.
            ops.append(cirq.CNOT(qubits[level - 1 - bit], target))
    return cirq.Circuit(ops)


@functools.lru_cache(maxsize=None)
def template_resources(n_qubits: int) -> TemplateResources:
    """Rotation count, CNOT count and depth of the template on ``n_qubits`` qubits."""
    n = _check_n_qubits(n_qubits)
    circuit = template_circuit(cirq.LineQubit.range(n), [0.1] * (2**n - 1))
    two_qubit = [op for op in circuit.all_operations() if cirq.num_qubits(op) == 2]
    return TemplateResources(
        n_qubits=n,
        rotations=2**n - 1,
        two_qubit_gates=len(two_qubit),
        depth=len(circuit),
        two_qubit_depth=sum(any(cirq.num_qubits(op) == 2 for op in m) for m in circuit),
    )


def _width_to_qubits(width: int | None, where: str) -> int:
    if width is None or width < 2 or width & (width - 1):
        raise InputError(
            f"{where}: expected features of shape (batch, 2**n) with n >= 1; got width {width}"
        )
    return width.bit_length() - 1


# --------------------------------------------------------------------------- numpy


def tree_angles_np(amplitudes: np.ndarray) -> list[np.ndarray]:
    """Binary-tree angles ``θ_{l,j}`` per level, float64 ``[(B, 1), (B, 2), …, (B, 2**(n−1))]``.

    The input need not be normalised (the angles are scale invariant).
    """
    x = np.asarray(amplitudes, dtype=np.float64)
    if x.ndim != 2:
        raise InputError(f"tree_angles_np: expected a 2-D array (batch, 2**n); got shape {x.shape}")
    n = _width_to_qubits(x.shape[1], "tree_angles_np")
    batch = x.shape[0]
    scale = np.max(np.abs(x), axis=1, keepdims=True)
    x = x / np.where(scale > 0, scale, 1.0)  # avoid under/overflow of the squares
    levels = []
    for level in range(n):
        if level == n - 1:
            pairs = x.reshape(batch, 2**level, 2)
            left, right = pairs[..., 0], pairs[..., 1]
        else:
            sums = (x * x).reshape(batch, 2**level, 2, -1).sum(axis=-1)
            left, right = np.sqrt(sums[..., 0]), np.sqrt(sums[..., 1])
        levels.append(2.0 * np.arctan2(right, left))  # arctan2(0, 0) == 0
    return levels


def template_angles_np(amplitudes: np.ndarray) -> np.ndarray:
    """Template angles ``(B, 2**n − 1)`` (float64) for a batch of real amplitude vectors.

    Args:
        amplitudes: ``(B, 2**n)`` real values, normalised or not.

    Returns:
        The values of :func:`template_symbols`, row by row.
    """
    levels = tree_angles_np(amplitudes)
    return np.concatenate([theta @ _level_matrix(lvl) for lvl, theta in enumerate(levels)], axis=1)


# --------------------------------------------------------------------------- TensorFlow


def _safe_sqrt(s: tf.Tensor) -> tf.Tensor:
    """``sqrt(s)`` whose gradient at ``s == 0`` is 0 instead of inf/NaN."""
    positive = s > 0
    return tf.where(positive, tf.sqrt(tf.where(positive, s, tf.ones_like(s))), tf.zeros_like(s))


def _safe_atan2(y: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """``atan2(y, x)`` with value and gradient 0 at ``(0, 0)`` (no NaN from 0/0)."""
    nonzero = tf.logical_or(tf.not_equal(x, 0), tf.not_equal(y, 0))
    safe_x = tf.where(nonzero, x, tf.ones_like(x))
    safe_y = tf.where(nonzero, y, tf.zeros_like(y))
    return tf.where(nonzero, tf.atan2(safe_y, safe_x), tf.zeros_like(x))


def l2_normalize(features: tf.Tensor) -> tf.Tensor:
    """Row-wise ``x / ‖x‖`` with no epsilon; all-zero rows stay zero with zero gradient.

    Rows are first divided by their largest magnitude (a constant for the gradient;
    exact, since the result is scale invariant) so squares neither underflow nor overflow.
    """
    x = tf.convert_to_tensor(features)
    scale = tf.stop_gradient(tf.reduce_max(tf.abs(x), axis=-1, keepdims=True))
    x = x / tf.where(scale > 0, scale, tf.ones_like(scale))
    norm = _safe_sqrt(tf.reduce_sum(x * x, axis=-1, keepdims=True))
    return x / tf.where(norm > 0, norm, tf.ones_like(norm))


def template_angles(features: tf.Tensor) -> tf.Tensor:
    """Differentiable map from real features ``(B, 2**n)`` to template angles ``(B, 2**n − 1)``.

    The rows are L2-normalised (:func:`l2_normalize`), turned into binary-tree angles
    with ``atan2`` of sub-vector norms (signed amplitudes on the last level), and mixed
    by the Gray-code/Walsh–Hadamard transform of each level. ``float64`` input is kept
    in ``float64`` (for reference checks); anything else is computed in ``float32``.

    Args:
        features: Real tensor of shape ``(B, 2**n)``; the width must be static.

    Returns:
        The values of :func:`template_symbols`, one row per sample.

    Raises:
        qkernel.errors.InputError: if the width is not a power of two ``>= 2``.
    """
    x = tf.convert_to_tensor(features)
    if x.dtype != tf.float64:
        x = tf.cast(x, tf.float32)
    if x.shape.rank != 2:
        raise InputError(f"template_angles: expected features of shape (batch, 2**n); got shape {x.shape}")
    n = _width_to_qubits(x.shape[1], "template_angles")
    x = l2_normalize(x)
    batch = tf.shape(x)[0]
    squares = x * x
    columns = []
    for level in range(n):
        if level == n - 1:
            pairs = tf.reshape(x, [batch, 2**level, 2])
            left, right = pairs[..., 0], pairs[..., 1]
        else:
            sums = tf.reduce_sum(tf.reshape(squares, [batch, 2**level, 2, 2 ** (n - level - 1)]), axis=-1)
            left, right = _safe_sqrt(sums[..., 0]), _safe_sqrt(sums[..., 1])
        theta = 2.0 * _safe_atan2(right, left)
        columns.append(tf.matmul(theta, tf.constant(_level_matrix(level), dtype=x.dtype)))
    return tf.concat(columns, axis=1)
