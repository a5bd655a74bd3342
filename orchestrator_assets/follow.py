"""Follow a run through the instance's event log: progress lines, the root error, and the run's full log file.

Works the same for a run this process executes (`submit --in-process`, read from a second thread) and for one the
daemon launched elsewhere (`submit --wait`, `orchestrator follow`), because both write to the same event log.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance

# dagster-dbt logs one warning per dbt source test that is not a Dagster asset check (~30 a build); they say
# nothing about this run's health.
DBT_OBSERVATION_NOTE = "Logging an `AssetObservation` instead of an `AssetCheckResult`"
DAEMON_HINT = ("no dagster-daemon is running for this instance (DAGSTER_HOME={home}), so the queued run will not "
               "start: start one with `make dev` or `dagster-daemon run -w workspace.yaml`, or run it here with "
               "`orchestrator submit --in-process`")
STEP_EVENTS = {DagsterEventType.STEP_START: "started", DagsterEventType.STEP_RESTARTED: "started again",
               DagsterEventType.STEP_SUCCESS: "done"}


def root_error(event) -> tuple[str, str]:
    """(exception class, first line of its message) of the innermost cause: the user's error, not Dagster's
    wrapper ("Exceeded max_retries", "Error occurred while executing op")."""
    error = getattr(event.event_specific_data, "error", None)
    if error is None:
        return "", next(iter((event.message or "").splitlines()), "")
    while error.cause is not None:
        error = error.cause
    first = next(iter((error.message or "").strip().splitlines()), "")
    return error.cls_name or "", first.removeprefix(f"{error.cls_name}: ")


def describe_error(event) -> str:
    cls_name, message = root_error(event)
    return f"{cls_name}: {message}" if cls_name else message


class DbtNoteFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(DBT_OBSERVATION_NOTE)


def quiet_dbt_notes() -> None:
    """Drop dagster-dbt's per-source-test note where it is logged (this process only); other warnings stay."""
    logging.getLogger("dagster.builtin").addFilter(DbtNoteFilter())


def daemon_missing(instance: DagsterInstance) -> str | None:
    """Why a queued run would not start, or None: the run queue needs a live dagster-daemon."""
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster._daemon.controller import get_daemon_statuses

    if not isinstance(instance.run_coordinator, QueuedRunCoordinator):
        return None  # runs are launched at submission, no queue to drain
    daemon = "QUEUED_RUN_COORDINATOR"
    if get_daemon_statuses(instance, [daemon], ignore_errors=True)[daemon].healthy:
        return None
    return DAEMON_HINT.format(home=os.environ.get("DAGSTER_HOME", "?"))


def _asset_name(event) -> str:
    return event.asset_key.to_user_string() if event.asset_key else "?"


