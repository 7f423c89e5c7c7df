"""Native kernel: a Cirq circuit compiled once into a batched, differentiable TensorFlow program.

TensorFlow Quantum returns first-order gradients only and is slow for amplitude-encoded
inputs. Dataset distillation differentiates through unrolled training steps (nested
:class:`tf.GradientTape`), so qdistill simulates its circuits with plain TensorFlow ops,
which TensorFlow differentiates to any order::

    compiled = compile_circuit(circuit, weight_symbols=thetas, observables=[cirq.Z(q) for q in qs])
    expectations = compiled(weights, state=amplitudes)          # (batch, n_outputs) float32

How a circuit is compiled (once, in Python, by :func:`compile_circuit`):

1. Every operation is *lowered* to primitives on sorted qubit positions: a constant unitary
   (any gate without symbols, through :func:`cirq.unitary`) or a symbolic member of an
   :class:`cirq.EigenGate` family, ``U(a) = sum_k exp(i a mu_k) P_k`` with ``a = pi * exponent``.
   PhasedXPow, PhasedXZ and PhasedISwapPow gates lower through their Cirq decomposition,
   FSim as ``ISWAP**(-2 theta/pi)`` then ``CZ**(-phi/pi)``, controlled gates by lifting each
   primitive of the controlled gate.
2. Primitives are classified: *diagonal* (Z/S/T/CZ/Rz/CZPow …: one phase per basis state,
   linear in the gate angles), *monomial* (X/CNOT/SWAP/Toffoli/ISWAP …: a permutation of the
   basis with constant phases) or *dense* (Ry/Rx/H/FSim/MatrixGate …).
3. Primitives are scheduled greedily into alternating stages, each primitive moving back
   past stages on disjoint qubits:

   * a *phase-permutation stage* composes every diagonal and monomial primitive between two
     dense stages into one ``gather`` of basis rows and one elementwise phase multiply,
     ``phi = const + coefficients @ angles`` (a CNOT ring plus an Rz layer: 1 gather, 1 multiply);
   * a *dense stage* holds gates on disjoint qubits. Gates on the same qubits are multiplied,
     and neighbouring one-qubit gates form Kronecker blocks of up to ``_MAX_BLOCK_QUBITS``
     qubits. Each block is precomputed as ``sum_t exp(i theta_t) Q_t`` (:class:`_ExpSum`,
     ``theta`` linear in the gate angles), so building a 16x16 block of four rotations costs
     one ``cos``/``sin`` and one small matmul, and applying it one matmul on the state.

4. Expectation values of Pauli strings grouped by their X/Y mask ``m`` are
   ``Re sum_x conj(psi[x ^ m]) psi[x] w_m[x]``: one matmul per mask, a single
   ``|psi|^2 @ signs`` for Z strings. When every observable is diagonal, a trailing
   phase-permutation stage is folded into the sign matrix instead of being applied.

At run time the state is basis-major, ``(2**n, B)`` (gates multiply from the left, a
permutation gathers contiguous rows), and real: one tensor while the state is real (real
input, real gates: Ry, H, CNOT, CZ, X, Z, SWAP …), a ``(re, im)`` pair once a complex gate
has acted, so real gates never pay for complex arithmetic.

``jit_compile=True`` runs the program under XLA. Inside a caller's ``tf.function`` that is
itself XLA-compiled, or with ``jit_compile=False``, the ops are added to the caller's graph
directly (no nested function: cheaper higher-order gradients).

Measurements are ignored when they are terminal (they do not change expectation values);
a mid-circuit measurement, a reset, a noise channel or any other non-unitary operation
raises :class:`qkernel.errors.UnsupportedGateError`. Only qubits (dimension 2) are supported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Union

import cirq
import numpy as np
import sympy
import tensorflow as tf

from qkernel.errors import InputError, UnsupportedGateError

__all__ = ["CompiledCircuit", "compile_circuit", "sympy_to_tf", "SUPPORTED_FAMILIES"]

#: Human-readable list of the gate families the kernel compiles, quoted by errors.
SUPPORTED_FAMILIES = (
    "any gate without symbols that has a unitary (cirq.unitary: H, X, Y, Z, S, T, CNOT, CZ, "
    "SWAP, ISWAP, CCX, MatrixGate, ...); symbolic: EigenGate families "
    "(XPow/YPow/ZPow incl. Rx/Ry/Rz, HPow, CXPow, CZPow, SwapPow, ISwapPow, CCXPow, CCZPow, "
    "XXPow/YYPow/ZZPow) with a symbolic exponent, PhasedXPowGate, PhasedXZGate, FSimGate, "
    "PhasedISwapPowGate, and cirq.ControlledGate of any of these"
)

#: Largest Kronecker block of one-qubit gates applied as one matmul. Four qubits (16x16)
#: measured fastest on the 8-qubit reference step (qkernel.bench.kernel, B=256, no XLA:
#: blocks of 2 ~20k samples/s, 3 ~23k, 4 ~28-33k, 8 i.e. one 256x256 matmul ~14k).
_MAX_BLOCK_QUBITS = 4

_ATOL = 1e-10

#: A dense (2**n, batch) float32 state beyond this is no longer practical on a CPU.
_MAX_QUBITS = 24

ObservableLike = Union[cirq.PauliSum, cirq.PauliString]

# --------------------------------------------------------------------------- sympy -> TF

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
        out = tf.add_n(terms) if all(t.shape == terms[0].shape for t in terms) else _sum(terms)
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


def _unsupported_function(expr: sympy.Expr) -> str | None:
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


def _sum(terms: list[tf.Tensor]) -> tf.Tensor:
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


# --------------------------------------------------------------------------- lowering


@dataclasses.dataclass
class _Prim:
    """A lowered gate on ascending qubit positions.

    Either ``matrix`` is a constant unitary, or ``U(a) = sum_k exp(1j * a * mus[k]) projectors[k]``
    with ``a`` the value of the sympy expression ``angle``.
    """

    qubits: tuple[int, ...]
    matrix: np.ndarray | None = None
    angle: sympy.Expr | None = None
    mus: np.ndarray | None = None
    projectors: np.ndarray | None = None


def _reorder(mat: np.ndarray, order: Sequence[int]) -> np.ndarray:
    """Permute the qubit axes of a ``(..., d, d)`` operator: new qubit j = old qubit order[j]."""
    k = len(order)
    lead = mat.shape[:-2]
    t = mat.reshape(lead + (2,) * (2 * k))
    nl = len(lead)
    axes = list(range(nl)) + [nl + o for o in order] + [nl + k + o for o in order]
    return t.transpose(axes).reshape(mat.shape)


def _make_prim(qubits: Sequence[int], matrix=None, angle=None, mus=None, projectors=None) -> _Prim:
    qubits = tuple(qubits)
    if angle is not None:
        angle = sympy.sympify(angle)
        if not angle.free_symbols:  # symbolic family member with a numeric exponent
            matrix = np.einsum("k,kij->ij", np.exp(1j * float(angle) * mus), projectors)
            angle = mus = projectors = None
    order = sorted(range(len(qubits)), key=lambda i: qubits[i])
    if order != list(range(len(qubits))):
        matrix = None if matrix is None else _reorder(matrix, order)
        projectors = None if projectors is None else _reorder(projectors, order)
    return _Prim(tuple(sorted(qubits)), matrix, angle, mus, projectors)


def _unsupported(op: Any, why: str) -> UnsupportedGateError:
    return UnsupportedGateError(f"cannot compile {op!r}: {why}. Supported: {SUPPORTED_FAMILIES}")


def _lower_op(op: cirq.Operation, pos: Mapping[cirq.Qid, int]) -> list[_Prim]:
    prims = _lower_op_unchecked(op, pos)
    for p in prims:
        bad = None if p.angle is None else _unsupported_function(p.angle)
        if bad:
            raise _unsupported(op, f"its parameter {p.angle} uses {bad}, which has no TensorFlow conversion")
    return prims


def _lower_op_unchecked(op: cirq.Operation, pos: Mapping[cirq.Qid, int]) -> list[_Prim]:
    qubits = tuple(pos[q] for q in op.qubits)
    if not cirq.is_parameterized(op):
        u = cirq.unitary(op, None)
        if u is None:
            raise _unsupported(op, "it has no unitary (noise channels, resets and mid-circuit measurements are not simulated)")
        return [_make_prim(qubits, matrix=np.asarray(u, dtype=np.complex128))]
    if op.gate is None:
        raise _unsupported(op, "symbolic operations without a gate are not supported")
    return _lower_gate(op.gate, qubits, op)


def _lower_gate(gate: cirq.Gate, qubits: tuple[int, ...], op: Any) -> list[_Prim]:
    if not cirq.is_parameterized(gate):
        u = cirq.unitary(gate, None)
        if u is None:
            raise _unsupported(op, f"{gate!r} has no unitary")
        return [_make_prim(qubits, matrix=np.asarray(u, dtype=np.complex128))]
    if isinstance(gate, cirq.ControlledGate):
        if any(d != 2 for d in gate.control_qid_shape):
            raise _unsupported(op, "only qubit (dimension 2) controls are supported")
        nc = gate.num_controls()
        proj = np.zeros(2**nc)
        for values in gate.control_values.expand():
            proj[int("".join(str(int(v)) for v in values) or "0", 2)] = 1.0
        return [_control(p, qubits[:nc], qubits[nc:], proj) for p in _lower_gate(gate.sub_gate, qubits[nc:], op)]
    if isinstance(gate, cirq.FSimGate):
        iswap = cirq.ISwapPowGate(exponent=-2 * sympy.sympify(gate.theta) / sympy.pi)
        cz = cirq.CZPowGate(exponent=-sympy.sympify(gate.phi) / sympy.pi)
        return _lower_gate(iswap, qubits, op) + _lower_gate(cz, qubits, op)
    if isinstance(gate, (cirq.PhasedXPowGate, cirq.PhasedXZGate, cirq.PhasedISwapPowGate)):
        line = [cirq.LineQubit(p) for p in qubits]
        identity = {q: q.x for q in line}
        return [p for sub in cirq.decompose_once_with_qubits(gate, line) for p in _lower_op(sub, identity)]
    if isinstance(gate, cirq.EigenGate):
        try:
            comps = gate._eigen_components()  # the EigenGate extension API
            mus = np.array([float(h) + float(gate.global_shift) for h, _ in comps])
            projectors = np.array([np.asarray(p, dtype=np.complex128) for _, p in comps])
        except TypeError as exc:
            raise _unsupported(op, "only the exponent of an EigenGate may be symbolic") from exc
        return [_make_prim(qubits, angle=sympy.pi * sympy.sympify(gate.exponent), mus=mus, projectors=projectors)]
    raise _unsupported(op, f"gate {type(gate).__name__} with symbolic parameters is not a supported family")


def _control(p: _Prim, controls: tuple[int, ...], targets: tuple[int, ...], proj: np.ndarray) -> _Prim:
    """Controlled version of a primitive originally given on ``targets`` (in that order)."""
    # _make_prim sorted the primitive's qubits; undo to the caller's target order is not needed
    # because the controlled operator is built on (controls + sorted targets).
    d = 2 ** len(p.qubits)
    on, off = np.diag(proj), np.diag(1.0 - proj)
    qubits = controls + p.qubits
    if p.matrix is not None:
        return _make_prim(qubits, matrix=np.kron(off, np.eye(d)) + np.kron(on, p.matrix))
    projectors = np.array([np.kron(off, np.eye(d))] + [np.kron(on, q) for q in p.projectors])
    return _make_prim(qubits, angle=p.angle, mus=np.concatenate([[0.0], p.mus]), projectors=projectors)


# --------------------------------------------------------------------------- scheduling


class _PhasePerm:
    """``psi'[x] = exp(1j * phi[x]) * psi[sigma[x]]``, ``phi = const + sum_e coefs[e] * value(e)``."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.sigma = np.arange(2**n)
        self.const = np.zeros(2**n)
        self.coefs: dict[sympy.Expr, np.ndarray] = {}
        self.support: set[int] = set()

    def then(self, sigma: np.ndarray | None, const: np.ndarray, coefs: Mapping[sympy.Expr, np.ndarray], qubits) -> None:
        """Compose another phase-permutation after this one."""
        if sigma is not None:
            self.sigma = self.sigma[sigma]
            self.const = self.const[sigma]
            self.coefs = {k: v[sigma] for k, v in self.coefs.items()}
        self.const = self.const + const
        for k, v in coefs.items():
            self.coefs[k] = self.coefs.get(k, 0.0) + v
        self.support |= set(qubits)

    def finish(self) -> None:
        """Derive the runtime form once scheduling is done."""
        self.coefs = {k: v for k, v in self.coefs.items() if np.abs(v).max() > _ATOL}
        self.const = np.mod(self.const + np.pi, 2 * np.pi) - np.pi
        self.identity_perm = bool(np.array_equal(self.sigma, np.arange(2**self.n)))
        self.inverse = np.argsort(self.sigma)
        signs = np.cos(self.const)
        self.real = not self.coefs and bool(np.all(np.abs(np.abs(signs) - 1) < 1e-9))
        self.signs = np.round(signs) if self.real else None
        self.trivial_phase = self.real and bool(np.all(self.signs == 1))


