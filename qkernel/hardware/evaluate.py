"""A trained KD student's test accuracy on a Google processor, beside its exact accuracy.

**Which run.** ``run_id`` (see :func:`find_student`) is a student folder
(``…/students/kd-seed0``, holding ``weights.npz`` and ``metrics.json``), a run folder
(``runs/kd-mnist-5k-4q-fc-amplitude-<hash>``, whose ``students/<mode>-seed<k>`` is used), or
that folder's name — or a unique prefix of it — under ``runs_dir``.

**Which parameters.** Training writes ``params.json`` beside the student's weights; runs
made before that need the same ``-p``/``-S`` parameters as their training. Either way they
are checked against the run's ``metrics.json`` (dataset, student description) and by
recomputing the exact test accuracy the run recorded, so a mismatch fails loudly instead
of evaluating a different model or data split.

**What runs.** The student is rebuilt (:func:`qkernel.nn.student.build_student`) and its
weights loaded; the classical reducer runs here, the circuit (encoder + trained ansatz) runs
on the processor through the ``google`` backend plugin, and the readout and dense head turn
the shot estimates into predictions. The subset of the test split is a seeded random sample.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cirq
import numpy as np
import tensorflow as tf

from qkernel.config import Params, load_params
from qkernel.errors import ConfigError
from qkernel.hardware.report import report_markdown, write_report
from qkernel.io import load_weights, read_npz

__all__ = ["StudentRun", "evaluate_student", "find_student", "load_run", "report_markdown", "write_report"]


#: How many samples of the run's recorded test accuracy may differ (float round-off near ties).
_ACCURACY_SLACK_SAMPLES = 1


@dataclass(frozen=True)
class StudentRun:
    """A trained student on disk and the parameters that rebuild it.

    Attributes:
        student_dir: Folder with ``weights.npz`` and ``metrics.json``.
        params: Validated parameters of the run.
        metrics: The student's ``metrics.json``.
        reducer_path: The fitted reducer's state, if the run saved one.
        params_from: Where :attr:`params` came from (for reports).
    """

    student_dir: Path
    params: Params
    metrics: dict[str, Any]
    reducer_path: Path | None
    params_from: str


def _listing(runs_dir: Path) -> str:
    runs = sorted(p.name for p in runs_dir.glob("*") if (p / "students").is_dir()) if runs_dir.is_dir() else []
    return ", ".join(runs[:10]) + (" …" if len(runs) > 10 else "") if runs else "none"


def find_student(run_id: str, runs_dir: Path, mode: str = "kd", seed: int | None = None) -> Path:
    """The student folder ``run_id`` names (see the module docstring).

    Args:
        run_id: A student folder, a run folder, or a run folder's name (or unique prefix) under ``runs_dir``.
        runs_dir: Where runs are looked up by name.
        mode: Which student of a run: ``kd`` or ``baseline``.
        seed: Which seed's student; ``None`` accepts the only one.

    Raises:
        qkernel.errors.ConfigError: nothing matches, the prefix is ambiguous, or the run has
            no (or several) students of that mode — listing what exists.
    """
    runs_dir = Path(runs_dir)
    path = Path(run_id).expanduser()
    if not path.is_dir():
        named = runs_dir / run_id
        matches = [named] if named.is_dir() else sorted(p for p in runs_dir.glob(f"{run_id}*") if p.is_dir())
        if len(matches) != 1:
            names = ", ".join(p.name for p in matches)
            what = f"matches {len(matches)} runs ({names})" if matches else "matches no run"
            raise ConfigError(
                f"RUN_ID {run_id!r} {what}: pass a student folder, a run folder, or a run name under "
                f"{runs_dir} (runs there: {_listing(runs_dir)})"
            )
        path = matches[0]
    if (path / "weights.npz").is_file():
        return path
    students = path / "students"
    if not students.is_dir():
        raise ConfigError(f"{path} is neither a student folder (weights.npz) nor a run folder (students/)")
    pattern = f"{mode}-seed{seed}" if seed is not None else f"{mode}-seed*"
    found = sorted(p for p in students.glob(pattern) if (p / "weights.npz").is_file())
    if len(found) != 1:
        present = ", ".join(p.name for p in sorted(students.iterdir()) if p.is_dir()) or "none"
        need = "no student" if not found else "several students; choose one with --seed"
        raise ConfigError(f"{path}: {need} matching {pattern!r} (students there: {present})")
    return found[0]


def _reducer_path(student_dir: Path) -> Path | None:
    # flow runs: <run>/students/<mode>-seed<k> with <run>/reducer.npz; DVC: results/students/reducer.npz
    for candidate in (student_dir.parent.parent / "reducer.npz", student_dir.parent / "reducer.npz"):
        if candidate.is_file():
            return candidate
    return None


#: Sections of a run's params.json that rebuild its student; the others (dataset distillation,
#: the ablation grid) evolve independently and take today's defaults.
_STUDENT_SECTIONS = ("seed", "data", "plugins", "runs_dir", "teacher", "student", "kd")


def _student_params(path: Path, overrides: Sequence[str]) -> Params:
    """The student-defining sections of a run's ``params.json`` over today's defaults, then ``overrides``."""
    saved = json.loads(path.read_text())
    return load_params({k: v for k, v in saved.items() if k in _STUDENT_SECTIONS}, list(overrides))


def load_run(
    run_id: str, params: Params, overrides: Sequence[str] = (), mode: str = "kd", seed: int | None = None
) -> StudentRun:
    """Locate the student and recover its parameters (``params.json``, else ``params``).

    Args:
        run_id: See :func:`find_student`.
        params: Parameters from ``-p``/``-S`` (their ``runs_dir`` is where names are looked up).
        overrides: The ``-S`` overrides, re-applied over a run's own ``params.json``.
        mode: ``kd`` or ``baseline``.
        seed: Student seed, if the run has several.

    Raises:
        qkernel.errors.ConfigError: see :func:`find_student`; no ``metrics.json``; or the
            parameters do not describe the run (naming the differing field).
    """
    student_dir = find_student(run_id, Path(params.runs_dir), mode, seed)
    metrics_file = student_dir / "metrics.json"
    if not metrics_file.is_file():
        raise ConfigError(f"{student_dir} has no metrics.json: the student's training did not finish")
    metrics = json.loads(metrics_file.read_text())
    params_from = "-p/-S parameters"
    if (student_dir / "params.json").is_file():
        params = _student_params(student_dir / "params.json", overrides)
        params_from = str(student_dir / "params.json")
    s = params.student
    expected = {"dataset": params.data.name, "n_qubits": s.n_qubits, "reducer": s.reducer, "encoder": s.encoder,
                "ansatz": s.ansatz}
    for key, value in expected.items():
        if key in metrics and metrics[key] != value:
            raise ConfigError(
                f"{student_dir} was trained with {key} {metrics[key]!r}, but the parameters give {value!r}; "
                "pass the same -p/-S parameters that trained it"
            )
    return StudentRun(student_dir, params, metrics, _reducer_path(student_dir), params_from)


def _predict(model: tf.keras.Model, expectations: np.ndarray) -> np.ndarray:
    """Class predictions from circuit expectations through the student's readout and head."""
    e = tf.constant(np.asarray(expectations, dtype=np.float32))
    if model.readout is not None:
        e = model.readout(e)
    return np.argmax(model.head(e).numpy(), axis=1)


