"""The validated door for job requests: the `submit_job` (launchpad, GraphQL) and the sensor that runs what it admits.

`submit_job` checks a request in full (ids, rows, seed, spec and its limits, Faker pools) before anything is
written; a refused one fails the run with the message naming what was typed, and leaves no request and no
partition. An admitted one is stored, its partition registered, and the submit run tagged with the partition
key. `submitted_jobs_sensor` then launches medallion_job for each partition a successful submit run admitted,
once, and removes from the `jobs` set any key that is not a valid partition key (added by hand in the UI or
through `addDynamicPartition`, bypassing the door; the Bronze step refuses such keys before any write anyway).

The sensor looks only at submit runs, not at every registered partition: `orchestrator submit` registers a
partition and then runs it itself, so a partition registered without a submit run belongs to whoever added it.
Its cursor is the update time of the last submit run it looked at.
"""

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import yaml
from dagster import (
    Config,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    Failure,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    Output,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    in_process_executor,
    job,
    op,
    sensor,
)
from pydantic import Field

from . import layout
from .arrivals import CLEAN_JOB_NAMES, IN_PROGRESS, PARTITION_TAG
from .generation.spec import DatasetSpec, SpecError, parse_spec
from .ids import PartitionKeyError, split_key
from .jobs import medallion_job
from .partitions import job_partitions
from .requests import build_request, save_request
from .resources import StorageResource
from .storage.base import Storage

# Tags the submit run carries once its request is admitted: how a client finds the partition it made.
PARTITION_KEY_TAG = "orchestrator/partition"
USER_TAG = "orchestrator/user"
JOB_TAG = "orchestrator/job"
# A spec sent as text rides in the run config, which the instance stores with every run.
MAX_SPEC_TEXT_BYTES = 1 * 2**20
# Runs that count as having taken a partition on, whatever became of them: a failed one is for a person to look at.
PIPELINE_JOBS = CLEAN_JOB_NAMES | {medallion_job.name}
MAX_LAUNCHES_PER_TICK = 200
# Submit runs updated within this long before the cursor are looked at again: runs updated in the same instant
# as the cursor's are not lost, and the run key and the run lookup keep the ones seen twice from launching twice.
CURSOR_OVERLAP_SECONDS = 5.0
_LOOKUP_BATCH = 100


class SubmitConfig(Config):
    user: str = Field(description="User id: 1-40 of a-z, 0-9, '_', '-', starting with a letter or digit.")
    job: str = Field("", description="Job id (same rule); empty = a new timestamped id.")
    rows: int = Field(100_000, description="Rows of the anchor table (orders for the built-in spec).")
    seed: int = Field(42, description="Same seed + spec + user + job = byte-identical Bronze.")
    spec: str = Field("", description="A dataset spec as YAML or JSON text, or the path of a spec file on the "
                                      "code location's machine; empty = the built-in e-commerce spec.")
    compression: str = Field("none", description="none or gzip.")


def read_spec(text: str) -> DatasetSpec | str | None:
    """The spec a submission names: parsed if it is text (several lines, or JSON), else a path for build_request."""
    if not text.strip():
        return None
    if "\n" not in text and not text.lstrip().startswith("{"):
        return text.strip()
    size = len(text.encode())
    if size > MAX_SPEC_TEXT_BYTES:
        raise SpecError(f"spec text is {size:,} bytes, over the limit of {MAX_SPEC_TEXT_BYTES:,}")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError(f"spec text is not valid YAML/JSON: {err}") from None
    if not isinstance(data, dict):
        raise SpecError(f"spec text must be a mapping at the top level, not {type(data).__name__}")
    return parse_spec(data, "spec text")


# Nothing as output: the result is the stored request and the run's tags, not a value for the IO manager to pickle.
@op(name="submit", out=Out(Nothing),
    description="Check a job request in full, then store it and register its partition; "
                "submitted_jobs_sensor runs medallion_job for it.")
def submit_request(context: OpExecutionContext, config: SubmitConfig, storage: StorageResource):
    try:
        request = build_request(config.user, config.job or None, config.rows, config.seed, read_spec(config.spec),
                                config.compression)
    except ValueError as err:  # ids, rows, compression, spec, sizes, pools: each names what was typed
        raise Failure(description=f"request refused, nothing stored: {err}", allow_retries=False) from None
    key = request.partition_key
    store = storage.get()
    try:
        new = save_request(store, request)
    except ValueError as err:  # the job id was taken by a different request
        raise Failure(description=f"request refused, nothing stored: {err}", allow_retries=False) from None
    context.instance.add_dynamic_partitions(job_partitions.name, [key])
    # Last: the sensor launches the partitions of submit runs with this tag, so it marks a complete submission.
    context.instance.add_run_tags(context.run_id, {USER_TAG: request.user, JOB_TAG: request.job,
                                                   PARTITION_KEY_TAG: key})
    context.log.info(f"{key}: request {'stored' if new else 'already stored, the same'}; partition registered; "
                     "submitted_jobs_sensor launches medallion_job for it")
    request_uri = store.uri(layout.request_key(request.user, request.job))
    return Output(None, metadata={"partition": key, "rows": request.rows, "seed": request.seed,
                                  "spec": request.spec.name, "compression": request.compression,
                                  "request": MetadataValue.path(request_uri), "new": new})


