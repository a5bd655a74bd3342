"""Which process carries a run, whether it is still alive, and what to do about runs whose process is gone.

Dagster's DefaultRunLauncher cannot tell a run whose worker was killed from one still working, so run
monitoring would leave such a run STARTED forever, holding its pool slot (the Gold step's warehouse slot) and
blocking every later Gold build. The launcher below answers monitoring's health check from the worker's pid:
the one Dagster records when it starts a launched run ("Started process for run (pid: N)"), or the one
`orchestrator submit` tags its in-process runs with. Start times guard against a pid the kernel has reused.

Pids mean something only on the machine that owns them; a run tagged by another host is never judged here.
"""
from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun

WORKER_TAG = "orchestrator/worker"
ACTIVE = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Worker:
    host: str  # "" when Dagster recorded the pid: its launcher runs workers on this machine
    pid: int
    started: float | None  # unix time the process started, when known
    not_after: float | None = None  # the process existed by then (the event that named it)

    def describe(self) -> str:
        return f"pid {self.pid}" + (f" on {self.host}" if self.host else "")


def _boot_time() -> float:
    with open("/proc/stat") as fh:
        return float(next(line.split()[1] for line in fh if line.startswith("btime ")))


def process_start(pid: int) -> float | None:
    """When the process started (unix time), or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: fields after the last ')' are fixed.
    fields = stat[stat.rfind(")") + 2:].split()
    if fields[0] == "Z":  # a zombie has exited; only its parent has not collected it
        return None
    return _boot_time() + int(fields[19]) / _CLOCK_TICKS


def this_process() -> Worker:
    return Worker(socket.gethostname(), os.getpid(), process_start(os.getpid()))


def worker_tags() -> dict[str, str]:
    """Tags for a run this process executes itself (`execute_in_process`)."""
    me = this_process()
    return {WORKER_TAG: f"{me.host}:{me.pid}:{me.started:.2f}"}


def _from_tag(value: str) -> Worker | None:
    host, _, rest = value.rpartition(":")
    host, _, pid = host.rpartition(":")
    try:
        return Worker(host, int(pid), float(rest))
    except ValueError:
        return None


def _from_events(instance: DagsterInstance, run_id: str) -> Worker | None:
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = data.metadata.get("pid") if data and data.metadata else None
        if pid is not None and "Started process for run" in (entry.message or entry.dagster_event.message or ""):
            return Worker("", int(pid.value), None, entry.timestamp)
    return None


def worker_of(instance: DagsterInstance, run: DagsterRun) -> Worker | None:
    if WORKER_TAG in run.tags:
        return _from_tag(run.tags[WORKER_TAG])
    return _from_events(instance, run.run_id)


def alive(worker: Worker) -> bool | None:
    """True or False for a process of this machine; None when it belongs to another host."""
    if worker.host and worker.host != socket.gethostname():
        return None
    started = process_start(worker.pid)
    if started is None:
        return False
    if worker.started is not None:
        return abs(started - worker.started) < 2  # ticks are rounded; a reused pid started later
    # Known only by an event: a process that started after the event is another process under the same pid.
    return worker.not_after is None or started <= worker.not_after + 2


class MonitoredRunLauncher(DefaultRunLauncher):
    """The default launcher, plus a worker health check so run monitoring can fail a run whose process died."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        worker = worker_of(self._instance, run)
        if worker is None:
            # Not launched here and not tagged (e.g. a test's in-process run): nothing to judge it by.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no worker process recorded for this run")
        state = alive(worker)
        if state is False:
            end_leftovers(run.run_id)
            return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker {worker.describe()} is gone (killed, "
                                                             "or its machine restarted)")
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker {worker.describe()} is alive"
                                    if state else f"run worker {worker.describe()} is on another host")


