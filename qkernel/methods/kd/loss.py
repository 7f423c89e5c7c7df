"""The knowledge-distillation loss (Hinton) and the loss of each student mode.

``L = α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1−α)·CE(s, y)``. Both terms carry gradient to
the student (the published code's ``kd_loss*0`` and teacher-only CE are avoided and tested).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from qkernel.errors import ConfigError
from qkernel.methods.kd.config import KDParams
from qkernel.nn.training import LossFn, cross_entropy_loss

__all__ = ["MODES", "kd_loss", "make_loss"]

MODES = ("baseline", "kd")


def kd_loss(
    student_logits: tf.Tensor, teacher_logits: tf.Tensor, labels: tf.Tensor, temperature: float, alpha: float
) -> tf.Tensor:
    """Hinton's distillation loss, averaged over the batch.

    Args:
        student_logits: ``(B, C)`` student logits (gradient flows here).
        teacher_logits: ``(B, C)`` frozen teacher logits (no gradient).
        labels: ``(B,)`` integer labels.
        temperature: ``T`` > 0.
        alpha: Weight of the distillation term in [0, 1].

    Returns:
        ``α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1−α)·CE(s, y)``.
    """
    t = tf.stop_gradient(tf.cast(teacher_logits, student_logits.dtype))
    log_p_teacher = tf.nn.log_softmax(t / temperature)
    log_p_student = tf.nn.log_softmax(student_logits / temperature)
    kl = tf.reduce_sum(tf.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=-1)
    ce = tf.keras.losses.sparse_categorical_crossentropy(labels, student_logits, from_logits=True)
    return tf.reduce_mean(alpha * temperature**2 * kl + (1.0 - alpha) * ce)


def make_loss(mode: str, kd: KDParams) -> LossFn:
    """The training loss of a student mode (``baseline``: CE; ``kd``: :func:`kd_loss`)."""
    if mode == "baseline":
        return cross_entropy_loss
    if mode != "kd":
        raise ConfigError(f"unknown student mode {mode!r}; expected one of {', '.join(MODES)}")

    def loss(model: tf.keras.Model, x: tf.Tensor, y: tf.Tensor, teacher: Any, training: bool) -> tf.Tensor:
        return kd_loss(model(x, training=training), teacher, y, kd.temperature, kd.alpha)

    return loss
