"""One dataset-distillation outer step for the quantum LeNet in PennyLane + PyTorch: the peer to beat.

The same computation as :func:`qkernel.methods.dd.performance_matching.make_outer_step` on
``plugins.qlenet.QuantumLeNet`` (checked in ``tests/qkernel/test_dd_pennylane.py``):

* the LeNet trunk in ``torch.nn.functional`` (Keras NHWC weights used as they are: kernels
  are permuted to OIHW on the fly and the conv output is permuted back to NHWC before
  ``flatten``, so ``fc1``'s kernel lines up);
* ``fc2`` → ``qml.AmplitudeEmbedding(F2, wires, normalize=True)`` (wire 0 = most significant
  bit, as cirq) → ``qml.StronglyEntanglingLayers`` (default ranges ``layer % (n−1) + 1``, the
  ``strongly_entangling`` ansatz) → per qubit ``qml.expval(qml.Hermitian(H_i))`` with
  ``H_i = (A_i + A_i†)/2`` built in Torch from ``a_real``/``a_imag`` (gradients flow into them,
  to second order), or ``⟨Z_i⟩`` for ``readout="z"``. ``observable="pauli"`` measures
  ``⟨X_i⟩,⟨Y_i⟩,⟨Z_i⟩`` instead and forms ``h0 + hx⟨X⟩ + hy⟨Y⟩ + hz⟨Z⟩`` in Torch, as the native
  model does (:func:`qkernel.sim.observables.hermitian_coefficients`); same values, ~1.5× slower;
* ``fc_q``, ``ReLU(fc_c)``, ``mix`` (``α``), ``out``;
* inner steps ``w ← w − softplus(ρ_t)·∇_w CE`` with ``create_graph=True``, outer CE on real
  data, ``torch.autograd.grad`` to the synthetic images and the raw rates (second order).

The circuit weights are passed to the QNode explicitly, as tensors. A
``qml.qnn.TorchLayer`` called through ``torch.func.functional_call`` keeps reading its own
``nn.Parameter`` objects (``TorchLayer.qnode_weights``, a plain dict the re-parametrisation
does not touch), so the substituted — inner-updated — circuit weights get no gradient and
never change: the published code's bug (REFERENCE B), shown by
:func:`torchlayer_functional_call_gradients`.

Precision: parameters and images are float32 and the state stays ``complex64``, but
``default.qubit`` returns the expectation values as float64 (for Pauli observables and
``qml.Hermitian`` alike); they are cast back to float32 before the classical head.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from benchmarks.pennylane_ref import require

__all__ = [
    "LAYER_WEIGHTS",
    "OBSERVABLES",
    "READOUTS",
    "DDReference",
    "time_outer_step",
    "torchlayer_functional_call_gradients",
]

#: Readouts of the quantum LeNet the reference implements.
READOUTS = ("hermitian", "hermitian-fixed", "z")

#: How the Hermitian readouts are measured (see the module docstring).
OBSERVABLES = ("hermitian", "pauli")

#: Layers holding weights, in ``model.layers`` order, and their weights in ``layer.weights`` order.
LAYER_WEIGHTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("conv1", ("kernel", "bias")),
    ("conv2", ("kernel", "bias")),
    ("fc1", ("kernel", "bias")),
    ("fc2", ("kernel", "bias")),
    ("pqc", ("circuit_weights",)),
    ("hermitian", ("a_real", "a_imag")),
    ("fc_q", ("kernel", "bias")),
    ("fc_c", ("kernel", "bias")),
    ("mix", ("alpha",)),
    ("out", ("kernel", "bias")),
)


class DDReference:
    """The quantum LeNet and its DD outer step on ``default.qubit`` (Torch backprop, broadcasting).

    Parameters keep the Keras shapes (``conv1/kernel`` is HWIO ``(5, 5, 1, 6)``, dense
    kernels ``(in, out)``), so they compare one to one with ``model.trainable_variables``.

    Args:
        weights: ``{layer name: [arrays in layer.weights order]}`` of a built ``quantum_lenet``
            (see :meth:`from_keras`); ``hermitian`` is ignored for ``readout="z"``.
        readout: One of :data:`READOUTS`; ``hermitian-fixed`` keeps ``a_real``/``a_imag`` constant.
        observable: ``"hermitian"`` (``qml.Hermitian`` per qubit) or ``"pauli"`` (X, Y, Z per
            qubit, combined in Torch); ignored for ``readout="z"``.

    Attributes:
        names: ``"layer/weight"`` of each trainable parameter, in ``model.trainable_variables`` order.
        params: Those parameters as float32 leaf tensors with ``requires_grad``.
        n_qubits, depth: Circuit size, read off the ``fc2`` and ``pqc`` weight shapes.

    Raises:
        ReferenceUnavailableError: PennyLane or PyTorch is not installed.
        ValueError: an unknown readout or observable, or a missing layer or weight.
    """

    def __init__(
        self, weights: Mapping[str, Sequence[np.ndarray]], readout: str = "hermitian", observable: str = "hermitian"
    ) -> None:
        if readout not in READOUTS:
            raise ValueError(f"DD reference: readout must be one of {', '.join(READOUTS)}; got {readout!r}")
        if observable not in OBSERVABLES:
            raise ValueError(f"DD reference: observable must be one of {', '.join(OBSERVABLES)}; got {observable!r}")
        qml, torch = require()
        self._torch = torch
        self.readout = readout
        self.observable = "z" if readout == "z" else observable
        self.names: list[str] = []
        self.params: list[Any] = []
        self._constants: dict[str, Any] = {}
        for layer, slots in LAYER_WEIGHTS:
            if layer == "hermitian" and readout == "z":
                continue
            arrays = list(weights.get(layer, ()))
            if len(arrays) != len(slots):
                raise ValueError(
                    f"DD reference: layer {layer!r} needs weights {list(slots)}; received {len(arrays)} array(s)"
                )
            for slot, array in zip(slots, arrays):
                tensor = torch.tensor(np.asarray(array), dtype=torch.float32)
                if layer == "hermitian" and readout == "hermitian-fixed":
                    self._constants[f"{layer}/{slot}"] = tensor
                else:
                    self.names.append(f"{layer}/{slot}")
                    self.params.append(tensor.requires_grad_(True))
        n_features = int(np.asarray(weights["fc2"][0]).shape[1])
        self.n_qubits = n_features.bit_length() - 1
        if 2**self.n_qubits != n_features:
            raise ValueError(f"DD reference: fc2 must have 2**n outputs for amplitude encoding; got {n_features}")
        self.depth = int(np.asarray(weights["pqc"][0]).size) // (3 * self.n_qubits)
        wires = list(range(self.n_qubits))
        paulis = {"z": (qml.PauliZ,), "pauli": (qml.PauliX, qml.PauliY, qml.PauliZ)}.get(self.observable, ())

        def circuit(features: Any, angles: Any, hermitians: Any = None) -> list[Any]:
            qml.AmplitudeEmbedding(features, wires, normalize=True)
            qml.StronglyEntanglingLayers(angles, wires)
            if hermitians is not None:
                return [qml.expval(qml.Hermitian(hermitians[w], wires=w)) for w in wires]
            return [qml.expval(pauli(w)) for w in wires for pauli in paulis]  # qubit-major, as xyz_each

        device = qml.device("default.qubit", wires=wires)
        self.qnode = qml.QNode(circuit, device, interface="torch", diff_method="backprop")

    @classmethod
    def from_keras(cls, model: Any, observable: str = "hermitian") -> DDReference:
        """Reference with the current weights of a built ``quantum_lenet`` Keras model (readout inferred)."""
        weights = {layer.name: [w.numpy() for w in layer.weights] for layer in model.layers if layer.weights}
        if "hermitian" not in weights:
            readout = "z"
        else:
            readout = "hermitian" if model.get_layer("hermitian").trainable else "hermitian-fixed"
        return cls(weights, readout, observable)

    # ------------------------------------------------------------------ model

    def _named(self, params: Mapping[str, Any] | Sequence[Any] | None) -> dict[str, Any]:
        if params is None:
            params = self.params
        if isinstance(params, Mapping):
            missing = sorted(set(self.names) - set(params))
            if missing:
                raise ValueError(f"DD reference: parameters {missing} are missing")
            named = {n: params[n] for n in self.names}
        else:
            params = list(params)
            if len(params) != len(self.names):
                raise ValueError(
                    f"DD reference: expected {len(self.names)} parameters ({self.names}); got {len(params)}"
                )
            named = dict(zip(self.names, params))
        return {**named, **self._constants}

    def _tensor(self, value: Any, dtype: Any = None) -> Any:
        torch = self._torch
        if isinstance(value, torch.Tensor):
            return value if dtype is None else value.to(dtype)
        return torch.as_tensor(np.asarray(value), dtype=dtype or torch.float32)

    def forward(self, params: Mapping[str, Any] | Sequence[Any] | None, x: Any) -> Any:
        """Logits ``(B, C)`` for images ``x`` ``(B, H, W)`` with the given parameters.

        Args:
            params: ``{"layer/weight": tensor}`` or a list in :attr:`names` order; ``None``
                uses :attr:`params`. Gradients flow to whatever tensors are given.
            x: Images, array or tensor (float32).
        """
        torch = self._torch
        functional = torch.nn.functional
        p = self._named(params)
        x = self._tensor(x)
        h = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)  # NCHW for torch
        k1, k2 = p["conv1/kernel"], p["conv2/kernel"]
        h = functional.relu(functional.conv2d(h, k1.permute(3, 2, 0, 1), p["conv1/bias"], padding=k1.shape[0] // 2))
        h = functional.max_pool2d(h, 2)
        h = functional.max_pool2d(functional.relu(functional.conv2d(h, k2.permute(3, 2, 0, 1), p["conv2/bias"])), 2)
        h = h.permute(0, 2, 3, 1).flatten(1)  # Keras flattens NHWC
        h = functional.relu(h @ p["fc1/kernel"] + p["fc1/bias"])
        f2 = h @ p["fc2/kernel"] + p["fc2/bias"]
        angles = p["pqc/circuit_weights"].reshape(self.depth, self.n_qubits, 3)
        if self.observable == "hermitian":
            a = torch.complex(p["hermitian/a_real"], p["hermitian/a_imag"])
            q = torch.stack(list(self.qnode(f2, angles, (a + a.conj().transpose(-1, -2)) / 2)), dim=-1)
        else:
            q = torch.stack(list(self.qnode(f2, angles)), dim=-1)
        q = q.to(torch.float32)
        if self.observable == "pauli":
            q = self._hermitian(q.reshape(-1, self.n_qubits, 3), p["hermitian/a_real"], p["hermitian/a_imag"])
        q = q @ p["fc_q/kernel"] + p["fc_q/bias"]
        c = functional.relu(f2 @ p["fc_c/kernel"] + p["fc_c/bias"])
        alpha = p["mix/alpha"]
        return (alpha * q + (1 - alpha) * c) @ p["out/kernel"] + p["out/bias"]

    @staticmethod
    def _hermitian(xyz: Any, a_real: Any, a_imag: Any) -> Any:
        """``⟨H_i⟩`` from ``(B, n, 3)`` Pauli expectations (``qkernel.sim.observables.hermitian_coefficients``)."""
        h00, h11 = a_real[:, 0, 0], a_real[:, 1, 1]
        hx = (a_real[:, 0, 1] + a_real[:, 1, 0]) / 2
        hy = -(a_imag[:, 0, 1] - a_imag[:, 1, 0]) / 2
        return (h00 + h11) / 2 + hx * xyz[..., 0] + hy * xyz[..., 1] + (h00 - h11) / 2 * xyz[..., 2]

    def loss(self, params: Mapping[str, Any] | Sequence[Any] | None, x: Any, y: Any) -> Any:
        """Mean cross-entropy of the logits on integer labels ``y``."""
        return self._torch.nn.functional.cross_entropy(self.forward(params, x), self._tensor(y, self._torch.long))

    # ------------------------------------------------------------------ distillation

    def inner_train(self, params: Sequence[Any], syn_x: Any, syn_y: Any, rates: Any) -> list[Any]:
        """``len(rates)`` SGD steps on the whole synthetic set, graph kept (``create_graph=True``).

        Args:
            params: Starting weights in :attr:`names` order; each must require grad.
            syn_x, syn_y: Synthetic images and labels.
            rates: Learning rates (after softplus), one per step.

        Returns:
            The updated weights, differentiable w.r.t. ``params``, ``syn_x`` and ``rates``.
        """
        ws, rates = list(params), self._tensor(rates)
        for t in range(int(rates.shape[0])):
            grads = self._torch.autograd.grad(self.loss(ws, syn_x, syn_y), ws, create_graph=True)
            ws = [w - rates[t] * g for w, g in zip(ws, grads)]
        return ws

    def outer_step(
        self,
        params: Mapping[str, Any] | Sequence[Any] | None,
        syn_x: Any,
        syn_y: Any,
        raw_rates: Any,
        real_x: Any,
        real_y: Any,
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Outer loss and its second-order gradients, as ``qkernel.methods.dd.performance_matching.make_outer_step(..., optimizer=None)``.

        Args:
            params: Initial weights ``w0`` (``None``: :attr:`params`); copied, never modified.
            syn_x, syn_y: Synthetic images ``(N, H, W)`` and labels ``(N,)``.
            raw_rates: Raw learning rates ``ρ`` ``(T,)``; the steps use ``softplus(ρ)``.
            real_x, real_y: A real batch for the outer cross-entropy.

        Returns:
            ``(loss, d loss/d syn_x, d loss/d raw_rates)``.
        """
        torch = self._torch
        named = self._named(params)
        w0 = [self._tensor(named[n]).detach().clone().requires_grad_(True) for n in self.names]
        images = self._tensor(syn_x).detach().clone().requires_grad_(True)
        rho = self._tensor(raw_rates).detach().clone().requires_grad_(True)
        final = self.inner_train(w0, images, syn_y, torch.nn.functional.softplus(rho))
        loss = self.loss(final, real_x, real_y)
        grad_images, grad_rates = torch.autograd.grad(loss, [images, rho])
        return float(loss.detach()), grad_images.numpy(), grad_rates.numpy()


