"""Published results qdistill is measured against (see REFERENCE.md; ~ values read off figures)."""

from __future__ import annotations

#: KD paper (Hasan & Mahdy, arXiv:2311.13810 v2), test error % read off the bar chart (±1),
#: keyed by (method, dataset) → {qubits: error}. "fc+amplitude" is the method itself.
KD_TEST_ERROR: dict[tuple[str, str], dict[int, float]] = {
    ("fc+amplitude", "mnist"): {4: 22.0, 8: 9.8},
    ("fc+amplitude", "fashion-mnist"): {4: 22.4, 8: 16.8},
    ("fc+amplitude", "cifar10"): {4: 74.1, 8: 68.8},
    ("fc+qubit", "mnist"): {4: 24.6, 8: 14.6},
    ("fc+qubit", "fashion-mnist"): {4: 23.5, 8: 18.9},
    ("fc+qubit", "cifar10"): {4: 75.9, 8: 72.5},
    ("fc+angle", "mnist"): {4: 37.3, 8: 21.5},
    ("fc+angle", "fashion-mnist"): {4: 31.1, 8: 28.8},
    ("fc+angle", "cifar10"): {4: 87.6, 8: 84.5},
    ("avgpool+amplitude", "mnist"): {4: 53.7, 8: 47.7},
    ("avgpool+amplitude", "fashion-mnist"): {4: 51.2, 8: 50.6},
    ("avgpool+amplitude", "cifar10"): {4: 85.4, 8: 79.4},
    ("pca+amplitude", "mnist"): {4: 68.3, 8: 57.5},
    ("pca+amplitude", "fashion-mnist"): {4: 71.6, 8: 68.5},
    ("pca+amplitude", "cifar10"): {4: 87.6, 8: 87.8},
    ("crop+amplitude", "mnist"): {4: 80.3, 8: 75.0},
    ("crop+amplitude", "fashion-mnist"): {4: 78.5, 8: 81.9},
    ("crop+amplitude", "cifar10"): {4: 91.6, 8: 90.3},
    ("maxpool+amplitude", "mnist"): {4: 84.7, 8: 80.9},
    ("maxpool+amplitude", "fashion-mnist"): {4: 82.5, 8: 81.9},
    ("maxpool+amplitude", "cifar10"): {4: 92.7, 8: 92.5},
}

#: Datasets whose published numbers a local dataset is compared with.
COMPARABLE = {"mnist-5k": "mnist", "mnist": "mnist", "fashion-mnist": "fashion-mnist", "cifar10": "cifar10"}


def kd_published_accuracy(reducer: str, encoder: str, dataset: str, n_qubits: int) -> float | None:
    """Published KD-student test accuracy (%) for this configuration, or ``None`` if not published."""
    table = KD_TEST_ERROR.get((f"{reducer}+{encoder}", COMPARABLE.get(dataset, dataset)), {})
    return None if n_qubits not in table else round(100.0 - table[n_qubits], 1)


#: DD paper (Phalak, Li, Ghosh, arXiv:2503.17935): test accuracy % with 10 distilled images per class.
DD_ACCURACY = {
    ("quantum_lenet", "mnist"): 91.9,
    ("quantum_lenet", "cifar10"): 50.3,
    ("lenet", "mnist"): 94.0,
    ("lenet", "cifar10"): 54.0,
}