def _rebuild(run: StudentRun, registry: Any, seed: int) -> tuple[Any, Any, tf.keras.Model, float]:
    """Data, parts, the student with its trained weights, and its exact accuracy on the whole test split.

    Raises:
        qkernel.errors.ConfigError: weights that do not fit, or a test accuracy that differs
            from the one the run recorded (the parameters are not the training's).
    """
    from qkernel.data import load_dataset
    from qkernel.nn.student import build_parts, build_student
    from qkernel.nn.training import predict_logits

    p = run.params
    data = load_dataset(p, registry)
    parts = build_parts(p.student, registry, data.image_shape)
    reducer_state = read_npz(run.reducer_path) if run.reducer_path else None
    model = build_student(parts, data.image_shape, data.num_classes, seed, reducer_state)
    try:
        load_weights(model, run.student_dir / "weights.npz")
    except ValueError as exc:
        raise ConfigError(f"{exc}; pass the same -p/-S parameters that trained {run.student_dir}") from None
    y_test = data.y["test"]
    full = float(np.mean(predict_logits(model, data.x["test"]).argmax(1) == y_test))
    recorded = run.metrics.get("test_accuracy")
    if recorded is not None and abs(full - recorded) * len(y_test) > _ACCURACY_SLACK_SAMPLES + 1e-9:
        raise ConfigError(
            f"the rebuilt student scores {full:.4f} on the {len(y_test)} test images, but {run.student_dir} recorded "
            f"{recorded:.4f}: the data or student parameters differ from training (parameters from "
            f"{run.params_from}); pass the same -p/-S parameters that trained it"
        )
    return data, parts, model, full


