"""Fusion: pieces into blocks of a few qubits, each block a short chain of precomputed factors.

The second step of :func:`qkernel.sim.noisy.compile_noisy_circuit`. A compiled 8-qubit
student on ``weber`` has ~19 000 noisy operations (a thermal channel on every qubit in
every moment, a depolarising channel and a coherent entangler error after every gate);
applying each to a ``4**8``-entry density matrix would be slow. Instead, pieces are fused
greedily, as qsim fuses gates: each qubit belongs to at most one *open block*; a piece joins
(and merges) the open blocks of its qubits while their union has at most ``max_qubits``
qubits, otherwise those blocks are closed (emitted) and the piece opens a new one. Blocks
on disjoint qubits commute, so the emission order is a valid order of application.

Within a block, pieces are embedded into the block's qubits and multiplied at compile
time as :class:`~qkernel.sim.plans.ExpSum` s (constants fold completely; symbolic gates add
terms), starting a new factor whenever a product would exceed ``_MAX_FACTOR_SIZE`` numbers.
At run time a block costs one small matrix per factor, a few tiny products and **one**
application to the state. Trajectory-mode channels cannot join a gate block (each
trajectory samples them): they close the blocks on their qubits, and consecutive channels
(with the constant gates between them) fold into one channel with the fewest Kraus operators.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from qkernel.sim.noisy.pieces import Piece, permute_operator
from qkernel.sim.plans import ExpSum

__all__ = ["Block", "Factor", "fuse"]

#: Largest ``terms * d * d`` of one precomputed factor (the kernel's ExpSum bound).
_MAX_FACTOR_SIZE = 2**16


@dataclass
class Factor:
    """``sum_t exp(i coef[t] · angles[cols]) Q_t`` on a block's qubits.

    Attributes:
        op: The exponential sum; its coefficient columns are :attr:`cols`.
        cols: Global angle indices.
    """

    op: ExpSum
    cols: tuple[int, ...]

    def then(self, later: Factor) -> Factor:
        """``later · self`` over the union of both angle sets."""
        cols = tuple(sorted(set(self.cols) | set(later.cols)))
        return Factor(_widen(self, cols).then(_widen(later, cols)), cols)

    @property
    def constant(self) -> bool:
        """No angle dependence (a single constant matrix)."""
        return not self.op.coef.any()


def _widen(f: Factor, cols: tuple[int, ...]) -> ExpSum:
    coef = np.zeros((len(f.op.coef), len(cols)))
    for j, c in enumerate(f.cols):
        coef[:, cols.index(c)] = f.op.coef[:, j]
    return ExpSum(coef, f.op.q)


@dataclass
class Block:
    """Pieces fused on ascending register positions :attr:`qubits`, or one unfused channel.

    Attributes:
        qubits: Register positions of the block, ascending.
        pieces: The fused pieces, in order (empty for a channel).
        channel: A trajectory-mode channel applied on its own.
        factors: Filled by :meth:`finish`: the block's operator as a product, first factor first.
    """

    qubits: tuple[int, ...]
    pieces: list[Piece] = field(default_factory=list)
    channel: Piece | None = None
    factors: list[Factor] = field(default_factory=list)

    def finish(self, local_dim: int) -> None:
        """Embed the pieces into the block's qubits and multiply them into few factors."""
        factors: list[Factor] = []
        for piece in self.pieces:
            f = Factor(_embed(piece.op, piece.qubits, self.qubits, local_dim), piece.angles)
            if factors:
                product = factors[-1].then(f)
                if product.op.size <= _MAX_FACTOR_SIZE or (factors[-1].constant and f.constant):
                    factors[-1] = product
                    continue
            factors.append(f)
        self.factors = factors
        self.pieces = []


def _embed_array(q: np.ndarray, qubits: tuple[int, ...], block: tuple[int, ...], local_dim: int) -> np.ndarray:
    """Operators ``q`` ``(T, d, d)`` on ``qubits`` as operators on ``block`` (identity on the others)."""
    if qubits == block:
        return q
    rest = [b for b in block if b not in qubits]
    eye = np.eye(local_dim ** len(rest))
    out = np.einsum("tij,kl->tikjl", q, eye).reshape(len(q), *(2 * (q.shape[1] * len(eye),)))
    current = list(qubits) + rest
    return permute_operator(out, [current.index(b) for b in block], local_dim)


