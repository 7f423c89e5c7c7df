"""The benchmark workload in PennyLane (``default.qubit``, Torch backprop): the peer to beat.

The same computation as ``encoder → hardware_efficient → ⟨Z⟩ each`` through a qkernel
backend (checked to ≤1e-4 in ``tests/qkernel/test_bench.py``):

* ``qml.AmplitudeEmbedding(features, wires, normalize=True)`` or
  ``qml.AngleEmbedding(features, wires, rotation="Y")`` with the batch on the embedding
  (parameter broadcasting: one simulation of the whole batch, not one tape per sample);
* per layer ``qml.RY`` then ``qml.RZ`` on every wire, then a CNOT ring
  (``CNOT(i, i+1 mod n)``; one CNOT for two wires, as :mod:`plugins.ansatzes` does);
* ``[qml.expval(qml.PauliZ(w)) for w in wires]``.

Weights are the ansatz's flat vector (layer, then qubit, then ``RY``/``RZ``), so the same
numbers drive both implementations. PennyLane and Torch are optional (the ``bench`` extra)
and imported only when a reference is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from qkernel.errors import QDistillError

__all__ = ["ENCODERS", "PennyLaneReference", "ReferenceUnavailableError", "require"]

#: Encoders the reference implements (qkernel encoder name → PennyLane embedding).
ENCODERS = ("amplitude", "angle")

_INSTALL_HINT = 'pip install -e ".[bench]"  (pennylane==0.45.*, torch==2.13.0)'


class ReferenceUnavailableError(QDistillError, ImportError):
    """PennyLane or PyTorch is not installed; the message says how to install them."""


def require() -> tuple[Any, Any]:
    """Import PennyLane and PyTorch.

    Returns:
        ``(pennylane, torch)``.

    Raises:
        ReferenceUnavailableError: naming the missing package and the install command.
    """
    try:
        import torch
        import pennylane as qml
    except ImportError as exc:
        raise ReferenceUnavailableError(
            f"the PennyLane reference needs PennyLane and PyTorch ({exc.name or exc} is missing); "
            f"install the benchmark extra: {_INSTALL_HINT}"
        ) from exc
    return qml, torch


def _ring(n: int) -> list[tuple[int, int]]:
    """CNOT pairs of one ring, matching ``plugins.ansatzes._ring``."""
    if n < 2:
        return []
    if n == 2:
        return [(0, 1)]
    return [(i, (i + 1) % n) for i in range(n)]


class PennyLaneReference:
    """The workload as a PennyLane QNode on ``default.qubit`` with Torch backprop.

    Args:
        n_qubits: Number of wires.
        encoder: ``"amplitude"`` or ``"angle"`` (rotation ``Y``, scale 1).
        depth: Hardware-efficient layers.
        dtype: Torch dtype name of features and weights (``"float32"``, as the TF
            backends, or ``"float64"``).

    Raises:
        ReferenceUnavailableError: PennyLane or PyTorch is not installed.
        ValueError: an encoder other than :data:`ENCODERS`.
    """

    def __init__(self, n_qubits: int, encoder: str, depth: int = 5, dtype: str = "float32") -> None:
        if encoder not in ENCODERS:
            raise ValueError(f"PennyLane reference: encoder must be one of {', '.join(ENCODERS)}; got {encoder!r}")
        qml, torch = require()
        self._torch = torch
        self.n_qubits = int(n_qubits)
        self.encoder = encoder
        self.depth = int(depth)
        self.dtype = getattr(torch, dtype)
        self.n_features = 2**self.n_qubits if encoder == "amplitude" else self.n_qubits
        self.n_weights = 2 * self.n_qubits * self.depth
        wires = list(range(self.n_qubits))
        ring = _ring(self.n_qubits)
        device = qml.device("default.qubit", wires=wires)

        def circuit(features: Any, weights: Any) -> list[Any]:
            if encoder == "amplitude":
                qml.AmplitudeEmbedding(features, wires, normalize=True)
            else:
                qml.AngleEmbedding(features, wires, rotation="Y")
            for layer in range(self.depth):
                for w in wires:
                    qml.RY(weights[layer, w, 0], wires=w)
                for w in wires:
                    qml.RZ(weights[layer, w, 1], wires=w)
                for a, b in ring:
                    qml.CNOT(wires=[a, b])
            return [qml.expval(qml.PauliZ(w)) for w in wires]

        self.qnode = qml.QNode(circuit, device, interface="torch", diff_method="backprop")

    def _tensors(self, features: np.ndarray, weights: np.ndarray) -> tuple[Any, Any]:
        features = np.asarray(features)
        weights = np.asarray(weights)
        if features.ndim != 2 or features.shape[1] != self.n_features:
            raise ValueError(f"expected features (batch, {self.n_features}); received {features.shape}")
        if weights.shape != (self.n_weights,):
            raise ValueError(f"expected weights ({self.n_weights},); received {weights.shape}")
        torch = self._torch
        x = torch.tensor(features, dtype=self.dtype, requires_grad=True)
        w = torch.tensor(weights.reshape(self.depth, self.n_qubits, 2), dtype=self.dtype, requires_grad=True)
        return x, w

    def _loss(self, x: Any, w: Any) -> tuple[Any, Any]:
        out = self._torch.stack(list(self.qnode(x, w)), dim=1)  # (batch, n_qubits)
        return out, out.sum()

    def forward(self, features: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``⟨Z_i⟩`` as float64 ``(batch, n_qubits)``."""
        x, w = self._tensors(features, weights)
        with self._torch.no_grad():
            out, _ = self._loss(x, w)
        return out.detach().numpy().astype(np.float64)

    def value_and_grad(self, features: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, ...]:
        """Outputs and the gradients of their sum w.r.t. the flat weights and the features."""
        x, w = self._tensors(features, weights)
        out, loss = self._loss(x, w)
        loss.backward()
        return (out.detach().numpy().astype(np.float64), w.grad.numpy().reshape(-1).astype(np.float64),
                x.grad.numpy().astype(np.float64))

    def train_step(self, features: np.ndarray, weights: np.ndarray) -> Callable[[], float]:
        """One step as a closure: forward, ``loss = sum(outputs)``, ``backward()`` to weights and features.

        The tensors are built once; each call clears the gradients and runs the step.
        """
        x, w = self._tensors(features, weights)

        def step() -> float:
            x.grad = None
            w.grad = None
            _, loss = self._loss(x, w)
            loss.backward()
            return float(loss.detach())

        return step
