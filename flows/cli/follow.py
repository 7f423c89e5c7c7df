"""Live progress for the long commands: one transient status line that follows the command's log file.

``qdistill run``, ``dd``, ``ablation`` and ``tune`` keep the console calm — Prefect's own console shows errors only —
while their flows train for minutes to hours, in this process and in task worker processes. Every one of
those processes appends its records to the command's log file (:func:`flows.cli.log_file`), so the file is
the one place that sees all of them: on a terminal, :func:`following` shows the elapsed time and the newest
progress record (an epoch, an outer step, an init's accuracy) under a spinner, and removes the line when the
command ends. Off a terminal (a pipe, CI, a scheduler) it shows nothing; the log file has every record.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.text import Text

__all__ = ["POLL_SECONDS", "following", "progress_message"]

#: How often the status line re-reads the log file.
POLL_SECONDS = 0.5

# flows.common.copy_logs_to's format: "%(asctime)s %(levelname)s %(name)s: %(message)s" (tests/flows/test_follow.py
# reads lines its handler wrote, so a change to one breaks the test until the other follows)
_RECORD = re.compile(r"^\S+ \S+ (?:INFO|WARNING) prefect\.(?:task|flow)_runs: (?P<message>.+)$")
# Prefect's own bookkeeping of run states, not progress of the work.
_BOOKKEEPING = ("Finished in state", "Beginning flow run", "View at ", "Created task run", "Executing ",
                "Submitting ", "Running ")


def progress_message(line: str) -> str | None:
    """The message of a log-file line if it reports progress of the work (a flow's or task's INFO or WARNING
    record that is not Prefect's run-state bookkeeping), else ``None``."""
    match = _RECORD.match(line.rstrip("\n"))
    if match is None or match["message"].startswith(_BOOKKEEPING):
        return None
    return match["message"]


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes}:{secs:02d}"


@contextmanager
def following(path: Path, console: Console, what: str, show: bool = True) -> Iterator[None]:
    """While the block runs, a spinner on ``console`` with ``what``, the elapsed time and the newest progress
    record appended to ``path`` — on a terminal only, and if ``show``; otherwise the block runs with no
    status line.

    Lines are read whole (a record half-written by another process waits for its end); ``console.print``
    inside the block prints above the status line.
    """
    if not (show and console.is_terminal):
        yield
        return
    start = time.monotonic()
    stop = threading.Event()
    with console.status(Text(f"{what} 0:00"), spinner="dots") as status:

        def follow() -> None:
            latest, partial = "", ""
            with open(path, encoding="utf-8", errors="replace") as log:
                while not stop.wait(POLL_SECONDS):
                    partial += log.read()
                    *lines, partial = partial.split("\n")
                    for line in lines:
                        latest = progress_message(line) or latest
                    shown = f"{what} {_elapsed(time.monotonic() - start)}" + (f" · {latest}" if latest else "")
                    status.update(Text(shown[: max(20, console.width - 4)]))  # not markup: "[+1.5, +4.7]"

        thread = threading.Thread(target=follow, name="qdistill-follow", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
