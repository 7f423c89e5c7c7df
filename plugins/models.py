"""Built-in classical models: the KD paper's teachers (LeNet-5, adapted AlexNet, their ensemble)."""

from __future__ import annotations

from collections.abc import Sequence

import qkernel  # noqa: F401  (environment before TensorFlow)
import tensorflow as tf

from qkernel.plugin.hookspecs import hookimpl

layers = tf.keras.layers


def _check(name: str, input_shape: Sequence[int], num_classes: int) -> tuple[int, ...]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) not in (2, 3) or min(shape[:2]) < 16:
        raise ValueError(f"{name}: input_shape must be (H, W) or (H, W, C) with H, W >= 16, got {shape}")
    if num_classes < 2:
        raise ValueError(f"{name}: num_classes must be at least 2, got {num_classes}")
    return shape


def _input(shape: tuple[int, ...]) -> tuple[tf.Tensor, tf.Tensor]:
    inp = tf.keras.Input(shape=shape)
    x = layers.Reshape((*shape, 1))(inp) if len(shape) == 2 else inp
    return inp, x


class LeNet5:
    """LeNet-5: conv6-tanh-avgpool-conv16-tanh-avgpool-fc120-fc84, ~44k parameters on 28x28."""

    name = "lenet5"

    def __new__(cls, input_shape: Sequence[int], num_classes: int, activation: str = "tanh") -> tf.keras.Model:
        shape = _check(cls.name, input_shape, num_classes)
        inp, x = _input(shape)
        x = layers.Conv2D(6, 5, activation=activation)(x)
        x = layers.AveragePooling2D(2)(x)
        x = layers.Conv2D(16, 5, activation=activation)(x)
        x = layers.AveragePooling2D(2)(x)
        x = layers.Flatten()(x)
        x = layers.Dense(120, activation=activation)(x)
        x = layers.Dense(84, activation=activation)(x)
        return tf.keras.Model(inp, layers.Dense(num_classes)(x), name=cls.name)


class AlexNet:
    """AlexNet adapted to 28x28/32x32: conv64-pool-conv192-pool-conv384-pool-dropout-fc-fc (ReLU).

    The KD paper's earlier code used fc4096 and no third pool; qdistill pools once more
    (7x7 → 3x3 on 28x28 inputs) and defaults to ``fc_units=1024`` so the teacher trains in
    minutes on a CPU. ``fc_units=4096`` restores the published width.
    """

    name = "alexnet"

    def __new__(
        cls, input_shape: Sequence[int], num_classes: int, fc_units: int = 1024, dropout: float = 0.5
    ) -> tf.keras.Model:
        shape = _check(cls.name, input_shape, num_classes)
        inp, x = _input(shape)
        for filters in (64, 192):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            x = layers.MaxPooling2D(2)(x)
        x = layers.Conv2D(384, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Flatten()(layers.Dropout(dropout)(x))
        x = layers.Dense(fc_units, activation="relu")(x)
        x = layers.Dense(fc_units, activation="relu")(x)
        return tf.keras.Model(inp, layers.Dense(num_classes)(x), name=cls.name)


class LogitMean(tf.keras.Model):
    """Averages the logits of member models; ``members`` are trained one by one."""

    def __init__(self, members: Sequence[tf.keras.Model], input_shape: Sequence[int]) -> None:
        super().__init__(name="ensemble")
        self.members = list(members)
        self.build((None, *input_shape))

    def call(self, inputs: tf.Tensor, training: bool = False) -> tf.Tensor:
        return tf.add_n([m(inputs, training=training) for m in self.members]) / len(self.members)


class Ensemble:
    """Logit-mean ensemble of teachers (default LeNet-5 + AlexNet; any registered classical model, e.g. ``cnn``);
    members are trained one by one."""

    name = "ensemble"
    builders = ("lenet5", "alexnet", "cnn")

    def __new__(
        cls, input_shape: Sequence[int], num_classes: int, members: Sequence[str] = ("lenet5", "alexnet"),
        **member_options: dict,
    ) -> tf.keras.Model:
        from qkernel.plugin.registry import get_registry

        unknown = [m for m in members if m not in cls.builders]
        if unknown or len(members) < 2:
            raise ValueError(f"ensemble: members must be two or more of {sorted(cls.builders)}, got {list(members)}")
        registry = get_registry()
        built = [registry.create("model", m, input_shape=input_shape, num_classes=num_classes,
                                 **member_options.get(m, {})) for m in members]
        return LogitMean(built, input_shape)


@hookimpl
def register_models() -> list[type]:
    from plugins.qlenet import ConvNet, LeNet, QuantumConvNet, QuantumLeNet, QuantumStudentModel  # DD models, the KD student

    return [LeNet5, AlexNet, Ensemble, LeNet, ConvNet, QuantumLeNet, QuantumConvNet, QuantumStudentModel]
