"""Arrival sensor, batch schedules and failure sensor against a real (on-disk) instance and local storage."""
from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RetryPolicy,
    SkipReason,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
    validate_run_config,
)

from orchestrator_assets import layout
from orchestrator_assets.arrivals import SILVER_DONE
from orchestrator_assets.assets.gold import dbt_resource
from orchestrator_assets.cleaning.publish import require_silver
from orchestrator_assets.definitions import defs
from orchestrator_assets.generation.bronze import write_bronze
from orchestrator_assets.generation.generator import generate
from orchestrator_assets.io_managers import storage_resources
from orchestrator_assets.resources import (
    CleaningEngineResource,
    DatabricksResource,
    StorageResource,
    WarehouseResource,
)
from orchestrator_assets.schedules import large_batch_window, small_batch_sweep
from orchestrator_assets.sensors import bronze_arrival_sensor, failed_run_sensor, load_cursor

pytestmark = pytest.mark.xdist_group("sensors")
# (user, job, anchor rows): the router's thresholds are set from their record counts, so each lands on one
# side of a threshold exactly (see routed_env).
JOBS = {"small": ("alice", "s1", 40), "mid": ("bob_2", "m1", 120), "big": ("carol", "b1", 250)}


@pytest.fixture(scope="module")
def bronze_source(tmp_path_factory, spec):
    """Bronze of three jobs, written once; each test works on its own copy."""
    root = tmp_path_factory.mktemp("bronze-source")
    store = StorageResource(root=str(root)).get()
    records = {}
    for size, (user, job, rows) in JOBS.items():
        manifest, _ = write_bronze(store, generate(spec, rows, 3, user, job), user, job, rows)
        records[size] = manifest.total_rows
    assert records["small"] < records["mid"] < records["big"]
    return root, records


@pytest.fixture
def env(tmp_path, monkeypatch, bronze_source):
    for name in ("ROUTER_SMALL_MAX_RECORDS", "ROUTER_SINGLE_NODE_MAX_RECORDS", "ROUTER_FORCE_ENGINE"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "home").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "home"))
    storage = StorageResource(root=str(tmp_path / "storage"))
    yield SimpleNamespace(instance=instance, storage=storage, store=storage.get(), root=tmp_path,
                          source=bronze_source[0], records=bronze_source[1])
    instance.dispose()


@pytest.fixture
def routed_env(env, monkeypatch):
    """All three jobs in Bronze; small = at most the small threshold, mid = at most the single-node one."""
    shutil.copytree(env.source / "bronze", env.root / "storage" / "bronze")
    monkeypatch.setenv("ROUTER_SMALL_MAX_RECORDS", str(env.records["small"]))
    monkeypatch.setenv("ROUTER_SINGLE_NODE_MAX_RECORDS", str(env.records["mid"]))
    return env


def key(size: str) -> str:
    user, job, _ = JOBS[size]
    return f"{user}.{job}"


def evaluate(env, cursor=None, caplog=None):
    context = build_sensor_context(instance=env.instance, cursor=cursor, resources={"storage": env.storage})
    if caplog is not None:  # the sensor's logger stands outside the logging tree, so caplog is attached to it
        context.log.addHandler(caplog.handler)
    return bronze_arrival_sensor(context)


def pipeline_resources(env) -> dict:
    return {**storage_resources(env.storage), "cleaning": CleaningEngineResource(engine="pandas"),
            "databricks": DatabricksResource(),
            "warehouse": WarehouseResource(duckdb_path=str(env.root / "warehouse.duckdb")), "dbt": dbt_resource()}


