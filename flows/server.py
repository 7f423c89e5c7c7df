"""The Prefect API a command's flows report to, and processes that never outlive the command.

With ``PREFECT_API_URL`` set (a ``prefect server start`` the user runs, or Prefect Cloud),
flows report there. Without it, Prefect would start a temporary server itself — one that
survives a ``kill -9`` of the command. :func:`api_server` starts that temporary server instead,
as a child that the kernel terminates when the command dies for any reason
(``PR_SET_PDEATHSIG``), and says so in one line. Worker processes call
:func:`die_with_parent` for the same guarantee.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["api_server", "die_with_parent"]

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent exits (Linux; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _drain() -> None:
    """Send the log records and events still queued for the API before its server goes away."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    EventsWorker.drain_all(timeout=10)


@contextmanager
def api_server(announce: bool = True) -> Iterator[str]:
    """The URL of the Prefect API to use for the duration of the block.

    Args:
        announce: Print one line when a temporary server is started.

    Raises:
        RuntimeError: if the temporary server does not answer within
            ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``.
    """
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    settings = get_current_settings()
    if settings.api.url:
        yield str(settings.api.url)
        return
    import prefect

    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent), "--factory",
         "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "error",
         "--lifespan", "on"],
        env=env, stdout=subprocess.DEVNULL, preexec_fn=die_with_parent,
    )
    try:
        deadline = time.monotonic() + settings.server.ephemeral.startup_timeout_seconds
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the temporary Prefect server did not start (exit code {process.poll()})")
            time.sleep(0.2)
        if announce:
            from rich.console import Console

            Console(stderr=True).print(
                f"[dim]temporary Prefect server at {url} (set PREFECT_API_URL to use your own)[/]", highlight=False)
        previous = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = url  # worker processes inherit it
        try:
            with temporary_settings(updates={PREFECT_API_URL: url}):
                try:
                    yield url
                finally:
                    _drain()
        finally:
            if previous is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = previous
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