class Progress:
    """Turns a run's new event records into progress lines. Assets that land within `fold_seconds` of each
    other share a line, so a step writing ten tables in a few seconds takes a line or two, not ten."""

    def __init__(self, fold_seconds: float = 3.0):
        self.planned: dict[str, int] = {}
        self.landed: dict[str, int] = {}
        self.pending: dict[str, list[str]] = {}
        self.fold_seconds = fold_seconds
        self.last_flush = time.monotonic()
        self.run_start: float | None = None  # time of the run's first event: the clock counts from there

    def lines(self, records) -> list[str]:
        out = []
        for record in records:
            entry = record.event_log_entry
            event = entry.dagster_event
            self.run_start = self.run_start or entry.timestamp
            clock = self._clock(entry.timestamp)
            if event is None:
                if entry.level >= logging.WARNING and not entry.user_message.startswith(DBT_OBSERVATION_NOTE):
                    out.append(f"  {logging.getLevelName(entry.level).lower()}: {entry.step_key or 'run'}: "
                               f"{next(iter(entry.user_message.splitlines()), '')}")
                continue
            kind, step = event.event_type, event.step_key
            if kind == DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
                self.planned[step] = self.planned.get(step, 0) + 1
            elif kind == DagsterEventType.ASSET_MATERIALIZATION:
                self.pending.setdefault(step, []).append(_asset_name(event).split("/", 1)[-1])
            elif kind in STEP_EVENTS:
                out += self.flush()
                out.append(f"[{clock}] {step} {STEP_EVENTS[kind]}")
            elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
                evaluation = event.event_specific_data
                if not evaluation.passed:
                    out.append(f"  check failed: {evaluation.asset_key.to_user_string()} {evaluation.check_name}")
            elif kind == DagsterEventType.STEP_UP_FOR_RETRY:
                out.append(f"[{clock}] {step} failed, will retry: {describe_error(event)}")
            elif kind == DagsterEventType.STEP_FAILURE:
                out += self.flush()
                out.append(f"[{clock}] {step} FAILED: {describe_error(event)}")
        if time.monotonic() - self.last_flush >= self.fold_seconds:
            out += self.flush()
        return out

    def flush(self) -> list[str]:
        out = []
        for step, names in self.pending.items():
            self.landed[step] = self.landed.get(step, 0) + len(names)
            of = f" ({self.landed[step]}/{self.planned[step]})" if self.planned.get(step) else ""
            out.append(f"  {step}: {', '.join(names)}{of}")
        self.pending.clear()
        self.last_flush = time.monotonic()
        return out

    def _clock(self, when: float) -> str:
        seconds = max(0, int(when - self.run_start))
        return f"{seconds // 60:02d}:{seconds % 60:02d}"


def follow(instance: DagsterInstance, run_id: str, say: Callable[[str], None], poll: float = 0.5,
           stop: Callable[[], bool] = lambda: False, daemon_check_seconds: float = 10.0):
    """Report the run's progress through `say` until it finishes (or `stop()`); returns the finished run.

    While the run is still queued, checks every `daemon_check_seconds` whether a daemon would start it, and says
    so once if not.
    """
    progress, cursor, warned, checked = Progress(), None, False, 0.0
    while True:
        run = instance.get_run_by_id(run_id)
        connection = instance.get_records_for_run(run_id, cursor=cursor)
        cursor = connection.cursor
        for line in progress.lines(connection.records):
            say(line)
        if connection.has_more:
            continue
        if (run is not None and run.is_finished) or stop():
            for line in progress.flush():
                say(line)
            return run
        if run is not None and run.status.value == "QUEUED" and not warned and time.monotonic() - checked >= daemon_check_seconds:
            checked = time.monotonic()
            hint = daemon_missing(instance)
            if hint:
                say(hint)
                warned = True
        time.sleep(poll)


def failure_of(instance: DagsterInstance, run_id: str) -> str:
    """The root error of a failed run: its first failed step's, else the run failure's own message."""
    for kind in (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE):
        entries = instance.all_logs(run_id, of_type=kind)
        if entries:
            event = entries[0].dagster_event
            return (f"{event.step_key}: " if event.step_key else "") + describe_error(event)
    return "the run failed without a failure event (see the run log)"


def _log_lines(instance: DagsterInstance, run_id: str) -> Iterator[str]:
    for entry in instance.all_logs(run_id):
        when = datetime.fromtimestamp(entry.timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")
        level = logging.getLevelName(entry.level)
        kind = f" {entry.dagster_event.event_type_value}" if entry.dagster_event else ""
        yield f"{when} {level:<7} {entry.step_key or '-'}{kind} - {entry.message or entry.user_message}"
    # What the steps printed (dbt's whole log among it), as Dagster captured it.
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.LOGS_CAPTURED):
        data = entry.dagster_event.logs_captured_data
        captured = instance.compute_log_manager.get_log_data([run_id, "compute_logs", data.file_key])
        for stream, text in (("stdout", captured.stdout), ("stderr", captured.stderr)):
            if text:
                yield f"\n===== {stream} of steps {', '.join(data.step_keys or [])} ====="
                yield text.decode("utf-8", "replace").rstrip("\n")


def write_run_log(instance: DagsterInstance, run_id: str, path: Path) -> Path:
    """The run's events and its steps' captured output in one file, written whole (temporary file, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(_log_lines(instance, run_id)) + "\n")
    tmp.replace(path)
    return path
