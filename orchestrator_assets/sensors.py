"""Sensors: clean each Bronze partition that lands, on the engine its size calls for; record every failed run.

Cursor of the arrival sensor: only the partitions it launched that the instance does not show a run for yet,
as {"pending": {key: unix time}}. Whether a partition was handled is read from the instance (its Silver
materialisations and runs, see arrivals.py), which holds it anyway and answers it by index, so the cursor stays
a few kB at 100,000 partitions instead of growing with every job. A pending key is dropped once its run exists
and, should the daemon never have created that run, after an hour, when the partition is requested again
under the same run_key, which Dagster launches only if no such run exists.
"""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from dagster import (
    AssetKey,
    AssetObservation,
    DefaultSensorStatus,
    MetadataValue,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SensorResult,
    run_failure_sensor,
    sensor,
)

from . import layout
from .arrivals import PARTITION_TAG, SILVER_DONE, claimed, find_waiting, run_request, unregistered
from .follow import root_error
from .ids import PartitionKeyError, split_key
from .jobs import clean_large_job, clean_small_job, medallion_job
from .notify import Notice, run_url, send
from .partitions import job_partitions
from .resources import StorageResource
from .run_workers import reap_dead_runs
from .settings import automation_settings

PENDING_TTL_SECONDS = 3600
MAX_FAILURES_KEPT = 50
# Where a failure shows in the UI: on the asset the failed step writes (step key = the multi-asset's name).
STEP_ASSETS = {"bronze": AssetKey(["bronze", "error_ledger"]), "silver": SILVER_DONE,
               "gold": AssetKey(["gold", "fact_orders"])}


def _sensor_status(setting: str) -> DefaultSensorStatus:
    return DefaultSensorStatus.RUNNING if setting == "running" else DefaultSensorStatus.STOPPED


def load_cursor(cursor: str | None) -> dict[str, int]:
    if not cursor:
        return {}
    try:
        return {str(k): int(v) for k, v in json.loads(cursor)["pending"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}  # unreadable: the instance and run keys still keep a partition from launching twice


def dump_cursor(pending: dict[str, int]) -> str:
    return json.dumps({"pending": dict(sorted(pending.items()))}, separators=(",", ":"))


@sensor(
    name="bronze_arrival_sensor",
    jobs=[clean_small_job, clean_large_job],
    minimum_interval_seconds=60,
    # Stopped unless BRONZE_SENSOR_STATUS=running: in development `orchestrator submit` already cleans what it
    # generates, and a sensor that starts by itself would clean whatever Bronze lies in ./data.
    default_status=_sensor_status(automation_settings().bronze_sensor_status),
    description="Registers and cleans each new Bronze partition: pandas on clean_small_job up to "
                "ROUTER_SMALL_MAX_RECORDS records, DuckDB or Spark on clean_large_job beyond.",
)
def bronze_arrival_sensor(context: SensorEvaluationContext, storage: StorageResource) -> SensorResult:
    now = int(time.time())
    for message in reap_dead_runs(context.instance):  # else its partition would count as in progress forever
        context.log.warning(message)
    pending = {k: t for k, t in load_cursor(context.cursor).items() if now - t < PENDING_TTL_SECONDS}
    if pending:
        taken = claimed(context.instance, list(pending))
        pending = {k: t for k, t in pending.items() if k not in taken}
    arrivals = find_waiting(context.instance, storage.get(), context.log, skip=pending)
    for arrival in arrivals:
        context.log.info(arrival.describe())
        pending[arrival.key] = now
    new = unregistered(context.instance, arrivals)
    return SensorResult(
        run_requests=[run_request(a, "sensor") for a in arrivals],
        dynamic_partitions_requests=[job_partitions.build_add_request(new)] if new else None,
        skip_reason=None if arrivals else "no Bronze partition is waiting to be cleaned",
        cursor=dump_cursor(pending),
    )


def _engine(run) -> str | None:
    config = (run.run_config or {}).get("resources", {}).get("cleaning", {}).get("config", {})
    return run.tags.get("orchestrator/engine") or config.get("engine")


@run_failure_sensor(
    name="failed_run_sensor",
    monitored_jobs=[medallion_job, clean_small_job, clean_large_job],
    # Running by default: it only writes down failures, and a failure nobody recorded is lost from view.
    default_status=DefaultSensorStatus.RUNNING,
    description="Appends each failed run to status/<user>/<job>/failures.json, reports it as an observation "
                "of the asset whose step failed, and posts it to NOTIFY_WEBHOOK_URL when set.",
)
def failed_run_sensor(context: RunFailureSensorContext, storage: StorageResource) -> None:
    run = context.dagster_run
    key = run.tags.get(PARTITION_TAG)
    steps = context.get_step_failure_events()
    cls_name, message = root_error(steps[0] if steps else context.failure_event)
    step = steps[0].step_key if steps else None
    entry = {"run_id": run.run_id, "job": run.job_name, "engine": _engine(run),
             "path": run.tags.get("orchestrator/path"), "step": step, "error_class": cls_name, "error": message,
             "time": datetime.now(UTC).isoformat(timespec="seconds")}
    notice = Notice("run_failure", f"Run failed: {run.job_name} for partition {key or '-'}", {
        "partition": key or "-", "job": run.job_name, "step": step or "-",
        "error": f"{cls_name}: {message}" if cls_name else message, "run_id": run.run_id}, run_url(run.run_id))
    try:
        user, job = split_key(key or "")
    except PartitionKeyError:  # no partition, or a key typed into the UI that no storage path may carry
        context.log.warning(f"run {run.run_id} of {run.job_name} (partition {key!r}) failed: {message}")
        send(notice, context.log.warning)
        return
    store = storage.get()
    status_key = layout.status_key(user, job)
    doc = json.loads(store.get_bytes(status_key)) if store.exists(status_key) else {"partition": key, "failures": []}
    if any(f["run_id"] == run.run_id for f in doc["failures"]):
        return  # a tick evaluated again after a crash: recorded already
    doc["failures"] = (doc["failures"] + [entry])[-MAX_FAILURES_KEPT:]
    store.put_bytes(status_key, json.dumps(doc, indent=2).encode())
    context.instance.report_runless_asset_event(AssetObservation(
        asset_key=STEP_ASSETS.get(step, SILVER_DONE), partition=key,
        metadata={"failed_run": run.run_id, "failed_job": run.job_name, "failed_step": step or "",
                  "engine": entry["engine"] or "", "error": f"{cls_name}: {message}" if cls_name else message,
                  "failures": MetadataValue.path(store.uri(status_key))},
    ))
    context.log.info(f"{key}: run {run.run_id} of {run.job_name} failed in {step or 'the run'}: {message}")
    send(notice, context.log.warning)  # after recording: a tick evaluated again finds it recorded, sends nothing
