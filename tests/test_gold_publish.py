"""Gold whose dbt tests fail is not published: the partition keeps its previous mart rows, on DuckDB and MySQL.

Expected, written before the code: two partitions built; the first's Silver is then republished with three
cancelled or returned orders (with lines and payments) given a negative total. Re-running its Gold fails with
a Failure that names accepted_range on fact_orders.total_amount, fact_orders_paid_amount_matches_total and
fact_orders_items_not_above_total, each with 3 failing rows; the step is not retried; no Gold materialisation is
recorded; both partitions' mart rows are what they were; no staged table is left. With the good Silver back, a
rebuild succeeds and the marts hold the good rows once; so does a run of gold/fact_orders alone.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetKey,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    RetryPolicy,
    define_asset_job,
    materialize,
)

from orchestrator_assets.assets.bronze import bronze
from orchestrator_assets.assets.gold import dbt_resource, gold
from orchestrator_assets.assets.silver import silver
from orchestrator_assets.cleaning.publish import publish, require_silver
from orchestrator_assets.io_managers import storage_resources
from orchestrator_assets.requests import build_request, save_request
from orchestrator_assets.resources import (
    CleaningEngineResource,
    DatabricksResource,
    StorageResource,
    WarehouseResource,
)
from orchestrator_assets.summary import GOLD_MARTS
from orchestrator_assets.warehouse.publish import GoldWarehouse, new_stage

pytestmark = pytest.mark.xdist_group("mysql")
JOBS = [("dora", "good", 400), ("dora", "other", 300)]
BAD, OTHER = "dora.good", "dora.other"
BROKEN = 3
# What the broken totals fail, each on the BROKEN orders (the orders are cancelled or returned, so no net revenue
# and no aggregate test changes).
EXPECTED_FAILURES = ("accepted_range_fact_orders_total_amount__0", "fact_orders_paid_amount_matches_total",
                     "fact_orders_items_not_above_total")


@pytest.fixture(scope="module")
def silver_built(tmp_path_factory):
    """Bronze and Silver of both partitions, and a Dagster instance that knows them."""
    root = tmp_path_factory.mktemp("gold_publish")
    instance = DagsterInstance.ephemeral()
    storage = StorageResource(root=str(root / "storage"))
    store = storage.get()
    for user, job, rows in JOBS:
        save_request(store, build_request(user, job, rows, 21))
    keys = [f"{u}.{j}" for u, j, _ in JOBS]
    instance.add_dynamic_partitions("jobs", keys)
    resources = {**storage_resources(storage), "cleaning": CleaningEngineResource(engine="pandas"),
                 "databricks": DatabricksResource()}
    for key in keys:
        assert materialize([bronze, silver], partition_key=key, instance=instance, resources=resources).success
    yield {"root": root, "instance": instance, "storage": storage, "store": store}
    instance.dispose()


def gold_job_runner(instance, storage, warehouse, dbt_target=None):
    """Gold alone, under a retry policy like the clean jobs' (no delay): a retried step would show. dbt builds
    into the warehouse's target unless told otherwise."""
    defs = Definitions(
        assets=[bronze, silver, gold],
        jobs=[define_asset_job("gold_only", selection=AssetSelection.groups("gold"),
                               op_retry_policy=RetryPolicy(max_retries=2))],
        resources={**storage_resources(storage), "cleaning": CleaningEngineResource(engine="pandas"),
                   "databricks": DatabricksResource(), "warehouse": warehouse,
                   "dbt": dbt_resource(dbt_target or warehouse.warehouse)},
    )
    job = defs.resolve_job_def("gold_only")

    def run(key):
        return job.execute_in_process(partition_key=key, instance=instance, raise_on_error=False)
    return run


def break_silver(store, user: str, job: str, workdir: Path):
    """Republish the partition's Silver with BROKEN cancelled/returned orders (having lines and payments) given
    a negative total; returns a function that republishes the good Silver (the same version id again)."""
    current = require_silver(store, user, job)
    good = {}
    (workdir / "good").mkdir(parents=True)
    for name, obj in current.objects.items():
        if name == "cleaning_report":
            continue
        table, kind = name.split("/")
        good[(table, kind)] = store.get_file(obj["key"], workdir / "good" / f"{table}.{kind}.parquet")
    report = json.loads(store.get_bytes(current.cleaning_report))
    orders = pq.read_table(good[("orders", "silver")])
    with_lines = set(pq.read_table(good[("order_items", "silver")]).column("order_id").to_pylist())
    paid = set(pq.read_table(good[("payments", "silver")]).column("order_id").to_pylist())
    chosen = [o for o, s in zip(orders.column("order_id").to_pylist(), orders.column("status").to_pylist(),
                                strict=True)
              if s in ("cancelled", "returned") and o in with_lines and o in paid][:BROKEN]
    assert len(chosen) == BROKEN, "the job needs more cancelled or returned orders with lines and payments"
    hit = pc.is_in(orders.column("order_id"), value_set=pa.array(chosen))
    totals = pc.if_else(hit, pc.negate(orders.column("total_amount")), orders.column("total_amount"))
    orders = orders.set_column(orders.schema.get_field_index("total_amount"), "total_amount", totals)
    path = workdir / "broken" / "orders.silver.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(orders, path)
    broken = {**good, ("orders", "silver"): path}
    publish(store, user, job, broken, report, current.engine)
    assert require_silver(store, user, job).version != current.version

    def restore():
        assert publish(store, user, job, good, report, current.engine).version == current.version
    return restore


