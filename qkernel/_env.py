"""Process environment that must be in place before TensorFlow, Prefect or DVC load.

Imported first by :mod:`qkernel`; users never set these themselves.
"""

from __future__ import annotations

import os

#: Variables qdistill sets unless the user already chose a value.
DEFAULTS: dict[str, str] = {
    # TensorFlow Quantum is built against Keras 2 (tf-keras); TF 2.18 defaults to Keras 3.
    "TF_USE_LEGACY_KERAS": "1",
    # Quiet TensorFlow's C++ start-up chatter (CUDA factory registration on CPU-only machines).
    # Python-level errors are unaffected.
    "TF_CPP_MIN_LOG_LEVEL": "3",
    # Telemetry off: Prefect server analytics, and the cross-tool opt-out DVC honours too.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "DVC_NO_ANALYTICS": "1",
    # A fresh PREFECT_HOME migrates its database on first start (~15 s, more on a busy
    # 2-core machine); Prefect's default 20 s start-up limit is too tight for that.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def apply() -> None:
    """Set :data:`DEFAULTS` in ``os.environ`` without overriding explicit user choices.

    ``TF_USE_LEGACY_KERAS`` is forced: a value of ``0`` would break TensorFlow Quantum.
    """
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