def _state_preparation(encoder: Any, backend: Any, gateset: str) -> dict[str, Any] | None:
    """Logical and compiled size of an encoder's state preparation (amplitude: the Möttönen template)."""
    from qkernel.hardware.device import circuit_stats, compile_circuit

    if not encoder.loads_state or backend.compiled is None:
        return None
    qubits = cirq.LineQubit.range(encoder.n_qubits)
    circuit = encoder.circuit(qubits)
    logical = circuit_stats(circuit)
    prep = compile_circuit(circuit, qubits, backend.processor.device, gateset=gateset, region=backend.compiled.region)
    return {"logical": {"depth": logical.depth, "two_qubit_gates": logical.two_qubit_gates,
                        "rotations": logical.one_qubit_gates},
            "compiled": prep.stats.as_dict()}


def evaluate_student(
    run: StudentRun,
    *,
    backend_name: str = "google",
    processor: str = "weber",
    project_id: str | None = None,
    shots: int = 1000,
    limit: int = 100,
    batch_size: int | None = None,
    gateset: str = "sqrt_iswap",
    readout_mitigation: bool = False,
    method: str = "native",
    noise: bool = True,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_compiled: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Accuracy of ``run``'s student on ``limit`` test images under a processor, beside the exact one.

    Args:
        run: From :func:`load_run`.
        backend_name: A hardware backend plugin (``hardware = True``; built in: ``google``).
        processor, project_id, shots, gateset, readout_mitigation, method, noise: Options of
            the backend (``google``: QVM without ``project_id``; ``noise=False``: noiseless QVM).
        limit: Test images evaluated (a seeded random subset; the whole split if larger).
        batch_size: Images per job (each job is one parameter sweep); default: the backend's
            ``preferred_batch_size`` if it has one (google: 100 on the Engine, 16 on the QVM), else 100.
        seed: Seed of the subset and of the QVM's sampling (default: the run's seed).
        progress: Called with ``(images done, images total)`` after every job.
        on_compiled: Called once the circuit is compiled, before anything runs, with the
            backend's description (``compiled`` statistics, ``fidelity`` estimate), the
            ``warning`` the estimate implies (or ``None``) and the number of ``images``.

    Returns:
        A JSON-able mapping: accuracies, the compiled circuit's statistics, executions, wall time.

    Raises:
        qkernel.errors.ConfigError: bad options, or the parameters do not reproduce the run's
            recorded test accuracy.
        qkernel.errors.HardwareError: credentials, unknown processor, or a rejected circuit.
    """
    from qkernel.plugin.registry import get_registry

    given = {"shots": shots, "limit": limit, **({} if batch_size is None else {"batch_size": batch_size})}
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1; got {value!r}")
    start = time.perf_counter()
    p = run.params
    student_seed = int(run.metrics.get("seed", p.seed))
    seed = student_seed if seed is None else int(seed)
    registry = get_registry(p.plugins.paths)
    # The processor first: credentials and processor names fail before any data is loaded.
    hardware = [n for n in registry.names("backend") if registry.get("backend", n).factory.hardware]
    if backend_name not in hardware:
        raise ConfigError(f"backend {backend_name!r} does not run on quantum hardware; hardware backends: "
                          f"{', '.join(hardware) or 'none'}")
    backend = registry.create("backend", backend_name, processor=processor, project_id=project_id, shots=shots,
                              gateset=gateset, readout_mitigation=readout_mitigation, method=method, noise=noise,
                              seed=seed)
    data, parts, model, full = _rebuild(run, registry, student_seed)
    x_test, y_test = data.x["test"], data.y["test"]
    idx = np.sort(np.random.default_rng(seed).permutation(len(y_test))[:limit])
    x, y = x_test[idx], y_test[idx]
    features = np.concatenate([model.reduce(tf.constant(x[i:i + 256])).numpy() for i in range(0, len(x), 256)])
    weights = model.quantum.circuit_weights.numpy()
    exact = np.asarray(model.quantum(tf.constant(features)))

    fn = backend.compile(parts.encoder, parts.ansatz, model.quantum.observables)
    batch_size = batch_size or int(getattr(backend, "preferred_batch_size", 100))
    described = backend.describe()
    fidelity = getattr(backend, "fidelity", None)
    warning = fidelity.warning(1.0 / data.num_classes) if fidelity is not None else None
    if on_compiled is not None:
        on_compiled({**described, "warning": warning, "images": int(len(y))})
    noisy, errors, device_time = [], [], 0.0
    for i in range(0, len(x), batch_size):
        t = time.perf_counter()
        noisy.append(np.asarray(fn(features[i:i + batch_size], weights), dtype=np.float64))
        device_time += time.perf_counter() - t
        errors.append(backend.last_standard_errors)
        if progress is not None:
            progress(min(i + batch_size, len(x)), len(x))
    estimates = np.concatenate(noisy)
    pred_exact, pred_device = _predict(model, exact), _predict(model, estimates)

    state_prep = _state_preparation(parts.encoder, backend, gateset)
    return {
        "student_dir": str(run.student_dir),
        "params_from": run.params_from,
        "student": run.metrics.get("student", parts.describe()),
        "mode": run.metrics.get("mode"),
        "dataset": p.data.name,
        "samples": int(len(y)),
        "shots": shots,
        "exact_backend": p.student.backend,
        "exact_accuracy": float(np.mean(pred_exact == y)),
        "device_accuracy": float(np.mean(pred_device == y)),
        "agreement": float(np.mean(pred_exact == pred_device)),
        "expectation_abs_error": float(np.mean(np.abs(estimates - exact))),
        "mean_standard_error": float(np.mean(np.concatenate(errors))) if errors else 0.0,
        "test_accuracy_full_split": full,
        "test_images": int(len(y_test)),
        "processor": described["processor"],
        "kind": backend.processor.kind,
        "gateset": gateset,
        "readout_mitigation": readout_mitigation,
        "readout": described.get("readout"),
        "physical_qubits": described.get("qubits"),
        "compiled": described.get("compiled"),
        "fidelity_estimate": described.get("fidelity"),
        "warning": warning,
        "method": method if backend.processor.kind == "qvm" and noise else None,
        "state_preparation": state_prep,
        "executions": {**backend.counter.as_dict(), "calibration_shots": backend.stats()["calibration_shots"]},
        "device_time_s": round(device_time, 3),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "seed": seed,
    }