def assert_not_published(result, before, read_marts, warehouse: GoldWarehouse):
    assert not result.success
    failures = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert len(failures) == 1
    assert [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY] == []
    error = failures[0].step_failure_data
    text = error.error.message
    assert f"Gold of {BAD} was not published" in text and "previous rows" in text
    lines = text.splitlines()
    for name in EXPECTED_FAILURES:
        named = [line for line in lines if f".{name}" in line]
        assert len(named) == 1 and named[0].endswith(f": {BROKEN} failing rows"), (name, text)
    counted = error.user_failure_data.metadata["failed_tests"].value
    assert {uid.split(".")[2]: n for uid, n in counted.items()} == {n: BROKEN for n in EXPECTED_FAILURES}
    # The dbt tests' outcomes are recorded as the checks of this partition; no mart materialised.
    failed_checks = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
    assert {n for n in EXPECTED_FAILURES if any(c.startswith(n) for c in failed_checks)} == set(EXPECTED_FAILURES)
    assert result.get_asset_materialization_events() == []
    assert read_marts() == before
    assert staged_tables(warehouse) == []


def staged_tables(warehouse: GoldWarehouse) -> list[str]:
    with warehouse._cursor() as (_, cur):
        return sorted(t for t in warehouse._tables(cur) if "__stage_" in t)


def duckdb_rows(path: Path) -> dict:
    """Every mart's rows, per partition, in a stable order."""
    with duckdb.connect(str(path), read_only=True) as con:
        return {(mart, key): con.execute(
                    f"SELECT * FROM {mart} WHERE pipeline_user = ? AND pipeline_job = ? ORDER BY ALL",
                    key.split(".")).fetchall()
                for mart in GOLD_MARTS for key in (BAD, OTHER)}


@pytest.mark.e2e
def test_a_failing_dbt_test_keeps_the_previous_gold_on_duckdb(silver_built, tmp_path):
    path = silver_built["root"] / "gold.duckdb"
    run = gold_job_runner(silver_built["instance"], silver_built["storage"],
                          WarehouseResource(warehouse="duckdb", duckdb_path=str(path)))
    environment = dict(os.environ)
    for key in (BAD, OTHER):
        assert run(key).success, key
    assert dict(os.environ) == environment  # the warehouse reached dbt by its target and vars, not this process's
    before = duckdb_rows(path)
    assert all(before[(m, k)] for m in GOLD_MARTS for k in (BAD, OTHER))
    warehouse = GoldWarehouse(duckdb_path=path)

    restore = break_silver(silver_built["store"], "dora", "good", tmp_path)
    try:
        assert_not_published(run(BAD), before, lambda: duckdb_rows(path), warehouse)
    finally:
        restore()
    again = run(BAD)
    assert again.success
    assert duckdb_rows(path) == before  # replaced, not added to
    assert staged_tables(warehouse) == []
    # A subset run stages and publishes its own marts only; its relationship tests read the published dimensions.
    fact = AssetKey(["gold", "fact_orders"])
    subset = materialize([bronze, silver, gold], selection=AssetSelection.assets(fact), partition_key=BAD,
                         instance=silver_built["instance"], raise_on_error=False,
                         resources={**storage_resources(silver_built["storage"]), "dbt": dbt_resource(),
                                    "cleaning": CleaningEngineResource(engine="pandas"), "databricks": DatabricksResource(),
                                    "warehouse": WarehouseResource(warehouse="duckdb", duckdb_path=str(path))})
    assert subset.success
    assert [e.asset_key for e in subset.get_asset_materialization_events()] == [fact]
    checks = {e.check_name: e.passed for e in subset.get_asset_check_evaluations()}
    assert checks["relationships_in_partition_fact_orders_user_id__user_id__ref_dim_users_"] is True
    assert all(checks.values())
    assert duckdb_rows(path) == before
    assert staged_tables(warehouse) == []