def reap_dead_runs(instance: DagsterInstance) -> list[str]:
    """Mark failed every active run whose worker process is gone, and free its pool slots; returns messages.

    Run monitoring in the daemon does the same for the runs it watches; this serves `orchestrator submit`, which
    may run where no daemon does, and the sensor's ticks.
    """
    done = []
    for run in instance.get_runs(RunsFilter(statuses=ACTIVE)):
        worker = worker_of(instance, run)
        if worker is None or alive(worker) is not False:
            continue
        message = (f"run {run.run_id} ({run.job_name}, partition {run.tags.get('dagster/partition', '-')}) was "
                   f"{run.status.value} but its worker {worker.describe()} is gone: marked failed")
        held = _slots_of(instance, run.run_id)
        end_leftovers(run.run_id)
        instance.report_run_failed(run, message)
        # Failing the run may free its slots already (storages differ); freeing twice is harmless.
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        done.append(message + (f", {held} pool slot(s) freed" if held else ""))
    return done


def end_leftovers(run_id: str) -> list[int]:
    """Kill what a dead run left running on this machine: its output followers.

    Dagster captures a run's output with `tail -F <instance>/storage/<run id>/compute_logs/...` processes that
    outlive a killed run worker forever. Only `tail` processes naming the run's id are ended, so a person's own
    viewer of the same log is left alone. (dbt and Spark end with the run by themselves.)
    """
    ended = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        pid = int(cmdline.parent.name)
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if args[0].rsplit(b"/", 1)[-1] == b"tail" and any(run_id.encode() in arg for arg in args):
            try:
                os.kill(pid, signal.SIGKILL)
                ended.append(pid)
            except (ProcessLookupError, PermissionError):
                pass
    return ended


def _slots_of(instance: DagsterInstance, run_id: str) -> int:
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits or run_id not in storage.get_concurrency_run_ids():
        return 0
    return sum(slot.run_id == run_id for key in storage.get_concurrency_keys()
               for slot in storage.get_concurrency_info(key).claimed_slots)


def watch_run_worker(instance: DagsterInstance, run: DagsterRun, interval: float = 2.0) -> None:
    """End this step process if the run worker that started it dies.

    Under the multiprocess executor each step is a child of the run worker; killed, the worker leaves its steps
    running (and their dbt or Spark children with them). A daemon thread checks the worker every few seconds and
    exits the step, which takes its own children along (child_process.die_with_parent; Spark's JVM exits when its
    driver's pipe closes). A step that runs inside the worker itself (submit, the in-process executor) watches
    nothing.
    """
    worker = worker_of(instance, run)
    if worker is None or worker.pid == os.getpid() or alive(worker) is not True:
        return

    def watch():
        while alive(worker):
            time.sleep(interval)
        os._exit(70)  # EX_SOFTWARE: no cleanup may run, the run is already lost

    threading.Thread(target=watch, name="run-worker-watch", daemon=True).start()


def _age(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def pool_waits(instance: DagsterInstance, run_id: str, pools: Iterable[str] = ()) -> list[str]:
    """What the run's steps wait for: a pool slot, and which runs hold that pool's slots.

    `pools`: pools the run's steps use. Storage lists only pools whose limit was set explicitly, not those
    under dagster.yaml's default_limit.
    """
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    out = []
    for pool in sorted(set(storage.get_concurrency_keys()) | set(pools)):
        info = storage.get_concurrency_info(pool)
        for step in (s for s in info.pending_steps if s.run_id == run_id and s.assigned_timestamp is None):
            holders = []
            for slot in info.claimed_slots:
                holder = instance.get_run_by_id(slot.run_id)
                record = instance.get_run_record_by_id(slot.run_id)
                since = record.start_time if record and record.start_time else None
                holders.append(f"run {slot.run_id[:8]} ({slot.step_key}, partition "
                               f"{holder.tags.get('dagster/partition', '-') if holder else '?'}, "
                               f"{holder.status.value if holder else 'deleted'}"
                               + (f", started {_age(time.time() - since)} ago" if since else "") + ")")
            waited = time.time() - step.enqueued_timestamp.timestamp()
            out.append(f"step {step.step_key} has waited {_age(waited)} for a slot in pool '{pool}' (limit "
                       f"{info.limit}), held by " + (", ".join(holders) or "nobody yet"))
    return out
