"""Neural-network pieces: the quantum Keras layer, readouts, functional calls, training, the student.

* :mod:`qkernel.nn.layers` — :class:`~qkernel.nn.layers.QuantumLayer` (a circuit on a backend);
* :mod:`qkernel.nn.readouts` — the readout registry and the Hermitian readout layer;
* :mod:`qkernel.nn.functional` — a Keras model called with substituted weights (unrolled training);
* :mod:`qkernel.nn.training` — the deterministic, resumable training loop;
* :mod:`qkernel.nn.student` — reducer → encoder → ansatz → readout → head.
* :mod:`qkernel.nn.controls` — classical controls of the student (a same-count layer; no middle layer).
"""
