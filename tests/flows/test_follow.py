"""The long commands' status line: it follows the command's log file, whoever appends to it."""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path

import pytest
from rich.console import Console

from flows.cli.follow import POLL_SECONDS, following, progress_message
from flows.common import copy_logs_to

STEP = "2026-12-07 22:21:10,139 INFO prefect.task_runs: qconvnet-64 outer step 400: loss 27.6994"


@pytest.mark.parametrize(("line", "message"), [
    (STEP + "\n", "qconvnet-64 outer step 400: loss 27.6994"),
    ("2026-12-07 22:47:52,250 INFO prefect.flow_runs: lenet: random real 0.9236; lenet set 0.9456 (test)",
     "lenet: random real 0.9236; lenet set 0.9456 (test)"),
    ("2026-12-07 22:25:50,735 INFO prefect.task_runs: Finished in state Completed()", None),
    ("2026-12-07 22:18:09,111 INFO prefect.flow_runs: Beginning flow run 'versed-cuttlefish' for flow 'dd'", None),
    ("2026-12-07 22:18:09,111 INFO prefect.server.api: something of the server's", None),
    ("qconvnet-64 outer step 400", None),  # not a record (a wrapped line, a traceback)
])
def test_only_the_works_own_records_count_as_progress(line: str, message: str | None) -> None:
    assert progress_message(line) == message


def test_the_log_files_own_lines_are_read(tmp_path: Path) -> None:
    """progress_message reads the lines copy_logs_to's handler writes (every process logs through it), not
    only the hand-written ones above: the format and the pattern live in two files."""
    handler = copy_logs_to(tmp_path / "run.log")
    try:
        for name, message in [("prefect.task_runs", "qconvnet-64 outer step 400: loss 27.6994"),
                              ("prefect.flow_runs", "Finished in state Completed()")]:
            handler.handle(logging.LogRecord(name, logging.INFO, __file__, 0, message, None, None))
    finally:
        logging.getLogger("prefect").removeHandler(handler)
        handler.close()
    lines = (tmp_path / "run.log").read_text(encoding="utf-8").splitlines(keepends=True)
    assert [progress_message(line) for line in lines] == ["qconvnet-64 outer step 400: loss 27.6994", None]


def _shown(out: io.StringIO, text: str, patience: float = 30.0) -> bool:
    """Whether ``text`` reaches the console within ``patience`` seconds (a wait, not a speed check)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if text in out.getvalue():
            return True
        time.sleep(POLL_SECONDS / 5)
    return False


def test_a_terminal_shows_the_newest_whole_record_any_process_appended(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("")
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with following(log, console, "qdistill dd"):
        with open(log, "a", encoding="utf-8") as writer:  # another process's handler, line-buffered
            writer.write(STEP + "\n" + STEP.replace("400", "440")[:60])  # the second record half-written
            writer.flush()
            assert _shown(out, "qdistill dd 0:0")
            assert _shown(out, "outer step 400: loss 27.6994")
            time.sleep(3 * POLL_SECONDS)
            assert "outer step 440" not in out.getvalue()  # a record is shown only once it is whole
            writer.write(STEP.replace("400", "440")[60:] + "\n")
            writer.flush()
            assert _shown(out, "outer step 440: loss 27.6994")
        console.print("results", highlight=False)  # the command's own output, above the status line


@pytest.mark.parametrize("terminal", [False, True])
def test_no_status_line_off_a_terminal_or_when_records_are_printed_anyway(tmp_path: Path, terminal: bool) -> None:
    log = tmp_path / "run.log"
    log.write_text(STEP + "\n")
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=120)
    with following(log, console, "qdistill dd", show=not terminal):  # on a terminal: as with --verbose
        time.sleep(3 * POLL_SECONDS)
    assert out.getvalue() == ""
