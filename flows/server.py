"""The Prefect API a command's flows report to, and processes that never outlive the command.

With ``PREFECT_API_URL`` set (a ``prefect server start`` the user runs, or Prefect Cloud),
flows report there. Without it, Prefect would start a temporary server itself — one that
survives a ``kill -9`` of the command. :func:`api_server` starts that temporary server instead,
as a child that the kernel terminates when the command dies for any reason
(``PR_SET_PDEATHSIG``), and says so in one line. Worker processes call
:func:`die_with_parent` for the same guarantee.

SIGINT and SIGTERM stop a command within seconds (:func:`stop_on_signals`), also when the
server it talks to is gone: Prefect would otherwise retry, for minutes, to report the
interrupted flow run to it.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import psutil

__all__ = ["STOP_GRACE_SECONDS", "api_server", "die_with_parent", "stop_on_signals", "stop_workers"]

_PR_SET_PDEATHSIG = 1

#: Seconds a command stopped by SIGINT or SIGTERM has to finish cleanly (the flow run reported
#: to the API, schedules paused, workers and the temporary server stopped) before it ends its
#: processes itself.
STOP_GRACE_SECONDS = 10.0

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: Process ids of the temporary API servers this process runs: a stopping command still reports to them.
_SERVERS: set[int] = set()


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


def _answers(url: str) -> bool:
    """Whether anything answers HTTP at the API (any status: Prefect Cloud has no ``/health``)."""
    import httpx

    try:
        httpx.get(f"{url}/health", timeout=2)
    except httpx.TransportError:
        return False
    return True


def _say(line: str) -> None:
    """One line on stderr, written at once (safe from any thread, whatever the main thread holds)."""
    os.write(2, f"{line}\n".encode())


def _terminate_descendants(spare: Collection[int] = ()) -> list[psutil.Process]:
    """Send SIGTERM to the processes this one started, and theirs.

    Args:
        spare: Children to leave running, with their own children.

    Returns:
        The processes signalled.
    """
    import psutil

    processes = [process for child in psutil.Process().children() if child.pid not in spare
                 for process in (child, *child.children(recursive=True))]
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    return processes


def stop_workers() -> None:
    """Terminate the processes this one started (task workers, served flow runs) but the temporary API servers,
    which stay to hear that the flow runs crashed."""
    _terminate_descendants(spare=_SERVERS)


def _end_descendants(timeout: float = 1.0) -> None:
    """Terminate every process this one started, and theirs; kill those still there after ``timeout`` s."""
    import psutil

    _, alive = psutil.wait_procs(_terminate_descendants(), timeout=timeout)
    for process in alive:  # e.g. multiprocessing's resource tracker, which ignores SIGTERM
        with contextlib.suppress(psutil.Error):
            process.kill()


class _Stop(threading.Thread):
    """Sees SIGINT/SIGTERM arrive and bounds how long the command then takes to stop.

    The interpreter's C-level handler writes the number of every signal it catches to the
    wakeup fd (:func:`signal.set_wakeup_fd`), whichever Python handler runs next — also the one
    Prefect installs for SIGTERM while a flow runs, which first reports the crash to the API.
    """

    def __init__(self, api_url: str | None, grace: float) -> None:
        super().__init__(name="qdistill-stop", daemon=True)
        self.api_url, self.grace = api_url, grace
        self.signum: int | None = None  # the first stop signal
        self._lock = threading.Lock()
        self._read, self.write = os.pipe()
        os.set_blocking(self.write, False)

    def record(self, signum: int) -> bool:
        """Note a stop signal; whether it is the first."""
        with self._lock:
            first = self.signum is None
            if first:
                self.signum = signum
            return first

    def interrupt(self, signum: int, frame: FrameType | None) -> None:
        """The Python-level handler: the first stop signal unwinds the main thread as Ctrl-C does."""
        if self.record(signum):
            raise KeyboardInterrupt

    def run(self) -> None:
        deadline: float | None = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self._read], [], [], timeout)[0]:
                self._end()  # not stopped within the grace period
            data = os.read(self._read, 64)
            if not data:  # the block ended without a stop signal
                os.close(self._read)
                return
            for signum in data:
                if signum not in _STOP_SIGNALS:
                    continue
                if deadline is None:
                    self.record(signum)
                    deadline = self._begin(signum)
                elif signum == signal.SIGINT:
                    self._end()  # a second Ctrl-C: now. (A repeated SIGTERM is Prefect re-raising the first.)

    def _begin(self, signum: int) -> float:
        """Say that the command stops; end it at once if the API does not answer. Returns the deadline."""
        name = signal.Signals(signum).name
        if self.api_url is not None and not _answers(self.api_url):
            _say(f"qdistill: {name} received; the Prefect API at {self.api_url} does not answer, stopping now")
            self._end()
        again = "; Ctrl-C again to stop now" if signum == signal.SIGINT else ""
        _say(f"qdistill: {name} received, stopping (within {self.grace:g} s{again})")
        stop_workers()  # now: the main thread would wait for their tasks to end
        return time.monotonic() + self.grace

    def _end(self) -> NoReturn:
        """End every process the command started, then the command, with status 128 + the signal number."""
        _end_descendants()
        os._exit(128 + (self.signum or signal.SIGTERM))


@contextmanager
def stop_on_signals(api_url: str | None = None, grace: float = STOP_GRACE_SECONDS) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM stop the command cleanly, and within ``grace`` seconds.

    The first signal prints one line and unwinds the main thread as Ctrl-C does, so Prefect
    reports the flow run as crashed, a served runner pauses its schedules, and workers and the
    temporary server stop. If that takes longer than ``grace`` seconds, if the API at
    ``api_url`` does not answer (Prefect would retry each request for minutes), or at a second
    Ctrl-C, the command terminates every process it started and exits at once. Either way the
    exit status is 128 + the signal number (130 for SIGINT, 143 for SIGTERM), what a shell
    reports for a command a signal stopped, so a script can tell an interrupted run from a
    finished one. Outside the main thread (signals go to the main thread only) this does nothing.

    Args:
        api_url: The Prefect API the command's flows report to, if known.
        grace: Seconds a clean stop may take.

    Raises:
        SystemExit: with status 128 + the signal number, when a stop signal arrived.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    import httpx  # noqa: F401  (imported now: the watchdog must never wait on an import the main thread holds)
    import psutil  # noqa: F401

    stop = _Stop(api_url, grace)
    previous = {sig: signal.signal(sig, stop.interrupt) for sig in _STOP_SIGNALS}
    previous_fd = signal.set_wakeup_fd(stop.write, warn_on_full_buffer=False)
    stop.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if stop.signum is None:
            os.close(stop.write)  # the watchdog sees the end of the pipe and returns
        else:  # the watchdog stays armed: the rest of the way out is bounded too
            # The collection at interpreter exit walks TensorFlow's object graph for seconds, where no
            # watchdog runs any more; what is alive now needs no collecting on the way out.
            gc.freeze()
            raise SystemExit(128 + stop.signum)


def _drain() -> None:
    """Send the log records and events still queued for the API before its server goes away."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    EventsWorker.drain_all(timeout=10)