# One op: in process, so a submission costs one worker process rather than two.
@job(executor_def=in_process_executor,
     description="Submit a Medallion job: validate user, job, rows, seed and spec before anything is written, "
                 "store the request and register the partition <user>.<job>; the submitted_jobs_sensor runs it.")
def submit_job():
    submit_request()


def load_cursor(cursor: str | None) -> float:
    try:
        return float(json.loads(cursor)["after"]) if cursor else 0.0
    except (ValueError, KeyError, TypeError):
        return 0.0  # unreadable: submit runs are looked at from the start; run keys keep launches single


def invalid_keys(instance: DagsterInstance) -> list[tuple[str, str]]:
    """(key, why) of each registered key that is not a valid partition key."""
    bad = []
    for key in instance.get_dynamic_partitions(job_partitions.name):
        try:
            split_key(key)
        except PartitionKeyError as err:
            bad.append((key, str(err)))
    return bad


def submissions(instance: DagsterInstance, after: float) -> tuple[list[tuple[str, str]], float]:
    """(partition key, submit run id) of successful submit runs updated since `after`, oldest first; and the
    update time of the last one, the next cursor."""
    since = datetime.fromtimestamp(max(after - CURSOR_OVERLAP_SECONDS, 0.0), UTC)
    records = instance.get_run_records(
        RunsFilter(job_name=submit_job.name, statuses=[DagsterRunStatus.SUCCESS], updated_after=since),
        order_by="update_timestamp", ascending=True, limit=MAX_LAUNCHES_PER_TICK)
    found = [(r.dagster_run.tags[PARTITION_KEY_TAG], r.dagster_run.run_id) for r in records
             if PARTITION_KEY_TAG in r.dagster_run.tags]
    newest = max([after] + [r.update_timestamp.timestamp() for r in records])
    return found, newest


def taken(instance: DagsterInstance, keys: Sequence[str]) -> set[str]:
    """Keys with a pipeline run (any outcome) or any run in progress, e.g. the run `orchestrator submit` makes."""
    out: set[str] = set()
    for start in range(0, len(keys), _LOOKUP_BATCH):
        for run in instance.get_runs(RunsFilter(tags={PARTITION_TAG: list(keys[start:start + _LOOKUP_BATCH])})):
            if run.job_name in PIPELINE_JOBS or run.status in IN_PROGRESS:
                out.add(run.tags[PARTITION_TAG])
    return out


def to_launch(instance: DagsterInstance, store: Storage, submitted: Iterable[tuple[str, str]],
              log) -> list[tuple[str, str]]:
    """The submitted partitions still registered, with their request stored, that no run has taken on."""
    submitted = list(dict(submitted).items())  # a job submitted twice (same request) is launched once
    busy = taken(instance, [k for k, _ in submitted])
    out = []
    for key, run_id in submitted:
        if key in busy:
            continue
        user, job_id = split_key(key)
        if not instance.has_dynamic_partition(job_partitions.name, key):
            log.info(f"{key}: submitted by run {run_id} but no longer in '{job_partitions.name}'; not launched")
        elif not store.exists(layout.request_key(user, job_id)):
            log.warning(f"{key}: submitted by run {run_id} but its request is gone from storage; not launched")
        else:
            out.append((key, run_id))
    return out


def launch_request(key: str, submit_run: str) -> RunRequest:
    user, job_id = split_key(key)
    # run_key = partition key: Dagster refuses a second run with the same key from this sensor.
    return RunRequest(run_key=key, job_name=medallion_job.name, partition_key=key,
                      tags={USER_TAG: user, JOB_TAG: job_id, "orchestrator/submitted_by": submit_job.name,
                            "orchestrator/submit_run": submit_run})


@sensor(
    name="submitted_jobs_sensor",
    jobs=[medallion_job],
    minimum_interval_seconds=30,
    # Running by default: a GraphQL or launchpad submission does nothing without it, and it launches only what
    # a submit run admitted and nothing has run yet, so it never doubles a run `orchestrator submit` makes.
    default_status=DefaultSensorStatus.RUNNING,
    description="Runs medallion_job for each partition submit_job admitted, once; removes keys that are not "
                "valid partition keys (added by hand, bypassing submit_job) from the jobs partitions.",
)
def submitted_jobs_sensor(context: SensorEvaluationContext, storage: StorageResource) -> SensorResult:
    bad = invalid_keys(context.instance)
    for key, why in bad:
        context.log.warning(f"removing {key!r} from the '{job_partitions.name}' partitions: {why}")
    submitted, newest = submissions(context.instance, load_cursor(context.cursor))
    launches = to_launch(context.instance, storage.get(), submitted, context.log)
    for key, run_id in launches:
        context.log.info(f"{key}: launching {medallion_job.name} (submitted by run {run_id})")
    return SensorResult(
        run_requests=[launch_request(k, r) for k, r in launches],
        dynamic_partitions_requests=[job_partitions.build_delete_request([k for k, _ in bad])] if bad else None,
        skip_reason=None if launches or bad else "no submitted job is waiting and no invalid partition key",
        cursor=json.dumps({"after": newest}),
    )