class _Dense:
    """Gates on pairwise disjoint qubit sets; each group is a product of primitives (in order)."""

    def __init__(self) -> None:
        self.groups: dict[tuple[int, ...], list[_Prim]] = {}
        self.support: set[int] = set()


def _lift(n: int, qubits: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Local index of every basis state on ``qubits``, and the basis states with those bits cleared."""
    x = np.arange(2**n)
    k = len(qubits)
    local = np.zeros_like(x)
    mask = 0
    for j, p in enumerate(qubits):
        local |= ((x >> (n - 1 - p)) & 1) << (k - 1 - j)
        mask |= 1 << (n - 1 - p)
    return local, x & ~mask


def _as_phase_perm(p: _Prim, n: int):
    """``(sigma, const, coefs)`` on the full space if ``p`` is diagonal or monomial, else ``None``."""
    local, base = _lift(n, p.qubits)
    k = len(p.qubits)
    if p.matrix is None:
        if any(np.abs(q - np.diag(np.diag(q))).max() > _ATOL for q in p.projectors):
            return None
        diag = np.array([np.diag(q).real for q in p.projectors])  # (K, d) with 0/1 entries
        if np.abs(diag * (1 - diag)).max() > 1e-9:
            return None
        return None, np.zeros(2**n), {p.angle: (p.mus @ diag)[local]}
    m = p.matrix
    cols = np.argmax(np.abs(m), axis=1)
    picked = m[np.arange(len(m)), cols]
    if not (np.allclose(np.abs(picked), 1, atol=1e-9) and len(set(cols)) == len(m)):
        return None
    if np.abs(np.abs(m).sum(axis=1) - 1).max() > 1e-9:
        return None
    phases = np.angle(picked)[local]
    if np.array_equal(cols, np.arange(len(m))):
        return None, phases, {}
    c = cols[local]
    sigma = base.copy()
    for j, q in enumerate(p.qubits):
        sigma |= ((c >> (k - 1 - j)) & 1) << (n - 1 - q)
    return sigma, phases, {}


def _schedule(prims: Iterable[_Prim], n: int) -> list[_Dense | _PhasePerm]:
    """Greedy list scheduling: each primitive joins the earliest stage of its kind that it
    can reach by commuting back past stages on disjoint qubits."""
    stages: list[_Dense | _PhasePerm] = []
    for p in prims:
        if p.matrix is not None and np.allclose(p.matrix, np.eye(len(p.matrix)), atol=_ATOL):
            continue
        qset = set(p.qubits)
        pp = _as_phase_perm(p, n)
        kind = _PhasePerm if pp is not None else _Dense
        target = None
        for i in range(len(stages) - 1, -1, -1):
            s = stages[i]
            overlap = bool(s.support & qset)
            if isinstance(s, kind) and (kind is _PhasePerm or not overlap or p.qubits in s.groups):
                target = i
            if overlap:
                break
        if target is None:
            stages.append(kind(n) if kind is _PhasePerm else _Dense())
            target = len(stages) - 1
        s = stages[target]
        if pp is not None:
            s.then(*pp, p.qubits)
        else:
            s.groups.setdefault(p.qubits, []).append(p)
            s.support |= qset
    return stages


# --------------------------------------------------------------------------- observables


def _pauli_terms(obs: ObservableLike, pos: Mapping[cirq.Qid, int]) -> list[tuple[complex, dict[int, str]]]:
    if isinstance(obs, cirq.PauliString):
        strings = [obs]
    elif isinstance(obs, cirq.PauliSum):
        strings = list(obs)
    else:
        raise InputError(f"observables must be cirq.PauliSum or cirq.PauliString, got {type(obs).__name__}")
    terms = []
    for s in strings:
        coeff = complex(s.coefficient)
        paulis = {}
        for q, pauli in s.items():
            if q not in pos:
                raise InputError(f"observable {obs} acts on {q}, which is not among the compiled qubits")
            paulis[pos[q]] = {cirq.X: "X", cirq.Y: "Y", cirq.Z: "Z"}[pauli]
        terms.append((coeff, paulis))
    return terms


def _observable_weights(observables, pos, n) -> dict[int, np.ndarray]:
    """Per X/Y mask ``m``: complex ``(2**n, n_outputs)`` weights ``w_m[x, j]`` (see module doc)."""
    x = np.arange(2**n)
    out: dict[int, np.ndarray] = {}
    for j, obs in enumerate(observables):
        for coeff, paulis in _pauli_terms(obs, pos):
            mask = 0
            omega = np.full(2**n, coeff, dtype=np.complex128)
            for p, name in paulis.items():
                bit = (x >> (n - 1 - p)) & 1
                sign = 1 - 2 * bit
                if name in "XY":
                    mask |= 1 << (n - 1 - p)
                if name == "Y":
                    omega = omega * 1j * sign
                elif name == "Z":
                    omega = omega * sign
            out.setdefault(mask, np.zeros((2**n, len(observables)), np.complex128))[:, j] += omega
    return out


# --------------------------------------------------------------------------- runtime helpers


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


class _Env:
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


class _AngleVector:
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

    def __call__(self, env: _Env) -> tf.Tensor:
        out = tf.constant(self.offset, tf.float32)
        if np.any(self.a_w):
            out = out + tf.linalg.matvec(tf.constant(self.a_w, tf.float32), env.w)
        if self.nonlinear_w:
            idx, exprs = zip(*self.nonlinear_w)
            out = out + tf.linalg.matvec(_onehot(idx, self.size), tf.stack([env.value(e) for e in exprs]), transpose_a=True)
        if np.any(self.a_d):
            out = out + tf.matmul(env.d, tf.constant(self.a_d, tf.float32), transpose_b=True)
        if self.nonlinear_d:
            idx, exprs = zip(*self.nonlinear_d)
            vals = [env.value(e) for e in exprs]
            batch = tf.shape(env.d)[0]
            vals = [v if v.shape.rank == 1 else tf.fill([batch], v) for v in vals]
            out = out + tf.matmul(tf.stack(vals, axis=1), _onehot(idx, self.size))
        return out


def _onehot(idx: Sequence[int], size: int) -> tf.Tensor:
    m = np.zeros((len(idx), size), np.float32)
    m[np.arange(len(idx)), list(idx)] = 1.0
    return tf.constant(m)


def _permute(x: tf.Tensor, perm: np.ndarray, inverse: np.ndarray) -> tf.Tensor:
    """``x[perm]`` along axis 0; the gradient is the inverse gather (not a scatter), to any order."""

    @tf.custom_gradient
    def forward(v):
        def grad(dy):
            return _permute(dy, inverse, perm)

        return tf.gather(v, tf.constant(perm, tf.int32)), grad

    return forward(x)


def _in_xla_context() -> bool:
    """Whether the ops being traced will be compiled by XLA (inside a ``jit_compile`` function)."""
    if tf.executing_eagerly():
        return False
    try:  # TensorFlow marks jit_compile tracing with an XLA control-flow context.
        from tensorflow.python.ops import control_flow_util

        return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))
    except (ImportError, AttributeError):  # pragma: no cover - other TensorFlow versions
        return False


def _materialize(v: tf.Tensor) -> tf.Tensor:
    """Under XLA, an identity on a ``(2**n, 1)`` vector that is computed before broadcasting.

    XLA's CPU loop fusion otherwise inlines ``cos(phi)`` into the fused multiply with the
    ``(2**n, B)`` state and evaluates it once per element (measured: 2x slower steps).
    A matmul with a 16x16 identity is never fused and costs ``16 * 2**n`` multiply-adds
    (XLA's optimisation barrier is stripped by the CPU compiler, so it does not help).
    """
    if not _in_xla_context():
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


# --------------------------------------------------------------------------- runtime plans


#: Largest ``terms * d * d`` of one precomputed :class:`_ExpSum` (constants per unit).
_MAX_EXPSUM_SIZE = 2**16


@dataclasses.dataclass
class _ExpSum:
    """``U = sum_t exp(1j * coef[t] . angles) * q[t]`` with constant ``q``.

    A parametrised gate ``sum_k exp(1j a mu_k) P_k``, a fixed matrix, and products and
    Kronecker products of them all have this form, so a whole Kronecker block of rotations
    is evaluated by one ``cos``/``sin`` of ``T`` phases and one small matmul instead of a
    chain of per-gate ops (fewer ops: faster graphs and much faster higher-order tracing).
    """

    coef: np.ndarray  # (T, G): phase t is coef[t] @ angles
    q: np.ndarray  # (T, d, d) complex

    @classmethod
    def of(cls, p: _Prim, column: int | None, g: int) -> _ExpSum:
        if p.matrix is not None:
            return cls(np.zeros((1, g)), p.matrix[None])
        coef = np.zeros((len(p.mus), g))
        coef[:, column] = p.mus
        return cls(coef, p.projectors).simplified()

    @property
    def size(self) -> int:
        return self.q.size

    def then(self, later: _ExpSum) -> _ExpSum:
        """``later @ self``."""
        coef = (later.coef[:, None, :] + self.coef[None, :, :]).reshape(-1, self.coef.shape[1])
        q = np.einsum("aij,bjk->abik", later.q, self.q).reshape((-1,) + self.q.shape[1:])
        return _ExpSum(coef, q).simplified()

    def kron(self, other: _ExpSum) -> _ExpSum:
        d = self.q.shape[-1] * other.q.shape[-1]
        coef = (self.coef[:, None, :] + other.coef[None, :, :]).reshape(-1, self.coef.shape[1])
        q = np.einsum("aij,bkl->abikjl", self.q, other.q).reshape(-1, d, d)
        return _ExpSum(coef, q).simplified()

    def simplified(self) -> _ExpSum:
        keys, inverse = np.unique(np.round(self.coef, 9), axis=0, return_inverse=True)
        q = np.zeros((len(keys),) + self.q.shape[1:], complex)
        np.add.at(q, inverse.ravel(), self.q)
        keep = np.abs(q).reshape(len(q), -1).max(axis=1) > 1e-12
        if not keep.any():
            keep[0] = True
        return _ExpSum(keys[keep], q[keep])

    def is_real(self) -> bool:
        rng = np.random.default_rng(0)
        for _ in range(3):
            phases = np.exp(1j * self.coef @ rng.uniform(-4, 4, self.coef.shape[1]))
            if np.abs(np.einsum("t,tij->ij", phases, self.q).imag).max() > 1e-9:
                return False
        return True


class _DensePlan:
    """Runtime form of a :class:`_Dense` stage: units of (Kronecker blocks of) gates, each
    unit a short product of :class:`_ExpSum` factors over the stage's angle vectors."""

    def __init__(self, stage: _Dense, weight_names, data_names, max_block: int = _MAX_BLOCK_QUBITS) -> None:
        self.stage = stage
        data = set(data_names)
        eigen = [p for prims in stage.groups.values() for p in prims if p.matrix is None]
        by_data = lambda p: any(s.name in data for s in p.angle.free_symbols)  # noqa: E731
        w_prims = [p for p in eigen if not by_data(p)]
        d_prims = [p for p in eigen if by_data(p)]
        self.angles_w = _AngleVector([p.angle for p in w_prims], weight_names, data_names) if w_prims else None
        self.angles_d = _AngleVector([p.angle for p in d_prims], weight_names, data_names) if d_prims else None
        self.n_w = len(w_prims)
        column = {id(p): i for i, p in enumerate(w_prims + d_prims)}
        g = len(column)

        def chain(prims: list[_Prim]) -> list[_ExpSum]:
            """The product of a group's gates, as few precomputed factors as size allows."""
            factors: list[_ExpSum] = []
            for p in prims:
                e = _ExpSum.of(p, column.get(id(p)), g)
                product = factors[-1].then(e) if factors else None
                if product is not None and product.size <= _MAX_EXPSUM_SIZE:
                    factors[-1] = product
                else:
                    factors.append(e)
            return factors

        # Units: Kronecker blocks of neighbouring one-qubit groups, then multi-qubit groups.
        chains = {k: chain(v) for k, v in stage.groups.items()}
        units: list[tuple[tuple[int, ...], list[_ExpSum], bool]] = []
        block: tuple[int, ...] = ()
        acc: _ExpSum | None = None
        for q in sorted(k[0] for k in chains if len(k) == 1):
            factors = chains[(q,)]
            if len(factors) > 1:  # a long product on one qubit stays a unit of its own
                units.append(((q,), factors, False))
                continue
            if acc is not None and block[-1] == q - 1 and len(block) < max_block:
                joined = acc.kron(factors[0])
                if joined.size <= _MAX_EXPSUM_SIZE:
                    block, acc = block + (q,), joined
                    continue
            if acc is not None:
                units.append((block, [acc], True))
            block, acc = (q,), factors[0]
        if acc is not None:
            units.append((block, [acc], True))
        units += [(k, f, False) for k, f in chains.items() if len(k) > 1]
        self.units = [(k, [(e, e.is_real()) for e in f], is_block) for k, f, is_block in units]

    def describe(self) -> str:
        """Kronecker blocks by size, other gates as ``m`` + their qubits."""
        return ",".join(str(len(k)) if b else "m" + "".join(map(str, k)) for k, _, b in self.units)

    def _matrix(self, e: _ExpSum, real: bool, env: _Env, angles) -> tuple[tf.Tensor, tf.Tensor | None]:
        """``(re, im | None)`` of one factor: ``(d, d)``, or ``(B, d, d)`` per sample."""
        d = e.q.shape[-1]
        qr, qi = e.q.real.reshape(len(e.q), -1), e.q.imag.reshape(len(e.q), -1)
        if not e.coef.any():  # constant
            return tf.constant(qr.reshape(d, d), tf.float32), None if real else tf.constant(qi.reshape(d, d), tf.float32)
        ang_w, ang_d = angles
        theta = None
        cw, cd = e.coef[:, : self.n_w], e.coef[:, self.n_w :]
        if cw.any():
            theta = tf.linalg.matvec(tf.constant(cw, tf.float32), ang_w)  # (T,)
        batched = bool(cd.any())
        if batched:
            td = tf.matmul(ang_d, tf.constant(cd.T, tf.float32))  # (B, T)
            theta = td if theta is None else td + theta
        theta = tf.reshape(theta, [-1, len(e.q)])  # (1 or B, T)
        cos, sin = tf.cos(theta), tf.sin(theta)
        shape = ([-1] if batched else []) + [d, d]

        def combine(c_part, s_part, sign):
            terms = []
            if np.any(c_part):
                terms.append(tf.matmul(cos, tf.constant(c_part, tf.float32)))
            if np.any(s_part):
                term = tf.matmul(sin, tf.constant(s_part, tf.float32))
                terms.append(term if sign > 0 else -term)
            return tf.reshape(_sum(terms), shape) if terms else tf.zeros(([tf.shape(theta)[0]] if batched else []) + [d, d])

        re = combine(qr, qi, -1)  # Re U = sum cos Re Q - sin Im Q
        return re, (None if real else combine(qi, qr, +1))  # Im U = sum cos Im Q + sin Re Q

    def apply(self, parts: list[tf.Tensor], env: _Env, n: int) -> list[tf.Tensor]:
        angles = (
            self.angles_w(env) if self.angles_w is not None else None,
            self.angles_d(env) if self.angles_d is not None else None,
        )
        for qubits, factors, _ in self.units:
            mr, mi = None, None
            for e, real in factors:
                fr, fi = self._matrix(e, real, env, angles)
                mr, mi = (fr, fi) if mr is None else _pair_matmul((fr, fi), (mr, mi))
            parts = _apply_matrix(parts, mr, mi, qubits, n)
        return parts


def _pair_matmul(a, b):
    """``a @ b`` for ``(re, im | None)`` pairs; a leading per-sample axis broadcasts."""

    def mm(x, y):
        if x.shape.rank != y.shape.rank:
            x, y = (tf.expand_dims(x, 0), y) if x.shape.rank == 2 else (x, tf.expand_dims(y, 0))
        return tf.matmul(x, y)

    (ar, ai), (br, bi) = a, b
    re = mm(ar, br) if ai is None or bi is None else mm(ar, br) - mm(ai, bi)
    ims = ([mm(ar, bi)] if bi is not None else []) + ([mm(ai, br)] if ai is not None else [])
    return re, (_sum(ims) if ims else None)


def _apply_matrix(parts, mr, mi, qubits: tuple[int, ...], n: int) -> list[tf.Tensor]:
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


class _PhasePermPlan:
    """Runtime form of a :class:`_PhasePerm` stage."""

    def __init__(self, stage: _PhasePerm, weight_names, data_names) -> None:
        self.stage = stage
        self.keys = list(stage.coefs)
        self.angles = _AngleVector(self.keys, weight_names, data_names) if self.keys else None
        self.coef = np.array([stage.coefs[k] for k in self.keys]) if self.keys else None

    def apply(self, parts: list[tf.Tensor], env: _Env, n: int) -> list[tf.Tensor]:
        st = self.stage
        if not st.identity_perm:
            parts = [_permute(x, st.sigma, st.inverse) for x in parts]
        if st.real:
            if st.trivial_phase:
                return parts
            signs = tf.constant(st.signs[:, None], tf.float32)
            return [x * signs for x in parts]
        phi = tf.constant(st.const[:, None], tf.float32)  # (N, 1)
        if self.angles is not None:
            a = self.angles(env)
            coef = tf.constant(self.coef, tf.float32)  # (G, N)
            if self.angles.batched:
                phi = phi + tf.matmul(coef, a, transpose_a=True, transpose_b=True)  # (N, B)
            else:
                phi = phi + tf.reshape(tf.linalg.matvec(coef, a, transpose_a=True), [-1, 1])
        cos, sin = tf.cos(phi), tf.sin(phi)
        if not self.angles or not self.angles.batched:
            cos, sin = _materialize(cos), _materialize(sin)
        if len(parts) == 1:
            return [parts[0] * cos, parts[0] * sin]
        re, im = parts
        return [re * cos - im * sin, re * sin + im * cos]


# --------------------------------------------------------------------------- public API


class CompiledCircuit:
    """A circuit compiled by :func:`compile_circuit`; call it to get expectation values.

    Attributes:
        n_qubits: Number of qubits (state width ``2**n_qubits``).
        n_outputs: Number of observables (output columns).
        qubits: Qubit order; ``qubits[0]`` is the most significant bit of a basis index.
        data_symbols: Names of per-sample symbols, in the column order of ``data``.
        weight_symbols: Names of shared symbols, in the order of ``weights``.
        jit_compile: Whether the TensorFlow program is compiled with XLA.
    """

    def __init__(self, qubits, data_names, weight_names, stages, obs_weights, n_outputs: int, jit_compile: bool) -> None:
        self.qubits = tuple(qubits)
        self.n_qubits = len(self.qubits)
        self.data_symbols = tuple(data_names)
        self.weight_symbols = tuple(weight_names)
        self.jit_compile = jit_compile
        self.n_outputs = n_outputs
        n = self.n_qubits
        plans = [
            (_DensePlan if isinstance(s, _Dense) else _PhasePermPlan)(s, weight_names, data_names) for s in stages
        ]
        self._plans = plans
        # Diagonal observables only see |psi|^2: fold a trailing phase-permutation into them.
        self._expect_plans = plans
        if set(obs_weights) <= {0} and stages and isinstance(stages[-1], _PhasePerm):
            self._expect_plans = plans[:-1]
            if obs_weights:
                obs_weights = {0: obs_weights[0][stages[-1].inverse]}
        self._observables = []
        for mask, w in sorted(obs_weights.items()):
            perm = np.arange(2**n) ^ mask
            im = w.imag.astype(np.float32) if np.abs(w.imag).max() > 0 else None
            self._observables.append((mask, perm, w.real.astype(np.float32), im))
        self._functions: dict[tuple, Any] = {}

    def __repr__(self) -> str:
        return (
            f"CompiledCircuit(n_qubits={self.n_qubits}, n_outputs={self.n_outputs}, "
            f"data_symbols={len(self.data_symbols)}, weight_symbols={len(self.weight_symbols)}, "
            f"stages='{self.describe()}', jit_compile={self.jit_compile})"
        )

    def describe(self) -> str:
        """The compiled stages, e.g. ``D[4,4] P[perm,phase]``: ``D[...]`` applies one-qubit
        Kronecker blocks (sizes) and multi-qubit gates (``m`` + qubits); ``P[...]`` one
        gather (``perm``) and/or one elementwise ``sign``/``phase`` multiply."""
        tokens = []
        for plan in self._plans:
            s = plan.stage
            if isinstance(s, _Dense):
                tokens.append(f"D[{plan.describe()}]")
            else:
                parts = ([] if s.identity_perm else ["perm"]) + ([] if s.trivial_phase else ["sign" if s.real else "phase"])
                tokens.append(f"P[{','.join(parts)}]")
        return " ".join(tokens)

    # ----------------------------------------------------------------- calling

    @tf.autograph.experimental.do_not_convert
    def __call__(self, weights: Any, *, data: Any = None, state: Any = None) -> tf.Tensor:
        """Expectation values of the observables.

        Args:
            weights: ``(W,)`` float32 values of ``weight_symbols``.
            data: ``(B, len(data_symbols))`` float32 per-sample symbol values; required iff the
                circuit has data symbols (a ``(B, 0)`` tensor may be passed to set ``B``).
            state: Optional initial states ``(B, 2**n_qubits)``, real float (e.g. an
                L2-normalised amplitude encoding; not renormalised here) or complex64.
                Default ``|0...0>``.

        Returns:
            ``(B, n_outputs)`` float32 real parts of the expectation values (``B = 1`` when
            neither data nor state is given). Differentiable w.r.t. weights, data and state,
            to any order.

        Raises:
            InputError: on a wrong shape, a missing ``data``, or a non-finite ``state``
                (the non-finite check runs in eager mode only).
        """
        return self._run("expect", weights, data, state)

    @tf.autograph.experimental.do_not_convert
    def state_vector(self, weights: Any, *, data: Any = None, state: Any = None) -> tf.Tensor:
        """Final states ``(B, 2**n_qubits)`` complex64; same arguments as :meth:`__call__`."""
        return self._run("state", weights, data, state)

    def _run(self, mode: str, weights, data, state) -> tf.Tensor:
        w, d, s = self._validate(weights, data, state)
        if not tf.executing_eagerly() and (not self.jit_compile or _in_xla_context()):
            # Inside the caller's tf.function (or its XLA cluster): add the ops to its graph.
            # No function boundary: cheaper higher-order gradients, and no forward-pass
            # tensors crossing into an XLA cluster as compile-time constants.
            return self._program(mode, w, d, s)
        key = (mode, d is not None, None if s is None else s.dtype)
        fn = self._functions.get(key)
        if fn is None:
            fn = self._functions[key] = self._make_function(*key)
        return fn(*[t for t in (w, d, s) if t is not None])

    def _make_function(self, mode: str, has_data: bool, state_dtype):
        signature = [tf.TensorSpec([len(self.weight_symbols)], tf.float32)]
        if has_data:
            signature.append(tf.TensorSpec([None, len(self.data_symbols)], tf.float32))
        if state_dtype is not None:
            signature.append(tf.TensorSpec([None, 2**self.n_qubits], state_dtype))

        def program(*args):
            d = args[1] if has_data else None
            s = args[-1] if state_dtype is not None else None
            return self._program(mode, args[0], d, s)

        # A fixed signature with a free batch size: one trace per (mode, inputs) variant.
        # autograph=False: the program is straight-line Python; converting it only costs time.
        return tf.function(program, input_signature=signature, jit_compile=self.jit_compile, autograph=False)

    def _validate(self, weights, data, state):
        n_w, n_d, width = len(self.weight_symbols), len(self.data_symbols), 2**self.n_qubits
        w = _to_float(weights, "weights")
        if w.shape.rank is not None and (w.shape.rank != 1 or w.shape[0] not in (None, n_w)):
            shown = f"{list(self.weight_symbols)[:8]}{'...' if n_w > 8 else ''}"
            raise InputError(f"weights: expected shape ({n_w},) for weight symbols {shown}, received {tuple(w.shape)}")
        batch = None
        d = None
        if data is not None:
            d = _to_float(data, "data")
            if d.shape.rank != 2 or d.shape[1] not in (None, n_d):
                raise InputError(
                    f"data: expected shape (batch, {n_d}) for data symbols {list(self.data_symbols)}, "
                    f"received {tuple(d.shape)}"
                )
            batch = d.shape[0]
        elif n_d:
            raise InputError(f"data: the circuit has data symbols {list(self.data_symbols)}; pass data of shape (batch, {n_d})")
        s = None
        if state is not None:
            s = tf.convert_to_tensor(state)
            if s.dtype.is_complex:
                s = tf.cast(s, tf.complex64)
            elif s.dtype.is_floating:
                s = tf.cast(s, tf.float32)
            else:
                raise InputError(f"state: expected a float32 or complex64 tensor, received dtype {s.dtype.name}")
            if s.shape.rank != 2 or s.shape[1] not in (None, width):
                raise InputError(f"state: expected shape (batch, {width}) for {self.n_qubits} qubits, received {tuple(s.shape)}")
            if batch is not None and s.shape[0] is not None and s.shape[0] != batch:
                raise InputError(f"state: expected the data batch size {batch}, received batch size {s.shape[0]}")
            if tf.executing_eagerly():
                finite = tf.math.is_finite(tf.math.real(s)) & tf.math.is_finite(tf.math.imag(s))
                if not bool(tf.reduce_all(finite)):
                    bad = np.unique(np.nonzero(~finite.numpy())[0])
                    raise InputError(f"state: expected finite amplitudes, received NaN/inf in sample(s) {bad[:10].tolist()}")
        return w, d, s

    # ----------------------------------------------------------------- the TF program

    def _program(self, mode: str, w: tf.Tensor, d: tf.Tensor | None, s: tf.Tensor | None) -> tf.Tensor:
        n = self.n_qubits
        env = _Env(w, d, self.weight_symbols, self.data_symbols)
        # The state is carried basis-major, (2**n, B): gates become matmuls from the left
        # and permutations gather contiguous rows. One tensor while real, (re, im) after.
        if s is None:
            batch = tf.shape(d)[0] if d is not None else 1
            parts = [tf.one_hot(tf.zeros([batch], tf.int32), 2**n, axis=0)]
        elif s.dtype.is_complex:
            parts = [tf.transpose(tf.math.real(s), [1, 0]), tf.transpose(tf.math.imag(s), [1, 0])]
        else:
            parts = [tf.transpose(s, [1, 0])]
        for plan in self._plans if mode == "state" else self._expect_plans:
            parts = plan.apply(parts, env, n)
        if mode == "state":
            im = parts[1] if len(parts) == 2 else tf.zeros_like(parts[0])
            return tf.transpose(tf.complex(parts[0], im), [1, 0])
        return self._expectations(parts)

    def _expectations(self, parts: list[tf.Tensor]) -> tf.Tensor:
        out = []
        for mask, perm, wr, wi in self._observables:
            if mask == 0:
                prob = _sum([tf.square(x) for x in parts])
                out.append(tf.matmul(prob, wr, transpose_a=True))
                continue
            flipped = [_permute(x, perm, perm) for x in parts]
            r = _sum([x * y for x, y in zip(parts, flipped)])  # Re conj(psi[x^m]) psi[x]
            e = tf.matmul(r, wr, transpose_a=True)
            if wi is not None and len(parts) == 2:
                s_ = parts[1] * flipped[0] - parts[0] * flipped[1]  # Im conj(psi[x^m]) psi[x]
                e = e - tf.matmul(s_, wi, transpose_a=True)
            out.append(e)
        if not out:
            return tf.zeros([tf.shape(parts[0])[1], self.n_outputs])
        return _sum(out)


def _to_float(value: Any, name: str) -> tf.Tensor:
    t = tf.convert_to_tensor(value)
    if not (t.dtype.is_floating or t.dtype.is_integer):
        raise InputError(f"{name}: expected a real float32 tensor, received dtype {t.dtype.name}")
    return tf.cast(t, tf.float32) if t.dtype != tf.float32 else t


def _names(symbols: Sequence[sympy.Symbol | str], what: str) -> list[str]:
    names = [s if isinstance(s, str) else getattr(s, "name", None) for s in symbols]
    if any(not isinstance(s, str) for s in names):
        raise InputError(f"{what}: expected sympy.Symbol or str entries, received {list(symbols)!r}")
    dup = sorted({s for s in names if names.count(s) > 1})
    if dup:
        raise InputError(f"{what}: symbols listed twice: {dup}")
    return names


def compile_circuit(
    circuit: cirq.Circuit,
    *,
    qubits: Sequence[cirq.Qid] | None = None,
    data_symbols: Sequence[sympy.Symbol] = (),
    weight_symbols: Sequence[sympy.Symbol] = (),
    observables: Sequence[ObservableLike],
    jit_compile: bool = True,
) -> CompiledCircuit:
    """Compile a Cirq circuit into a batched, differentiable TensorFlow program.

    Args:
        circuit: The circuit. Terminal measurements are ignored; see the module docstring.
        qubits: Qubit order (``qubits[0]`` = most significant bit, Cirq's order). Default:
            ``sorted`` qubits of the circuit and the observables. Pass it explicitly when some
            qubit (e.g. of ``LineQubit.range(n)``) is untouched by the circuit.
        data_symbols: Per-sample symbols, in the column order of ``data``.
        weight_symbols: Symbols shared by the batch, in the order of ``weights``.
        observables: Pauli sums or strings; one output column each.
        jit_compile: Compile the program with XLA (``tf.function(jit_compile=True)``).

    Returns:
        The :class:`CompiledCircuit`.

    Raises:
        InputError: if a circuit symbol is in neither symbol list, the lists overlap, or an
            observable acts on a qubit outside ``qubits``.
        UnsupportedGateError: for a non-unitary operation or a symbolic gate outside
            :data:`SUPPORTED_FAMILIES`.
    """
    data_names = _names(data_symbols, "data_symbols")
    weight_names = _names(weight_symbols, "weight_symbols")
    both = sorted(set(data_names) & set(weight_names))
    if both:
        raise InputError(f"symbols {both} are listed both as data and as weight symbols")
    circuit = cirq.unroll_circuit_op(circuit, deep=True, tags_to_check=None)
    missing = sorted({s.name for s in cirq.parameter_symbols(circuit)} - set(data_names) - set(weight_names))
    if missing:
        raise InputError(
            f"circuit symbols {missing} are in neither data_symbols {data_names} nor weight_symbols "
            f"{weight_names[:10]}{'...' if len(weight_names) > 10 else ''}"
        )
    if not circuit.are_all_measurements_terminal():
        raise UnsupportedGateError("mid-circuit measurements are not supported; only terminal measurements (ignored)")
    if qubits is None:
        obs_qubits = {q for o in observables for q in o.qubits}
        qubits = sorted(set(circuit.all_qubits()) | obs_qubits)
    qubits = list(qubits)
    if len(set(qubits)) != len(qubits):
        raise InputError(f"qubits: listed twice in {qubits}")
    if any(q.dimension != 2 for q in qubits):
        raise InputError("qubits: only qubits of dimension 2 are supported")
    pos = {q: i for i, q in enumerate(qubits)}
    outside = sorted(set(circuit.all_qubits()) - set(pos), key=str)
    if outside:
        raise InputError(f"circuit acts on {outside}, which are not in qubits {qubits}")
    n = len(qubits)
    if n > _MAX_QUBITS:
        raise InputError(f"qubits: the state-vector kernel supports up to {_MAX_QUBITS} qubits, received {n}")
    prims: list[_Prim] = []
    for op in circuit.all_operations():
        if cirq.is_measurement(op):
            continue
        prims += _lower_op(op.untagged, pos)
    stages = _schedule(prims, n)
    for st in stages:
        if isinstance(st, _PhasePerm):
            st.finish()
    obs_weights = _observable_weights(list(observables), pos, n)
    return CompiledCircuit(qubits, data_names, weight_names, stages, obs_weights, len(observables), jit_compile)
