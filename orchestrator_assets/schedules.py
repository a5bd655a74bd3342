"""Batch schedules, the alternative to the arrival sensor: a frequent sweep of small jobs, a nightly large window.

Each cleans the partitions that wait (arrivals.find_waiting, the sensor's own rule) and are routed to its
path; with nothing waiting, the tick is skipped. Both start stopped unless SCHEDULES_STATUS=running.
"""
from __future__ import annotations

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from .arrivals import find_waiting, run_request, unregistered
from .jobs import clean_large_job, clean_small_job
from .partitions import job_partitions
from .resources import StorageResource
from .settings import automation_settings

_settings = automation_settings()
_status = DefaultScheduleStatus.RUNNING if _settings.schedules_status == "running" else DefaultScheduleStatus.STOPPED


def sweep(context: ScheduleEvaluationContext, storage: StorageResource, path: str) -> list[RunRequest] | SkipReason:
    arrivals = find_waiting(context.instance, storage.get(), context.log, path=path)
    if not arrivals:
        return SkipReason(f"no Bronze partition is waiting for the {path} path")
    # A schedule cannot return partition requests as a sensor does, so it registers new keys itself.
    new = unregistered(context.instance, arrivals)
    if new:
        context.instance.add_dynamic_partitions(job_partitions.name, new)
    for arrival in arrivals:
        context.log.info(arrival.describe())
    return [run_request(a, f"schedule:{path}") for a in arrivals]


@schedule(name="small_batch_sweep", job=clean_small_job, cron_schedule=_settings.small_batch_cron,
          execution_timezone="UTC", default_status=_status,
          description="Cleans every waiting partition routed to pandas (SMALL_BATCH_CRON, default every 15 min).")
def small_batch_sweep(context: ScheduleEvaluationContext, storage: StorageResource):
    return sweep(context, storage, "small")


@schedule(name="large_batch_window", job=clean_large_job, cron_schedule=_settings.large_batch_cron,
          execution_timezone="UTC", default_status=_status,
          description="Cleans every waiting partition routed to DuckDB or Spark (LARGE_BATCH_CRON, default "
                      "02:00 UTC).")
def large_batch_window(context: ScheduleEvaluationContext, storage: StorageResource):
    return sweep(context, storage, "large")
