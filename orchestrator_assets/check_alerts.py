"""`failed_check_sensor`: one notification when a partition's check starts failing, none while it keeps failing.

Goes through the runs that finished since its last tick (by the run storage's update time, which every event
log storage answers; SQLite's run-sharded event ids are not comparable across runs) and reads each run's check
evaluations. A check is keyed by (partition, asset, check): a failed evaluation notifies only if that key was
not failing already, and a passing one clears it, so a re-run that fails the same way stays quiet and one that
fails after a fix speaks again. The partition is the evaluation's own, else its run's partition tag (checks of
this project's partitioned assets record none). Notices are grouped per run and partition: a run that fails
five checks of a partition sends one message.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime

from dagster import (
    DagsterEventType,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from .notify import Notice, run_url, send

BATCH = 200
MAX_FAILING_KEPT = 20_000  # bounds the cursor; the oldest entries go first
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]


def load_cursor(cursor: str | None) -> tuple[float | None, list[str], list[str]]:
    try:
        doc = json.loads(cursor or "")
        return float(doc["after"]), [str(r) for r in doc.get("seen", [])], [str(k) for k in doc.get("failing", [])]
    except (ValueError, KeyError, TypeError):
        return None, [], []


def _when(record) -> float:
    stamp = record.update_timestamp
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()  # storages differ; both are UTC


def _failed_checks(instance, record, failing: dict) -> list[str]:
    run = record.dagster_run
    found = []
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data
        partition = getattr(evaluation, "partition", None) or run.tags.get("dagster/partition", "-")
        check = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        key = f"{partition}|{check}"
        if evaluation.passed:
            failing.pop(key, None)
        elif key not in failing:
            failing[key] = None
            found.append((partition, f"{check} ({getattr(evaluation.severity, 'value', 'ERROR')})"))
    return found


@sensor(
    name="failed_check_sensor",
    minimum_interval_seconds=30,
    # Running by default, like failed_run_sensor: without NOTIFY_WEBHOOK_URL it only moves its cursor.
    default_status=DefaultSensorStatus.RUNNING,
    description="Posts each asset check that starts failing for a partition to NOTIFY_WEBHOOK_URL, once.",
)
def failed_check_sensor(context: SensorEvaluationContext):
    after, seen, failing_list = load_cursor(context.cursor)
    if after is None:  # first tick: start at the present, do not announce the whole history
        context.update_cursor(json.dumps({"after": datetime.now(UTC).timestamp(), "seen": [], "failing": []}))
        return SkipReason("started; notifying failed checks from now on")
    records = [r for r in context.instance.get_run_records(
        RunsFilter(statuses=FINISHED, updated_after=datetime.fromtimestamp(after, UTC)), limit=BATCH,
        order_by="update_timestamp", ascending=True) if r.dagster_run.run_id not in seen]
    failing = dict.fromkeys(failing_list)
    groups: dict[tuple[str, str], list[str]] = {}
    for record in records:
        for partition, check in _failed_checks(context.instance, record, failing):
            groups.setdefault((record.dagster_run.run_id, partition), []).append(check)
    for (run_id, partition), checks in groups.items():
        context.log.info(f"{partition}: {len(checks)} check(s) started failing in run {run_id}: {', '.join(checks)}")
        send(Notice("check_failure", f"{len(checks)} check(s) failed for partition {partition}",
                    {"partition": partition, "checks": ", ".join(checks), "run_id": run_id}, run_url(run_id)),
             context.log.warning)
    if records:
        # The runs at the newest update time are remembered too: the next query may return them again.
        after = _when(records[-1])
        seen = [r.dagster_run.run_id for r in records if _when(r) >= after]
    context.update_cursor(json.dumps({"after": after, "seen": seen, "failing": list(failing)[-MAX_FAILING_KEPT:]}))
    if not groups:
        return SkipReason("no check started failing")
    return None