def test_sensor_registers_and_routes_each_new_partition(routed_env, caplog):
    env = routed_env
    result = evaluate(env, caplog=caplog)
    assert [r.partition_keys for r in result.dynamic_partitions_requests] == [[key("small"), key("mid"),
                                                                             key("big")]]
    requests = {r.partition_key: r for r in result.run_requests}
    assert set(requests) == {key("small"), key("mid"), key("big")}
    expected = {"small": ("clean_small_job", "pandas", "small"), "mid": ("clean_large_job", "duckdb", "large"),
                "big": ("clean_large_job", "spark", "large")}
    for size, (job_name, engine, path) in expected.items():
        request = requests[key(size)]
        user, job, _ = JOBS[size]
        assert request.job_name == job_name
        assert request.run_key == key(size)
        assert request.run_config == {"resources": {"cleaning": {"config": {"engine": engine}}}}
        assert {k: request.tags[k] for k in ("orchestrator/user", "orchestrator/job", "orchestrator/engine",
                                             "orchestrator/path", "orchestrator/records")} == \
            {"orchestrator/user": user, "orchestrator/job": job, "orchestrator/engine": engine,
             "orchestrator/path": path, "orchestrator/records": str(env.records[size])}
        assert f"{key(size)}: {env.records[size]:,} records -> {engine} on {job_name}" in caplog.text
    assert "ROUTER_SMALL_MAX_RECORDS" in requests[key("small")].tags["orchestrator/route_reason"]
    assert set(load_cursor(result.cursor)) == set(requests)
    for request in requests.values():  # the config the daemon will check when it creates each run
        validate_run_config(defs.resolve_job_def(request.job_name), request.run_config)


def test_the_daemon_path_resolves_the_requests_against_the_partitions_it_adds(routed_env):
    env = routed_env
    repository = defs.get_repository_def()
    # As a context manager, as the daemon uses it: the instance it opens from the ref sets Dagster's current
    # defs-state storage, which must be reset when the tick ends, or later Definitions in this process see
    # a storage whose instance is gone.
    with build_sensor_context(instance_ref=env.instance.get_ref(), resources={"storage": env.storage},
                              repository_def=repository) as context:
        tick = repository.get_sensor_def("bronze_arrival_sensor").evaluate_tick(context)
    assert {(r.partition_key, r.tags["dagster/sensor_name"]) for r in tick.run_requests} == \
        {(key(size), "bronze_arrival_sensor") for size in JOBS}
    assert tick.dynamic_partitions_requests[0].partition_keys == [key("small"), key("mid"), key("big")]


def test_a_second_evaluation_launches_nothing_and_a_later_arrival_alone(routed_env):
    env = routed_env
    big = env.root / "storage" / "bronze" / "_manifest" / "carol"
    shutil.move(big, env.root / "held-back")
    first = evaluate(env)
    assert {r.partition_key for r in first.run_requests} == {key("small"), key("mid")}
    second = evaluate(env, first.cursor)
    assert second.run_requests == [] and isinstance(second.skip_reason, SkipReason)
    assert not second.dynamic_partitions_requests
    shutil.move(env.root / "held-back", big)
    third = evaluate(env, second.cursor)
    assert [(r.partition_key, r.job_name) for r in third.run_requests] == [(key("big"), "clean_large_job")]
    assert set(load_cursor(third.cursor)) == {key("small"), key("mid"), key("big")}


def test_forced_engine_sends_every_job_to_spark(routed_env, monkeypatch):
    monkeypatch.setenv("ROUTER_FORCE_ENGINE", "spark")
    result = evaluate(routed_env)
    assert {(r.job_name, r.tags["orchestrator/engine"]) for r in result.run_requests} == {("clean_large_job", "spark")}
    assert len(result.run_requests) == 3


def test_invalid_ids_and_unreadable_manifests_are_skipped_and_logged(env, caplog):
    shutil.copytree(env.source / "bronze" / "_manifest" / "alice", env.root / "storage/bronze/_manifest/alice")
    manifests = env.root / "storage" / "bronze" / "_manifest"
    for bad in ("Bad User/x/manifest.json", "dave/j1/extra/manifest.json", "erin/j1/notes.txt"):
        (manifests / bad).parent.mkdir(parents=True, exist_ok=True)
        (manifests / bad).write_text("{}")
    (manifests / "frank/j1").mkdir(parents=True)
    (manifests / "frank/j1/manifest.json").write_text('{"tables": {"orders": ')  # cut off mid-copy
    result = evaluate(env, caplog=caplog)
    assert [r.partition_key for r in result.run_requests] == [key("small")]
    assert "skipping bronze/_manifest/Bad User/x/manifest.json: invalid user id 'Bad User'" in caplog.text
    assert "skipping bronze/_manifest/dave/j1/extra/manifest.json: not a Bronze manifest key" in caplog.text
    assert "skipping bronze/_manifest/erin/j1/notes.txt" in caplog.text
    assert "skipping frank.j1: its Bronze manifest cannot be read (JSONDecodeError" in caplog.text


