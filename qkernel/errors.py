"""Exceptions raised by qkernel. Each message names what was wrong and what was expected."""

from __future__ import annotations


class QDistillError(Exception):
    """Base class of every error qdistill raises on purpose (the CLI prints these without a traceback)."""


class ConfigError(QDistillError, ValueError):
    """A parameter file or override is invalid; the message names the key."""


class PluginError(QDistillError):
    """A plugin is unknown, registered twice, or violates its contract."""


class InputError(QDistillError, ValueError):
    """Data handed to an encoder, kernel or model has the wrong shape or values."""


class UnsupportedGateError(QDistillError, TypeError):
    """A circuit contains an operation the native kernel cannot compile."""


class DatasetNotFoundError(QDistillError, FileNotFoundError):
    """No copy of a dataset could be found or downloaded; lists every place tried."""


class DataFormatError(QDistillError, ValueError):
    """A dataset file exists but is corrupt, truncated, or not in the expected format."""


class HardwareError(QDistillError):
    """A quantum processor cannot be used: no credentials, an unknown processor, or a circuit it rejects."""


def graph_error_cause(message: str) -> str:
    """What a TensorFlow runtime error says went wrong, without the graph's call stack around it.

    A failing op inside a ``tf.function`` reports ``Graph execution error:``, the Python stack that
    defined the op, then its own message (e.g. an encoder's ``features must be finite``) and the node;
    this returns that message line (the first line when there is no stack).
    """
    lines = [line.strip() for line in message.splitlines()]
    stack_end = max((i for i, line in enumerate(lines) if line.startswith("File ")), default=-1)
    for line in lines[stack_end + 1:]:
        if line and not line.startswith(("[[", "Graph execution error", "Detected at node")):
            return line
    return lines[0] if lines else message
