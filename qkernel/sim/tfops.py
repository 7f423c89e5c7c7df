"""Small TensorFlow helpers of the runtime plans, on the basis-major state.

The state is carried as ``(2**n, B)`` "parts": one real tensor while the state is real, a
``(re, im)`` pair once a complex gate has acted. Gates multiply from the left
(:func:`apply_matrix`), permutations gather contiguous rows (:func:`permute`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = ["add_all", "apply_matrix", "in_xla_context", "materialize", "pair_matmul", "permute"]


def add_all(terms: list[tf.Tensor]) -> tf.Tensor:
    """Sum of tensors that broadcast together (``tf.add_n`` needs equal shapes)."""
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


def permute(x: tf.Tensor, perm: np.ndarray, inverse: np.ndarray) -> tf.Tensor:
    """``x[perm]`` along axis 0; the gradient is the inverse gather (not a scatter), to any order."""

    @tf.custom_gradient
    def forward(v):
        def grad(dy):
            return permute(dy, inverse, perm)

        return tf.gather(v, tf.constant(perm, tf.int32)), grad

    return forward(x)


def in_xla_context() -> bool:
    """Whether the ops being traced will be compiled by XLA (inside a ``jit_compile`` function)."""
    if tf.executing_eagerly():
        return False
    try:  # TensorFlow marks jit_compile tracing with an XLA control-flow context.
        from tensorflow.python.ops import control_flow_util

        return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))
    except (ImportError, AttributeError):  # pragma: no cover - other TensorFlow versions
        return False


def materialize(v: tf.Tensor) -> tf.Tensor:
    """Under XLA, an identity on a ``(2**n, 1)`` vector that is computed before broadcasting.

    XLA's CPU loop fusion otherwise inlines ``cos(phi)`` into the fused multiply with the
    ``(2**n, B)`` state and evaluates it once per element (measured: 2x slower steps).
    A matmul with a 16x16 identity is never fused and costs ``16 * 2**n`` multiply-adds
    (XLA's optimisation barrier is stripped by the CPU compiler, so it does not help).
    """
    if not in_xla_context():
        return v
    k = min(16, v.shape[0])
    return tf.reshape(tf.matmul(tf.reshape(v, [-1, k]), np.eye(k, dtype=np.float32)), [-1, 1])


def _apply_part(x: tf.Tensor, m: tf.Tensor, qubits: tuple[int, ...], n: int) -> tf.Tensor:
    """Apply a real ``(d, d)`` matrix, or per-sample ``(B, d, d)`` matrices, to ``x`` ``(2**n, B)``."""
    k = len(qubits)
    d = 2**k
    batched = m.shape.rank == 3
    if not batched and qubits == tuple(range(qubits[0], qubits[0] + k)):
        a = 2 ** qubits[0]
        if a == 1:  # leading qubits: one plain matmul
            return tf.reshape(tf.matmul(m, tf.reshape(x, [d, -1])), [2**n, -1])
        return tf.reshape(tf.matmul(tf.reshape(m, [1, d, d]), tf.reshape(x, [a, d, -1])), [2**n, -1])
    # General case: split the basis axis around the targets, move the targets (and the
    # batch axis for per-sample matrices) to the front, one (batched) matmul, move back.
    dims, targets = [], []
    prev = -1
    for q in (*qubits, n):
        if q - prev - 1 > 0:
            dims.append(2 ** (q - prev - 1))
        if q < n:
            targets.append(len(dims))
            dims.append(2)
        prev = q
    batch_axis = len(dims)
    others = [i for i in range(len(dims)) if i not in targets]
    perm = ([batch_axis] if batched else []) + targets + others + ([] if batched else [batch_axis])
    xt = tf.transpose(tf.reshape(x, dims + [-1]), perm)
    rest = 2**n // d
    if batched:
        y = tf.matmul(m, tf.reshape(xt, [-1, d, rest]))
        y = tf.reshape(y, [-1] + [2] * k + [dims[i] for i in others])
    else:
        y = tf.matmul(m, tf.reshape(xt, [d, -1]))
        y = tf.reshape(y, [2] * k + [dims[i] for i in others] + [-1])
    return tf.reshape(tf.transpose(y, list(np.argsort(perm))), [2**n, -1])


def _apply_complex_block(parts, mr, mi, first: int, k: int, n: int) -> list[tf.Tensor]:
    """A complex gate on qubits ``first .. first+k-1`` as one real matmul.

    ``[re'; im'] = [[Mr, -Mi], [Mi, Mr]] @ [re; im]`` (``[[Mr], [Mi]] @ re`` for a real
    state): one matmul whose operands are read once, which keeps XLA from duplicating
    the producers of ``re``/``im`` into several consumers.
    """
    d, a = 2**k, 2**first
    if len(parts) == 1:
        big = tf.concat([mr, mi], 0)  # (2d, d)
        x = tf.reshape(parts[0], [a, d, -1])
    else:
        big = tf.concat([tf.concat([mr, -mi], 1), tf.concat([mi, mr], 1)], 0)  # (2d, 2d)
        x = tf.concat([tf.reshape(p, [a, d, -1]) for p in parts], 1)  # (a, 2d, z)
    if a == 1:
        y = tf.reshape(tf.matmul(big, tf.reshape(x, [x.shape[1], -1])), [1, 2 * d, -1])
    else:
        y = tf.matmul(tf.reshape(big, [1, 2 * d, big.shape[1]]), x)
    return [tf.reshape(p, [2**n, -1]) for p in tf.split(y, 2, axis=1)]


def pair_matmul(a, b):
    """``a @ b`` for ``(re, im | None)`` pairs; a leading per-sample axis broadcasts."""

    def mm(x, y):
        if x.shape.rank != y.shape.rank:
            x, y = (tf.expand_dims(x, 0), y) if x.shape.rank == 2 else (x, tf.expand_dims(y, 0))
        return tf.matmul(x, y)

    (ar, ai), (br, bi) = a, b
    re = mm(ar, br) if ai is None or bi is None else mm(ar, br) - mm(ai, bi)
    ims = ([mm(ar, bi)] if bi is not None else []) + ([mm(ai, br)] if ai is not None else [])
    return re, (add_all(ims) if ims else None)


def apply_matrix(parts, mr, mi, qubits: tuple[int, ...], n: int) -> list[tf.Tensor]:
    """Apply ``mr + 1j * mi`` (``mi`` None: real) to the state parts."""
    k = len(qubits)
    contiguous = qubits == tuple(range(qubits[0], qubits[0] + k))
    if mi is None:
        if len(parts) == 2 and mr.shape.rank == 2:
            # One matmul over [re | im] side by side: each operand is read once.
            return tf.split(_apply_part(tf.concat(parts, 1), mr, qubits, n), 2, axis=1)
        return [_apply_part(x, mr, qubits, n) for x in parts]
    if mr.shape.rank == 2 and contiguous:
        return _apply_complex_block(parts, mr, mi, qubits[0], k, n)
    if len(parts) == 1:
        return [_apply_part(parts[0], mr, qubits, n), _apply_part(parts[0], mi, qubits, n)]
    re, im = parts
    return [
        _apply_part(re, mr, qubits, n) - _apply_part(im, mi, qubits, n),
        _apply_part(im, mr, qubits, n) + _apply_part(re, mi, qubits, n),
    ]