def test_partitions_already_cleaned_or_being_run_are_left_alone(routed_env):
    env = routed_env
    env.instance.add_dynamic_partitions("jobs", [key("small"), key("mid")])
    # Silver materialised outside the clean jobs (as `orchestrator submit` does), and a submit still running.
    env.instance.report_runless_asset_event(AssetMaterialization(SILVER_DONE, partition=key("small")))
    env.instance.create_run_for_job(defs.resolve_job_def("medallion_job"), status=DagsterRunStatus.STARTED,
                                    tags={"dagster/partition": key("mid")})
    result = evaluate(env)
    assert [r.partition_key for r in result.run_requests] == [key("big")]


def test_schedules_skip_when_nothing_waits(env):
    for schedule in (small_batch_sweep, large_batch_window):
        with build_schedule_context(instance=env.instance, resources={"storage": env.storage},
                                    scheduled_execution_time=datetime(2026, 1, 5, 2, 0, tzinfo=UTC)) as context:
            result = schedule(context)
        assert isinstance(result, SkipReason) and "no Bronze partition is waiting" in result.skip_message
    assert (small_batch_sweep.cron_schedule, large_batch_window.cron_schedule) == ("*/15 * * * *", "0 2 * * *")
    assert small_batch_sweep.execution_timezone == large_batch_window.execution_timezone == "UTC"


def test_schedules_fire_for_waiting_partitions_of_their_own_path(routed_env):
    env = routed_env

    def run(schedule):
        # Contexts are closed as the daemon closes them, so none leaves Dagster's current state storage set.
        with build_schedule_context(instance=env.instance, resources={"storage": env.storage},
                                    scheduled_execution_time=datetime(2026, 1, 5, 2, 0, tzinfo=UTC)) as context:
            return schedule(context)

    small = run(small_batch_sweep)
    assert [(r.partition_key, r.job_name, r.tags["orchestrator/engine"]) for r in small] == \
        [(key("small"), "clean_small_job", "pandas")]
    large = run(large_batch_window)
    assert sorted((r.partition_key, r.tags["orchestrator/engine"]) for r in large) == \
        [(key("mid"), "duckdb"), (key("big"), "spark")]
    assert {r.job_name for r in large} == {"clean_large_job"}
    # Schedules register new partitions themselves (they cannot return partition requests).
    assert set(env.instance.get_dynamic_partitions("jobs")) == {key("small"), key("mid"), key("big")}


def test_the_small_route_runs_end_to_end_and_is_not_launched_again(env):
    shutil.copytree(env.source / "bronze", env.root / "storage" / "bronze",
                    ignore=lambda d, names: [n for n in names if n in ("bob_2", "carol")])
    result = evaluate(env)
    [request] = result.run_requests
    assert request.job_name == "clean_small_job"
    env.instance.add_dynamic_partitions("jobs", result.dynamic_partitions_requests[0].partition_keys)
    run = defs.resolve_job_def(request.job_name).execute_in_process(
        run_config=request.run_config, tags=request.tags, partition_key=request.partition_key,
        instance=env.instance, resources=pipeline_resources(env))
    assert run.success
    user, job, _ = JOBS["small"]
    assert env.store.exists(require_silver(env.store, user, job).key("orders"))
    assert env.instance.get_materialized_partitions(AssetKey(["gold", "fact_orders"])) == {key("small")}
    stored = env.instance.get_run_by_id(run.run_id)
    assert stored.tags["orchestrator/engine"] == "pandas" and stored.tags["orchestrator/path"] == "small"
    again = evaluate(env, result.cursor)
    assert again.run_requests == [] and load_cursor(again.cursor) == {}  # its run exists: no longer pending
    assert evaluate(env).run_requests == []  # without a cursor too: the instance knows