def time_outer_step(
    reference: DDReference,
    n_synthetic: int = 100,
    inner_steps: int = 1,
    real_batch: int = 256,
    steps: int = 10,
    warmup: int = 2,
    threads: int | None = None,
    num_classes: int = 10,
    image_shape: tuple[int, int] = (28, 28),
    seed: int = 0,
) -> list[float]:
    """Wall-clock seconds of each of ``steps`` outer steps (after ``warmup`` untimed ones).

    Data are random (the cost does not depend on the values): standard-normal synthetic
    images with balanced labels, uniform ``[0, 1)`` real images. Torch runs synchronously
    on the CPU, so each timing is the full step.

    Args:
        reference: The model.
        n_synthetic, inner_steps, real_batch: Synthetic set size ``N``, inner steps ``T``, real batch.
        steps, warmup: Timed and untimed outer steps.
        threads: ``torch.set_num_threads`` for the run (default: every core); restored afterwards.
        num_classes, image_shape: Labels and image size of the random data.
        seed: Seed of the random data.
    """
    torch = reference._torch
    rng = np.random.default_rng(seed)
    syn_x = torch.as_tensor(rng.standard_normal((n_synthetic, *image_shape)), dtype=torch.float32)
    syn_y = torch.as_tensor(np.arange(n_synthetic) % num_classes)
    raw = torch.full((inner_steps,), float(np.log(np.expm1(0.02))))  # softplus(ρ) = 0.02, as qkernel.methods.dd.performance_matching
    real_x = torch.as_tensor(rng.random((real_batch, *image_shape)), dtype=torch.float32)
    real_y = torch.as_tensor(rng.integers(0, num_classes, real_batch))
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads or os.cpu_count() or 1))
    try:
        seconds = []
        for k in range(warmup + steps):
            start = time.perf_counter()
            reference.outer_step(None, syn_x, syn_y, raw, real_x, real_y)
            if k >= warmup:
                seconds.append(time.perf_counter() - start)
        return seconds
    finally:
        torch.set_num_threads(previous)


