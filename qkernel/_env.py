"""Process environment that must be in place before TensorFlow, Prefect or DVC load.

Imported first by :mod:`qkernel`; users never set these themselves. The command line also
calls :func:`filter_native_logs` before TensorFlow loads, so its console stays calm.
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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


#: Lines TensorFlow, XLA, absl and gRPC write to the C-level stderr although ``TF_CPP_MIN_LOG_LEVEL``
#: asks for quiet: absl-format records (``E0000 00:00:…``), TF's own timestamped records, and
#: the notices that precede them. Nothing qdistill or Python prints looks like these.
NATIVE_NOISE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w./-]+:\d+\]"
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] (?:tensorflow|external)/"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags)"
)

_filtering = False


@contextmanager
def environ_set(name: str, value: str) -> Iterator[None]:
    """``os.environ[name] = value`` for the block (child processes started in it inherit it), then as before."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def filter_native_logs() -> bool:
    """Drop TensorFlow/XLA/absl chatter from this process's (and its children's) C-level stderr.

    File descriptor 2 is pointed at a pipe; a daemon thread copies every line that does not
    match :data:`NATIVE_NOISE` to the original stderr. Python's ``sys.stderr`` writes to the
    original stderr directly, so tracebacks and log records never wait on the thread. Child
    processes inherit the filtered descriptor. Set ``QDISTILL_NATIVE_LOGS=1`` to keep everything.

    Returns:
        Whether the filter was installed now (``False`` if already installed or disabled).
    """
    global _filtering
    if _filtering or os.environ.get("QDISTILL_NATIVE_LOGS") == "1":
        return False
    sys.stderr.flush()
    original = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = io.TextIOWrapper(io.FileIO(os.dup(original), "w"), line_buffering=True,
                                  encoding=sys.stderr.encoding or "utf-8", errors="backslashreplace")

    def pump() -> None:
        with io.FileIO(read_end, "r") as source, io.FileIO(original, "w", closefd=False) as sink:
            for line in iter(source.readline, b""):
                if not NATIVE_NOISE.match(line.decode("utf-8", "replace")):
                    sink.write(line)

    threading.Thread(target=pump, name="qdistill-native-log-filter", daemon=True).start()
    _filtering = True
    return True
