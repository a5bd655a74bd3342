"""Bronze partitions waiting to be cleaned, and the run request that cleans each; shared by sensor and schedules.

A partition waits when its Bronze manifest is in storage (the manifest is written last, so Bronze is complete),
its Silver has never been materialised, and no run has taken it on: no run of a clean job, whatever became of
it (a failed one is recorded for a person, not retried forever), and no run in progress at all (e.g.
`orchestrator submit`, whose medallion run writes Bronze and then cleans it itself).
Everything but the manifests comes from the Dagster instance, so no list of handled partitions is kept here.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dagster import AssetKey, DagsterInstance, DagsterRun, DagsterRunStatus, RunRequest, RunsFilter

from .generation.bronze import count_rows, read_manifest
from .ids import partition_key
from .jobs import CLEAN_JOBS, PATH_TAG
from .layout import MANIFEST_PREFIX, parse_manifest_key
from .partitions import job_partitions
from .routing import Route, choose_route
from .settings import RouterSettings, router_settings
from .storage.base import Storage, StorageError

# The Silver step's last output: present for a partition only when its whole Silver was written.
SILVER_DONE = AssetKey(["silver", "quarantine"])
PARTITION_TAG = "dagster/partition"
IN_PROGRESS = {DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
               DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING}
CLEAN_JOB_NAMES = {job.name for job in CLEAN_JOBS.values()}
# A tick launches at most this many runs; the rest still wait and go on the next tick. It bounds the
# tick's time (the sensor timeout is 60 s) and the cursor, and keeps one user's bulk drop from flooding the queue.
MAX_RUNS_PER_TICK = 200
_LOOKUP_BATCH = 100


@dataclass(frozen=True)
class Arrival:
    user: str
    job: str
    records: int
    route: Route

    @property
    def key(self) -> str:
        return partition_key(self.user, self.job)

    @property
    def job_name(self) -> str:
        return CLEAN_JOBS[self.route.path].name

    def describe(self) -> str:
        return (f"{self.key}: {self.records:,} records -> {self.route.engine} on {self.job_name} "
                f"({self.route.reason})")


def bronze_partitions(store: Storage, log: logging.Logger) -> list[tuple[str, str]]:
    """(user, job) of every Bronze manifest; a key that is not a valid partition is logged and skipped."""
    found = []
    for key in store.list(MANIFEST_PREFIX):
        try:
            found.append(parse_manifest_key(key))
        except ValueError as err:
            log.warning(f"skipping {key}: {err}")
    return found


def _batches(items: Sequence, size: int = _LOOKUP_BATCH) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def claimed(instance: DagsterInstance, keys: Sequence[str]) -> dict[str, DagsterRun]:
    """The keys a run has taken on (any run of a clean job, or any run in progress), with that run."""
    taken: dict[str, DagsterRun] = {}
    for batch in _batches(list(keys)):
        for run in instance.get_runs(RunsFilter(tags={PARTITION_TAG: list(batch)})):
            if run.job_name in CLEAN_JOB_NAMES or run.status in IN_PROGRESS:
                taken.setdefault(run.tags[PARTITION_TAG], run)
    return taken


def _arrival(store: Storage, user: str, job: str, thresholds: RouterSettings,
             log: logging.Logger) -> Arrival | None:
    try:
        manifest = read_manifest(store, user, job)
        # A hand drop without row counts has its parts' lines counted (once: the partition is launched).
        records = count_rows(store, manifest) if manifest is not None else 0
    except (StorageError, ValueError, KeyError, TypeError) as err:  # a half-copied or hand-edited manifest
        log.warning(f"skipping {user}.{job}: its Bronze manifest cannot be read ({type(err).__name__}: {err})")
        return None
    if manifest is None:  # deleted between listing and reading
        return None
    return Arrival(user, job, records, choose_route(records, thresholds))


def find_waiting(instance: DagsterInstance, store: Storage, log: logging.Logger, *, path: str | None = None,
                 skip: Iterable[str] = (), limit: int = MAX_RUNS_PER_TICK) -> list[Arrival]:
    """Waiting partitions in key order, routed, at most `limit`; only those routed to `path` if given."""
    thresholds = router_settings()
    excluded = instance.get_materialized_partitions(SILVER_DONE) | set(skip)
    candidates = [(u, j) for u, j in bronze_partitions(store, log) if partition_key(u, j) not in excluded]
    found: list[Arrival] = []
    for batch in _batches(candidates):
        taken = claimed(instance, [partition_key(u, j) for u, j in batch])
        for user, job in batch:
            run = taken.get(partition_key(user, job))
            if run is not None:
                if run.status in IN_PROGRESS:  # say what it waits for: a run that never ends would hold it
                    log.info(f"{partition_key(user, job)}: left to run {run.run_id} of {run.job_name}, "
                             f"{run.status.value}")
                continue
            arrival = _arrival(store, user, job, thresholds, log)
            if arrival is None or (path is not None and arrival.route.path != path):
                continue
            found.append(arrival)
            if len(found) >= limit:
                log.info(f"{limit} runs, the most per tick; any partition still waiting goes on the next tick")
                return found
    return found


def unregistered(instance: DagsterInstance, arrivals: Iterable[Arrival]) -> list[str]:
    """Keys of arrivals not yet in the `jobs` partitions (Bronze dropped in by hand, or by another tool)."""
    return [a.key for a in arrivals if not instance.has_dynamic_partition(job_partitions.name, a.key)]


def run_request(arrival: Arrival, source: str) -> RunRequest:
    """The run that cleans one partition. run_key = partition key: Dagster refuses a second run with the same
    key from the same sensor, so a partition is launched once even if a cursor is lost."""
    route = arrival.route
    return RunRequest(
        run_key=arrival.key,
        job_name=arrival.job_name,
        partition_key=arrival.key,
        run_config={"resources": {"cleaning": {"config": {"engine": route.engine}}}},
        tags={
            "orchestrator/user": arrival.user,
            "orchestrator/job": arrival.job,
            "orchestrator/engine": route.engine,
            PATH_TAG: route.path,
            "orchestrator/records": str(arrival.records),
            "orchestrator/route_reason": route.reason,
            "orchestrator/submitted_by": source,
        },
    )