@contextmanager
def api_server(announce: bool = True) -> Iterator[str]:
    """The URL of the Prefect API to use for the duration of the block.

    Within the block, SIGINT and SIGTERM stop the command (:func:`stop_on_signals`).

    Args:
        announce: Print one line when a temporary server is started.

    Raises:
        RuntimeError: if the temporary server does not answer within
            ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``.
    """
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url:
        with stop_on_signals(str(settings.api.url)):
            yield str(settings.api.url)
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    with stop_on_signals(url), _temporary_server(url, port, settings.server.ephemeral.startup_timeout_seconds,
                                                 announce):
        yield url


@contextmanager
def _temporary_server(url: str, port: int, startup_timeout: float, announce: bool) -> Iterator[None]:
    """A Prefect API server at ``url`` (loopback ``port``), a child that dies with this process, for the block."""
    import prefect
    from prefect.context import refresh_global_settings_context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from qkernel._env import environ_set

    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    # Its own session: a Ctrl-C in the terminal reaches the command, which still reports to the
    # server on its way out, and not the server itself.
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent), "--factory",
         "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "error",
         "--lifespan", "on"],
        env=env, stdout=subprocess.DEVNULL, preexec_fn=die_with_parent, start_new_session=True,
    )
    _SERVERS.add(process.pid)
    try:
        deadline = time.monotonic() + startup_timeout
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the temporary Prefect server did not start (exit code {process.poll()})")
            time.sleep(0.2)
        if announce:
            from rich.console import Console

            Console(stderr=True).print(
                f"[dim]temporary Prefect server: {url}[/]", highlight=False)
        try:
            with environ_set("PREFECT_API_URL", url):  # worker processes inherit it
                # Threads without a settings context (the process pool's log and event forwarder) read the
                # global one: without the URL there, Prefect would start a second temporary server for them.
                refresh_global_settings_context()
                with temporary_settings(updates={PREFECT_API_URL: url}):
                    try:
                        yield
                    finally:
                        _drain()
        finally:
            refresh_global_settings_context()  # from the environment as it was before
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _SERVERS.discard(process.pid)
