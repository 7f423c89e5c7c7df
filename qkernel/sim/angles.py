"""Gate angles at run time: symbol values from the weight vector and the data matrix.

:class:`Env` holds the inputs of one trace and memoises symbol values; :class:`AngleVector`
evaluates the angles of a stage's gates as one vector, affine expressions (the common case)
as one matrix-vector product, others through :func:`qkernel.sim.sympy_tf.sympy_to_tf`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sympy
import tensorflow as tf

from qkernel.sim.sympy_tf import sympy_to_tf

__all__ = ["AngleVector", "Env"]


def _linear_form(expr: sympy.Expr) -> tuple[float, dict[str, float]] | None:
    """``(offset, {symbol name: coefficient})`` if ``expr`` is affine in its symbols, else ``None``."""
    syms = expr.free_symbols
    coefs = {}
    for s in syms:
        c = sympy.diff(expr, s)
        if c.free_symbols or not c.is_number or not c.is_real:
            return None
        coefs[s.name] = float(c)
    offset = expr.subs({s: 0 for s in syms})
    if not offset.is_number or not offset.is_real:
        return None
    return float(offset), coefs


class Env:
    """Per-trace inputs: the weight vector, the data matrix, and memoised symbol values."""

    def __init__(self, w: tf.Tensor, d: tf.Tensor | None, weight_names, data_names) -> None:
        self.w, self.d = w, d
        self._names = (weight_names, data_names)
        self._values: dict[str, tf.Tensor] | None = None
        self._cache: dict = {}

    def value(self, expr: sympy.Expr) -> tf.Tensor:
        if self._values is None:
            wn, dn = self._names
            self._values = dict(zip(wn, tf.unstack(self.w, num=len(wn)))) if wn else {}
            if dn and self.d is not None:
                self._values.update(zip(dn, tf.unstack(self.d, num=len(dn), axis=1)))
        return sympy_to_tf(expr, self._values, self._cache)


class AngleVector:
    """``G`` gate angles as one ``(G,)`` (weights only) or ``(B, G)`` (data) tensor.

    Affine expressions (``theta``, ``2*theta``, ``theta + 0.5``, ``x - theta``) cost one
    matrix-vector product for the whole vector; others go through :func:`sympy_to_tf`.
    """

    def __init__(self, exprs: Sequence[sympy.Expr], weight_names, data_names) -> None:
        wpos = {s: i for i, s in enumerate(weight_names)}
        dpos = {s: i for i, s in enumerate(data_names)}
        g = len(exprs)
        self.offset = np.zeros(g)
        self.a_w = np.zeros((g, len(wpos)))
        self.a_d = np.zeros((g, len(dpos)))
        self.nonlinear_w: list[tuple[int, sympy.Expr]] = []
        self.nonlinear_d: list[tuple[int, sympy.Expr]] = []
        for i, e in enumerate(exprs):
            form = _linear_form(e)
            if form is None:
                data = any(s.name in dpos for s in e.free_symbols)
                (self.nonlinear_d if data else self.nonlinear_w).append((i, e))
                continue
            self.offset[i] = form[0]
            for name, c in form[1].items():
                if name in wpos:
                    self.a_w[i, wpos[name]] += c
                else:
                    self.a_d[i, dpos[name]] += c
        self.batched = bool(self.nonlinear_d) or bool(np.any(self.a_d))
        self.size = g

    def __call__(self, env: Env, dtype: tf.DType = tf.float32) -> tf.Tensor:
        """The angles in ``dtype``; affine parts are computed in ``dtype`` (float64 for exact
        reference runs), others in float32 through :func:`sympy_to_tf` and cast."""
        out = tf.constant(self.offset, dtype)
        if np.any(self.a_w):
            out = out + tf.linalg.matvec(tf.constant(self.a_w, dtype), tf.cast(env.w, dtype))
        if self.nonlinear_w:
            idx, exprs = zip(*self.nonlinear_w)
            nonlinear = tf.linalg.matvec(_onehot(idx, self.size), tf.stack([env.value(e) for e in exprs]), transpose_a=True)
            out = out + tf.cast(nonlinear, dtype)
        if np.any(self.a_d):
            out = out + tf.matmul(tf.cast(env.d, dtype), tf.constant(self.a_d, dtype), transpose_b=True)
        if self.nonlinear_d:
            idx, exprs = zip(*self.nonlinear_d)
            vals = [env.value(e) for e in exprs]
            batch = tf.shape(env.d)[0]
            vals = [v if v.shape.rank == 1 else tf.fill([batch], v) for v in vals]
            out = out + tf.cast(tf.matmul(tf.stack(vals, axis=1), _onehot(idx, self.size)), dtype)
        return out


def _onehot(idx: Sequence[int], size: int) -> tf.Tensor:
    m = np.zeros((len(idx), size), np.float32)
    m[np.arange(len(idx)), list(idx)] = 1.0
    return tf.constant(m)

