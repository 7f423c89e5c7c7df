"""The runtime register: a batch of density matrices or state vectors as one TensorFlow tensor.

The state is ``(B, T, D**n)`` complex: ``B`` samples (images), ``T`` trajectories per sample
(1 for density matrices), ``n`` register positions of local dimension ``D`` (4: one qubit's
row and column bit of a vectorised density matrix; 2: a qubit of a state vector). The
positions are kept in a *lazy order*: applying an operator on positions ``P`` transposes
them to the front, multiplies, and leaves them there — one transpose and one matmul per
block instead of two transposes. Transposes are collapsed to the few axis groups that
actually move, so they stay within TensorFlow's fast low-rank kernels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

__all__ = ["Register"]


def _collapsed(perm: Sequence[int], dims: Sequence[int]) -> tuple[list[int], list[int]]:
    """Merge source axes that stay adjacent under ``perm``: ``(source dims, permutation of the groups)``."""
    groups: list[list[int]] = []
    for axis in perm:
        if groups and groups[-1][-1] + 1 == axis:
            groups[-1].append(axis)
        else:
            groups.append([axis])
    by_source = sorted(range(len(groups)), key=lambda g: groups[g][0])
    rank = {g: i for i, g in enumerate(by_source)}
    return [int(np.prod([dims[a] for a in groups[g]])) for g in by_source], [rank[g] for g in range(len(groups))]


class Register:
    """Bookkeeping of the lazy position order while ops are traced (one instance per trace).

    Shapes are static except the batch size (``-1`` in every reshape), which keeps the
    traced graph small: a few ops per block.

    Args:
        n: Register positions.
        local_dim: ``D`` (4 for density matrices, 2 for state vectors).
        trajectories: ``T`` (1 for density matrices).
    """

    def __init__(self, n: int, local_dim: int, trajectories: int = 1) -> None:
        self.n, self.local_dim, self.trajectories = n, local_dim, trajectories
        self.order = list(range(n))  # order[j]: the position held by tensor axis j (after B, T)

    def to_front(self, x: tf.Tensor, positions: Sequence[int]) -> tf.Tensor:
        """``x`` with ``positions`` (in that order) as its leading register axes."""
        new = list(positions) + [p for p in self.order if p not in positions]
        perm = [self.order.index(p) for p in new]
        self.order = new
        if perm == list(range(self.n)):
            return x
        source, collapsed = _collapsed(perm, [self.local_dim] * self.n)
        y = tf.reshape(x, [-1, self.trajectories, *source])
        y = tf.transpose(y, [0, 1, *(2 + c for c in collapsed)])
        return tf.reshape(y, [-1, self.trajectories, self.local_dim**self.n])

    def apply(self, x: tf.Tensor, matrix: tf.Tensor, positions: Sequence[int]) -> tf.Tensor:
        """Multiply ``matrix`` — ``(d, d)``, ``(1|B, 1|T, d, d)`` — into ``x`` on ``positions``."""
        y = tf.matmul(matrix, self.split(self.to_front(x, positions), len(positions)))
        return tf.reshape(y, [-1, self.trajectories, self.local_dim**self.n])

    def split(self, x: tf.Tensor, k: int) -> tf.Tensor:
        """``x`` ``(B, T, D**n)`` as ``(B, T, D**k, D**(n-k))``: the leading ``k`` axes against the rest."""
        return tf.reshape(x, [-1, self.trajectories, self.local_dim**k, self.local_dim ** (self.n - k)])

    def marginal(self, x: tf.Tensor, positions: Sequence[int]) -> tf.Tensor:
        """Outcome probabilities ``(B, T, 2**len(positions))`` of measuring ``positions``, the
        others traced out; ``positions[0]`` is the most significant bit of an outcome.

        Density matrices: the real diagonal; state vectors: ``|ψ|²``.
        """
        x = self.split(self.to_front(x, positions), len(positions))
        k = len(positions)
        if self.local_dim == 4:
            x = tf.math.real(tf.gather(tf.gather(x, _diagonal(self.n - k), axis=3), _diagonal(k), axis=2))
        else:
            x = tf.math.real(x) ** 2 + tf.math.imag(x) ** 2
        return tf.reduce_sum(x, axis=3)


def _diagonal(k: int) -> np.ndarray:
    """Indices of ``|b⟩⟨b|`` among the ``4**k`` vectorised entries of ``k`` qubits, ``b`` in binary order."""
    bits = (np.arange(2**k)[:, None] >> (k - 1 - np.arange(k))[None, :]) & 1
    return (bits * 3 * (4 ** (k - 1 - np.arange(k)))[None, :]).sum(axis=1)
