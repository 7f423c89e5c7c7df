"""Sympy gate parameters as float32 TensorFlow ops.

:func:`sympy_to_tf` converts a gate parameter (a sympy expression of weight and data
symbols) into TensorFlow ops, memoising repeated sub-expressions. Lowering checks each
parameter up front with :func:`unsupported_function`, so an expression that cannot be
converted fails at compile time rather than at the first call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sympy
import tensorflow as tf

from qkernel.errors import InputError, UnsupportedGateError
from qkernel.sim.tfops import add_all

__all__ = ["sympy_to_tf", "unsupported_function"]

_UNARY: dict[Any, Callable[[tf.Tensor], tf.Tensor]] = {
    sympy.sin: tf.sin,
    sympy.cos: tf.cos,
    sympy.tan: tf.tan,
    sympy.asin: tf.asin,
    sympy.acos: tf.acos,
    sympy.atan: tf.atan,
    sympy.sinh: tf.sinh,
    sympy.cosh: tf.cosh,
    sympy.tanh: tf.tanh,
    sympy.exp: tf.exp,
    sympy.log: tf.math.log,
    sympy.Abs: tf.abs,
    sympy.sign: tf.sign,
}


def sympy_to_tf(
    expr: sympy.Expr, values: Mapping[str, tf.Tensor], cache: dict[sympy.Expr, tf.Tensor] | None = None
) -> tf.Tensor:
    """Convert a sympy expression into float32 TensorFlow ops.

    Supports numbers, ``pi``/``E``, symbols, ``Add``, ``Mul``, ``Pow`` and the functions
    sin, cos, tan, asin, acos, atan, atan2, sinh, cosh, tanh, exp, log, Abs, sign.

    Args:
        expr: The expression.
        values: Tensor for every symbol name; scalars or ``(batch,)`` vectors (broadcast).
        cache: Optional memo shared between calls so repeated sub-expressions are built once.

    Returns:
        A float32 tensor of the broadcast shape of the symbol values used.

    Raises:
        UnsupportedGateError: for a function or construct not listed above.
        InputError: for a symbol missing from ``values``.
    """
    cache = {} if cache is None else cache
    expr = sympy.sympify(expr)
    if expr in cache:
        return cache[expr]
    if expr.is_Symbol:
        if expr.name not in values:
            raise InputError(f"symbol {expr.name!r} has no value; known symbols: {sorted(values)}")
        out = values[expr.name]
    elif expr.is_number:
        value = complex(expr)
        if abs(value.imag) > 1e-12:
            raise UnsupportedGateError(f"complex constant {expr} in a gate parameter is not supported")
        out = tf.constant(value.real, tf.float32)
    elif expr.is_Add:
        terms = [sympy_to_tf(a, values, cache) for a in expr.args]
        out = tf.add_n(terms) if all(t.shape == terms[0].shape for t in terms) else add_all(terms)
    elif expr.is_Mul:
        coeff, rest = expr.as_coeff_Mul()
        factors = [sympy_to_tf(a, values, cache) for a in sympy.Mul.make_args(rest)]
        out = factors[0]
        for f in factors[1:]:
            out = out * f
        if coeff != 1:
            out = out * float(coeff)
    elif expr.is_Pow:
        base, exponent = expr.args
        b = sympy_to_tf(base, values, cache)
        if exponent.is_Integer and 1 <= abs(int(exponent)) <= 4:
            out = b
            for _ in range(abs(int(exponent)) - 1):
                out = out * b
            out = tf.math.reciprocal(out) if exponent < 0 else out
        elif exponent == sympy.Rational(1, 2):
            out = tf.sqrt(b)
        elif exponent == sympy.Rational(-1, 2):
            out = tf.math.rsqrt(b)
        elif exponent.is_number:
            out = tf.pow(b, float(exponent))
        else:
            out = tf.pow(b, sympy_to_tf(exponent, values, cache))
    elif expr.func in _UNARY:
        out = _UNARY[expr.func](sympy_to_tf(expr.args[0], values, cache))
    elif expr.func is sympy.atan2:
        out = tf.atan2(*(sympy_to_tf(a, values, cache) for a in expr.args))
    else:
        raise UnsupportedGateError(
            f"cannot convert {type(expr).__name__} in gate parameter {expr} to TensorFlow; supported: "
            "numbers, pi, E, symbols, +, *, **, " + ", ".join(sorted(f.__name__ for f in _UNARY)) + ", atan2"
        )
    cache[expr] = out
    return out


def unsupported_function(expr: sympy.Expr) -> str | None:
    """Name of the first construct :func:`sympy_to_tf` cannot convert, or ``None``."""
    for node in sympy.preorder_traversal(expr):
        if node.is_Symbol or node.is_Add or node.is_Mul or node.is_Pow or node.func in _UNARY:
            continue
        if node.is_number:
            if not node.is_real:
                return f"complex constant {node}"
            continue
        if node.func is not sympy.atan2:
            return type(node).__name__
    return None