@pytest.mark.parametrize("size, engine", [("mid", "duckdb"), pytest.param("big", "spark", marks=pytest.mark.e2e)])
def test_the_large_routes_run_end_to_end_on_their_engine(routed_env, size, engine):
    env = routed_env
    result = evaluate(env)
    [request] = [r for r in result.run_requests if r.partition_key == key(size)]
    assert (request.job_name, request.tags["orchestrator/engine"]) == ("clean_large_job", engine)
    env.instance.add_dynamic_partitions("jobs", result.dynamic_partitions_requests[0].partition_keys)
    # The resources say pandas; the run config the sensor wrote must win, as it does for a daemon-launched run.
    run = defs.resolve_job_def(request.job_name).execute_in_process(
        run_config=request.run_config, tags=request.tags, partition_key=request.partition_key,
        instance=env.instance, resources=pipeline_resources(env))
    assert run.success
    assert [(e.asset_key.to_user_string(), e.check_name) for e in run.get_asset_check_evaluations() if not e.passed] == []
    [quarantine] = [m for m in run.get_asset_materialization_events() if m.asset_key == SILVER_DONE]
    assert quarantine.materialization.metadata["engine"].value == engine
    assert env.instance.get_materialized_partitions(AssetKey(["gold", "fact_orders"])) == {key(size)}


def test_failed_run_is_retried_then_recorded_where_a_user_sees_it(env, monkeypatch):
    # The policy's real delays (30 s, 60 s) are zeroed; the retries themselves run.
    monkeypatch.setattr(RetryPolicy, "calculate_delay", lambda self, attempt: 0)
    env.instance.add_dynamic_partitions("jobs", ["gina.missing"])  # registered, but no Bronze
    run = defs.resolve_job_def("clean_small_job").execute_in_process(
        run_config={"resources": {"cleaning": {"config": {"engine": "pandas"}}}}, partition_key="gina.missing",
        tags={"orchestrator/engine": "pandas"}, instance=env.instance, resources=pipeline_resources(env),
        raise_on_error=False)
    assert not run.success
    retries = [e for e in run.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(retries) == 2
    context = build_run_status_sensor_context(
        sensor_name="failed_run_sensor", dagster_event=run.get_run_failure_event(),
        dagster_instance=env.instance, dagster_run=run.dagster_run, resources={"storage": env.storage},
    ).for_run_failure()
    failed_run_sensor(context)
    failed_run_sensor(context)  # the same run again, as after a daemon restart: recorded once
    doc = json.loads(env.store.get_bytes(layout.status_key("gina", "missing")))
    assert doc["partition"] == "gina.missing"
    [entry] = doc["failures"]
    assert {k: entry[k] for k in ("run_id", "job", "engine", "path", "step", "error_class")} == {
        "run_id": run.run_id, "job": "clean_small_job", "engine": "pandas", "path": "small", "step": "silver",
        "error_class": "FileNotFoundError"}
    assert entry["error"] == "no Bronze manifest for gina.missing: materialise Bronze first"
    assert entry["time"].endswith("+00:00")
    [observation] = env.instance.fetch_observations(AssetRecordsFilter(
        asset_key=AssetKey(["silver", "quarantine"]), asset_partitions=["gina.missing"]), limit=10).records
    metadata = observation.asset_observation.metadata
    assert metadata["failed_run"].value == run.run_id and "FileNotFoundError" in metadata["error"].value
    # A partition key typed into the UI that is no valid id: logged, nothing written, the sensor goes on.
    odd = run.dagster_run.with_tags({**run.dagster_run.tags, "dagster/partition": "Not A Key"})
    failed_run_sensor(build_run_status_sensor_context(
        sensor_name="failed_run_sensor", dagster_event=run.get_run_failure_event(), dagster_instance=env.instance,
        dagster_run=odd, resources={"storage": env.storage}).for_run_failure())
    assert env.store.list("status") == [layout.status_key("gina", "missing")]