def _embed(op: ExpSum, qubits: tuple[int, ...], block: tuple[int, ...], local_dim: int) -> ExpSum:
    """``op`` on ``qubits`` as an operator on ``block`` (identity on the others)."""
    return ExpSum(op.coef, _embed_array(op.q, qubits, block, local_dim))


def _compose(first: Sequence[Piece], later: Piece, qubits: tuple[int, ...]) -> Piece:
    """One channel on ``qubits``: the channels ``first`` (in order), then ``later``, with the
    fewest Kraus operators.

    Kraus sets ``{K_k}`` with the same ``C = Σ_k vec(K_k) vec(K_k)†`` (the Choi matrix) are
    the same channel; the eigenvectors of ``C`` give the smallest such set (at most
    ``4**len(qubits)`` operators).
    """
    d = 2 ** len(qubits)
    pieces = (*first, later)
    kraus = _embed_array(_kraus(pieces[0]), pieces[0].qubits, qubits, 2)
    for piece in pieces[1:]:
        ks = _embed_array(_kraus(piece), piece.qubits, qubits, 2)
        vecs = np.einsum("bij,ajk->abik", ks, kraus).reshape(-1, d * d)
        values, vectors = np.linalg.eigh(vecs.T @ vecs.conj())
        keep = values > 1e-12 * values[-1]
        kraus = (np.sqrt(values[keep]) * vectors[:, keep]).T.reshape(-1, d, d)
    return Piece(qubits, kraus=kraus)


def _kraus(piece: Piece) -> np.ndarray:
    """A channel's Kraus operators, or a constant gate's unitary as the single one."""
    return piece.kraus if piece.is_channel else piece.op.q.sum(axis=0)[None]


def fuse(pieces: Sequence[Piece], max_qubits: int, local_dim: int) -> list[Block]:
    """Greedy fusion of ``pieces`` into blocks of at most ``max_qubits`` positions (see the module docstring).

    A piece wider than ``max_qubits`` becomes a block of its own width. Trajectory mode also
    folds channels, and constant gates that follow channels, into the latest channels on
    their qubits (while nothing else acted there since and the union stays within
    ``max_qubits``): a layer of noise after a gate becomes one channel to sample.
    """
    out: dict[int, Block] = {}  # emitted blocks by id, in order (a folded channel moves to the end)
    open_: dict[int, Block] = {}
    last: dict[int, Block] = {}  # the latest emitted block on each position

    def emit(block: Block) -> None:
        for q in block.qubits:
            open_.pop(q, None)
            last[q] = block
        if block.channel is None:
            block.finish(local_dim)
        out[id(block)] = block

    for piece in pieces:
        touching = list({id(open_[q]): open_[q] for q in piece.qubits if q in open_}.values())
        constant_gate = not piece.is_channel and not piece.angles and local_dim == 2
        if piece.is_channel or (constant_gate and not touching):
            for block in touching:  # gates pending on these qubits act first
                emit(block)
            prior = {id(last[q]): last[q] for q in piece.qubits if q in last and last[q].channel is not None}
            mergeable = [b for b in prior.values() if all(last.get(q) is b for q in b.qubits)]
            union = tuple(sorted(set(piece.qubits).union(*(b.qubits for b in mergeable))))
            if mergeable and len(union) <= max_qubits:
                for m in mergeable:  # nothing acted on their qubits since: they may move to the end
                    del out[id(m)]
                emit(Block(union, channel=_compose([b.channel for b in mergeable], piece, union)))
                continue
            if piece.is_channel:
                emit(Block(piece.qubits, channel=piece))
                continue
        union_ = set(piece.qubits).union(*(b.qubits for b in touching))
        if len(union_) <= max_qubits:
            merged = Block(tuple(sorted(union_)), [p for b in touching for p in b.pieces] + [piece])
        else:
            for block in touching:
                emit(block)
            merged = Block(piece.qubits, [piece])
        for q in merged.qubits:
            open_[q] = merged
    for block in list({id(b): b for b in open_.values()}.values()):
        emit(block)
    return list(out.values())
