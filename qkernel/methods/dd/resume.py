"""Checkpoints of a distillation, so that a long one survives an interruption and a longer one continues it.

Distribution, gradient and trajectory matching draw everything an outer step needs from one numpy
generator, so between steps they carry only their learned variables (the synthetic images, a learned
rate), their optimisers' state (step count, momentum or moments), that generator and the per-step
history. :class:`Checkpoint` writes these to one ``.npz`` every ``every`` steps and after the last
step (atomically: an interrupted save leaves the previous checkpoint), and a run given the file
continues after the step it holds:

* an interrupted run resumes at its last save and ends with the set one uninterrupted run makes;
* a run asked for more steps continues a shorter run's set — nothing in a step depends on the step
  count — so ``-S dd.outer_steps=4000`` after a 2000-step run costs 2000 steps.

The file must be keyed by everything that shapes the set except the step count (the DD flow's
:func:`flows.dd.checkpoint_path`); a checkpoint further along than the run asks for is left alone
and the run starts from step 1.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from qkernel.errors import ConfigError
from qkernel.io import atomic_save_npz, read_npz

__all__ = ["Checkpoint"]


class Checkpoint:
    """A method's state between outer steps, saved to and restored from ``path``.

    Args:
        path: The checkpoint file, or ``None`` to keep none (every call is then a no-op).
        every: Save after every ``every``-th step (and after the last).
        method: The method's name, stored and checked on restore.
        variables: What the method learns (restored in place).
        optimizers: Each optimiser with the variables it updates (built on restore, then its state written).
        rng: The generator every step draws from (its state restored in place).
        history: The per-step records (extended in place on restore).
    """

    def __init__(self, path: Path | None, every: int, method: str, variables: Sequence[tf.Variable],
                 optimizers: Sequence[tuple[tf.keras.optimizers.Optimizer, Sequence[tf.Variable]]],
                 rng: np.random.Generator, history: list[dict[str, float]]) -> None:
        self.path = None if path is None else Path(path)
        self.every, self.method = max(1, every), method
        self.variables, self.optimizers, self.rng, self.history = list(variables), list(optimizers), rng, history
        self.saved = 0  # the step of the file on disk: never overwritten by a run that is behind it

    def restore(self, outer_steps: int) -> int:
        """Restore the saved state if the file holds a step within ``outer_steps``.

        Returns:
            The last step already done (0: start from step 1).

        Raises:
            ConfigError: if the file is another method's or holds variables of other shapes.
        """
        if self.path is None or not self.path.is_file():
            return 0
        a = read_npz(self.path)
        self.saved = int(a["step"])
        shapes = [tuple(a[f"variable{i}"].shape) for i in range(len(self.variables))]
        mine = [tuple(v.shape) for v in self.variables]
        if str(a["method"]) != self.method or shapes != mine:
            raise ConfigError(f"{self.path}: a checkpoint of {str(a['method'])!r} with variables {shapes}, not of "
                              f"{self.method!r} with {mine}; delete it to start over")
        if self.saved > outer_steps:
            return 0
        for i, v in enumerate(self.variables):
            v.assign(a[f"variable{i}"])
        for i, (optimizer, updated) in enumerate(self.optimizers):
            optimizer.build(list(updated))
            for j, slot in enumerate(optimizer.variables):
                slot.assign(a[f"optimizer{i}_{j}"])
        self.rng.bit_generator.state = json.loads(str(a["rng"]))
        self.history[:] = json.loads(str(a["history"]))
        return self.saved

    def after(self, step: int, outer_steps: int) -> None:
        """Save the state after ``step`` if it is an ``every``-th step or the last one."""
        if self.path is None or step <= self.saved or (step % self.every and step != outer_steps):
            return
        arrays = {f"variable{i}": v.numpy() for i, v in enumerate(self.variables)}
        for i, (optimizer, _) in enumerate(self.optimizers):
            arrays |= {f"optimizer{i}_{j}": slot.numpy() for j, slot in enumerate(optimizer.variables)}
        atomic_save_npz(self.path, {
            **arrays, "step": np.asarray(step), "method": np.asarray(self.method),
            "rng": np.asarray(json.dumps(self.rng.bit_generator.state)),
            "history": np.asarray(json.dumps(self.history)),
        })
        self.saved = step