def test_a_build_whose_dbt_target_is_not_the_warehouse_is_refused(silver_built):
    path = silver_built["root"] / "refused.duckdb"
    run = gold_job_runner(silver_built["instance"], silver_built["storage"],
                          WarehouseResource(warehouse="duckdb", duckdb_path=str(path)), dbt_target="mysql")
    result = run(OTHER)
    assert not result.success
    errors = [str(e.event_specific_data.error) for e in result.all_events if e.is_step_failure]
    assert errors and all("'duckdb'" in e and "'mysql'" in e for e in errors), errors
    assert not path.exists()  # refused before dbt started


@pytest.mark.e2e
def test_a_failing_dbt_test_keeps_the_previous_gold_on_mysql(silver_built, mariadb, gold_db, tmp_path):
    run = gold_job_runner(silver_built["instance"], silver_built["storage"], WarehouseResource(warehouse="mysql"))

    def mysql_rows():
        out = {}
        with mariadb.connect(gold_db) as conn, conn.cursor() as cur:
            for mart in GOLD_MARTS:
                for key in (BAD, OTHER):
                    cur.execute(f"SELECT * FROM `{mart}` WHERE pipeline_user = %s AND pipeline_job = %s",
                                key.split("."))
                    out[(mart, key)] = sorted(cur.fetchall(), key=repr)
        return out

    for key in (BAD, OTHER):
        assert run(key).success, key
    before = mysql_rows()
    assert all(before[(m, k)] for m in GOLD_MARTS for k in (BAD, OTHER))
    from orchestrator_assets.settings import mysql_settings

    warehouse = GoldWarehouse(mysql=mysql_settings())
    restore = break_silver(silver_built["store"], "dora", "good", tmp_path)
    try:
        assert_not_published(run(BAD), before, mysql_rows, warehouse)
    finally:
        restore()
    assert run(BAD).success
    assert mysql_rows() == before
    assert staged_tables(warehouse) == []


def test_publish_adds_a_new_column_and_stale_stages_are_dropped(tmp_path):
    """Publishing is all or nothing; a mart that gained a column is widened (older partitions get nulls); stages
    of dead builds go, a live one stays."""
    path = tmp_path / "w.duckdb"
    stage, old, live = new_stage(), new_stage(time.time() - 7200), new_stage(time.time() - 60)
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE m AS SELECT 'u' AS pipeline_user, 'a' AS pipeline_job, 1 AS v "
                    "UNION ALL SELECT 'u', 'b', 2")
        con.execute(f"CREATE TABLE m__{stage} AS SELECT 'u' AS pipeline_user, 'a' AS pipeline_job, 10 AS v, "
                    "'x' AS w UNION ALL SELECT 'u', 'a', 11, 'y'")
        con.execute(f"CREATE TABLE m__{old} AS SELECT 1 AS v")
        con.execute(f"CREATE TABLE m__{live} AS SELECT 1 AS v")
    warehouse = GoldWarehouse(duckdb_path=path)
    with pytest.raises(duckdb.CatalogException):  # a second mart without a staged table: nothing is copied
        warehouse.publish(["m", "n"], stage, "u", "a")
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT * FROM m ORDER BY ALL").fetchall() == [("u", "a", 1), ("u", "b", 2)]
    assert warehouse.publish(["m"], stage, "u", "a") == {"m": 2}
    assert warehouse.drop_stale_stages() == [f"m__{old}"]
    assert warehouse.drop_stage(stage) == [f"m__{stage}"]
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT * FROM m ORDER BY ALL").fetchall() == [
            ("u", "a", 10, "x"), ("u", "a", 11, "y"), ("u", "b", 2, None)]
    assert staged_tables(warehouse) == [f"m__{live}"]


def test_a_dbt_error_is_named_and_keeps_its_retries():
    """An errored node (say, a lost connection) may be transient: named, with its message on one line, and
    retried; results with neither a failed test nor an error leave dbt's own error to be raised."""
    from orchestrator_assets.assets.gold_failures import build_failure

    results = {"results": [
        {"unique_id": "model.orchestrator_gold.fact_orders", "status": "error", "failures": None,
         "message": "Runtime Error\n  Lost connection to MySQL server during query"},
        {"unique_id": "model.orchestrator_gold.agg_daily_sales", "status": "skipped", "failures": None},
        {"unique_id": "test.orchestrator_gold.not_null_dim_users_user_id.1", "status": "pass", "failures": 0}]}
    failure = build_failure("u.j", "v-1", results)
    assert failure.allow_retries
    assert failure.description.splitlines()[1:] == [
        "- model.orchestrator_gold.fact_orders: error: Runtime Error Lost connection to MySQL server during query",
        "(1 models and tests after them were skipped.)"]
    assert "1 dbt node errored" in failure.description
    assert build_failure("u.j", "v-1", {"results": results["results"][1:]}) is None
    assert build_failure("u.j", "v-1", None) is None
