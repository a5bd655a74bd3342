"""`failed_check_sensor`: one notification when a partition's check starts failing, none while it keeps failing.

Reads new asset check evaluations from the event log after its cursor (the last storage id it saw). A check is
keyed by (partition, asset, check): a failed evaluation notifies only if that key was not failing already, and a
passing one clears it, so a re-run that fails the same way stays quiet and one that fails after a fix speaks
again. The partition is the evaluation's own, else its run's partition tag (checks of this project's
partitioned assets record none). Notices are grouped per run and partition: a run that fails five checks of a
partition sends one message.
"""
from __future__ import annotations

import json

from dagster import (
    DagsterEventType,
    DefaultSensorStatus,
    EventRecordsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from .notify import Notice, run_url, send
from .settings import notify_settings

BATCH = 1000
MAX_FAILING_KEPT = 20_000  # bounds the cursor; the oldest entries go first


def load_cursor(cursor: str | None) -> tuple[int | None, list[str]]:
    try:
        doc = json.loads(cursor or "")
        return int(doc["after"]), [str(k) for k in doc.get("failing", [])]
    except (ValueError, KeyError, TypeError):
        return None, []


def _partition(instance, evaluation, run_id: str, runs: dict) -> str:
    if getattr(evaluation, "partition", None):
        return evaluation.partition
    if run_id not in runs:
        run = instance.get_run_by_id(run_id)
        runs[run_id] = run.tags.get("dagster/partition", "-") if run else "-"
    return runs[run_id]


@sensor(
    name="failed_check_sensor",
    minimum_interval_seconds=30,
    # Running by default, like failed_run_sensor: without NOTIFY_WEBHOOK_URL it only moves its cursor.
    default_status=DefaultSensorStatus.RUNNING,
    description="Posts each asset check that starts failing for a partition to NOTIFY_WEBHOOK_URL, once.",
)
def failed_check_sensor(context: SensorEvaluationContext):
    storage = context.instance.event_log_storage
    after, failing_list = load_cursor(context.cursor)
    if after is None:  # first tick: start at the present, do not announce the whole history
        latest = storage.get_event_records(EventRecordsFilter(DagsterEventType.ASSET_CHECK_EVALUATION), limit=1,
                                           ascending=False)
        context.update_cursor(json.dumps({"after": latest[0].storage_id if latest else 0, "failing": []}))
        return SkipReason("started; notifying failed checks from now on")
    records = storage.get_event_records(EventRecordsFilter(DagsterEventType.ASSET_CHECK_EVALUATION,
                                                           after_cursor=after), limit=BATCH, ascending=True)
    failing = dict.fromkeys(failing_list)
    runs: dict[str, str] = {}
    groups: dict[tuple[str, str], list[str]] = {}
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        run_id = record.event_log_entry.run_id
        partition = _partition(context.instance, evaluation, run_id, runs)
        check = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        key = f"{partition}|{check}"
        if evaluation.passed:
            failing.pop(key, None)
        elif key not in failing:
            failing[key] = None
            severity = getattr(evaluation.severity, "value", "ERROR")
            groups.setdefault((run_id, partition), []).append(f"{check} ({severity})")
    configured = bool(notify_settings().webhook_url)
    for (run_id, partition), checks in groups.items():
        context.log.info(f"{partition}: {len(checks)} check(s) started failing in run {run_id}: {', '.join(checks)}")
        if configured:
            send(Notice("check_failure", f"{len(checks)} check(s) failed for partition {partition}",
                        {"partition": partition, "checks": ", ".join(checks), "run_id": run_id},
                        run_url(run_id)), context.log.warning)
    kept = list(failing)[-MAX_FAILING_KEPT:]
    context.update_cursor(json.dumps({"after": records[-1].storage_id if records else after, "failing": kept}))
    if not groups:
        return SkipReason("no check started failing")
    return None