def torchlayer_functional_call_gradients(n_qubits: int = 2, batch: int = 4, seed: int = 0) -> dict[str, float | None]:
    """Gradient norm of substituted circuit weights: ``TorchLayer`` + ``functional_call`` vs explicit.

    A ``Linear → TorchLayer`` model is called through ``torch.func.functional_call`` with
    fresh tensors for all its parameters (what unrolled meta-learning does); the gradient of
    the loss w.r.t. the tensor given for the circuit weights is measured. ``TorchLayer``
    evaluates its QNode with ``self.qnode_weights`` (the original ``nn.Parameter`` objects),
    so that gradient is ``None``. Passing the same tensor to the QNode explicitly gives a
    nonzero gradient.

    Returns:
        ``{"functional_call": norm or None, "explicit": norm}``.
    """
    qml, torch = require()
    wires = list(range(n_qubits))

    def circuit(inputs: Any, weights: Any) -> list[Any]:
        qml.AngleEmbedding(inputs, wires, rotation="Y")
        qml.StronglyEntanglingLayers(weights, wires)
        return [qml.expval(qml.PauliZ(w)) for w in wires]

    qnode = qml.QNode(circuit, qml.device("default.qubit", wires=wires), interface="torch", diff_method="backprop")
    torch.manual_seed(seed)
    layer = qml.qnn.TorchLayer(qnode, {"weights": (1, n_qubits, 3)})
    model = torch.nn.Sequential(torch.nn.Linear(n_qubits, n_qubits), layer)
    x = torch.rand(batch, n_qubits)
    params = {name: p.detach().clone().requires_grad_(True) for name, p in model.named_parameters()}
    key = "1.weights"

    loss = torch.func.functional_call(model, params, (x,)).square().sum()
    grad = torch.autograd.grad(loss, params[key], allow_unused=True)[0]

    hidden = torch.nn.functional.linear(x, params["0.weight"], params["0.bias"])
    explicit = torch.stack(list(qnode(hidden, params[key])), dim=-1).square().sum()
    grad_explicit = torch.autograd.grad(explicit, params[key])[0]
    return {
        "functional_call": None if grad is None else float(grad.norm()),
        "explicit": float(grad_explicit.norm()),
    }
