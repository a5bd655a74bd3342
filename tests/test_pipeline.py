"""The whole graph, partition by partition, through Dagster with a real (on-disk) instance and dbt on DuckDB."""
from __future__ import annotations

import hashlib

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from orchestrator_assets.assets.bronze import bronze
from orchestrator_assets.assets.gold import DBT_BUILDS_DIR, dbt_resource, gold
from orchestrator_assets.assets.silver import silver
from orchestrator_assets.cleaning.publish import require_silver
from orchestrator_assets.definitions import defs
from orchestrator_assets.requests import build_request, save_request
from orchestrator_assets.resources import (
    CleaningEngineResource,
    DatabricksResource,
    StorageResource,
    WarehouseResource,
)
from orchestrator_assets.settings import DBT_PROJECT_DIR
from orchestrator_assets.summary import GOLD_MARTS

pytestmark = pytest.mark.xdist_group("pipeline")
JOBS = [("alice", "j1", 1500), ("alice", "j2", 800), ("bob_2", "j1", 1200), ("bob_2", "2026-11-23", 500)]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    (root / "home").mkdir()
    instance = DagsterInstance.local_temp(str(root / "home"))
    resources = {
        "storage": StorageResource(root=str(root / "storage")),
        "cleaning": CleaningEngineResource(engine="pandas"),
        "databricks": DatabricksResource(),
        "warehouse": WarehouseResource(duckdb_path=str(root / "warehouse.duckdb")),
        "dbt": dbt_resource(),
    }
    store = resources["storage"].get()
    for user, job, rows in JOBS:
        save_request(store, build_request(user, job, rows, 5))
    instance.add_dynamic_partitions("jobs", [f"{u}.{j}" for u, j, _ in JOBS])
    folders_before = build_folders()
    results = {f"{u}.{j}": materialize([bronze, silver, gold], partition_key=f"{u}.{j}", instance=instance,
                                       resources=resources, raise_on_error=False) for u, j, _ in JOBS}
    yield {"root": root, "instance": instance, "resources": resources, "results": results, "store": store,
           "folders": (folders_before, build_folders())}
    instance.dispose()


def build_folders() -> tuple[set[str], set[str]]:
    """What dbt builds may leave: entries of the checkout's dbt target folder, and of the build folder parent."""
    target = DBT_PROJECT_DIR / "target"
    return ({p.name for p in target.iterdir()} if target.is_dir() else set(),
            {p.name for p in DBT_BUILDS_DIR.iterdir()} if DBT_BUILDS_DIR.is_dir() else set())


def test_gold_builds_leave_nothing_in_the_checkout_or_their_build_folders(env):
    (target_before, builds_before), (target_after, builds_after) = env["folders"]
    assert target_after - target_before == set()
    assert builds_after - builds_before == set()


def mart_digest(path, user, job) -> dict[str, tuple[int, str]]:
    out = {}
    with duckdb.connect(str(path), read_only=True) as con:
        for mart in GOLD_MARTS:
            rows = con.execute(f"SELECT * FROM {mart} WHERE pipeline_user = ? AND pipeline_job = ? ORDER BY ALL",
                               [user, job]).fetchall()
            out[mart] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return out


def test_every_partition_materialises_with_all_checks_passing(env):
    for key, result in env["results"].items():
        assert result.success, key
        evaluations = result.get_asset_check_evaluations()
        failed = [(e.asset_key.to_user_string(), e.check_name) for e in evaluations if not e.passed]
        assert failed == [], key
        names = {e.check_name for e in evaluations}
        assert {"rows_match_manifest", "primary_key_unique", "rows_reconcile", "cleaning_accuracy"} <= names
        assert any(e.asset_key.path[0] == "gold" for e in evaluations), "dbt tests ran as asset checks"
        materialized = {m.asset_key for m in result.get_asset_materialization_events()}
        assert AssetKey(["gold", "fact_orders"]) in {e.asset_key for e in result.get_asset_materialization_events()}
        assert {AssetKey(["bronze", "orders"]), AssetKey(["silver", "orders"]), AssetKey(["silver", "quarantine"])} \
            <= materialized


def test_instance_records_partitions_and_materialisations(env):
    instance = env["instance"]
    assert set(instance.get_dynamic_partitions("jobs")) == {f"{u}.{j}" for u, j, _ in JOBS}
    for key in env["results"]:
        event = instance.get_latest_materialization_event(AssetKey(["silver", "orders"]))
        assert event is not None
    counts = instance.get_materialized_partitions(AssetKey(["gold", "fact_orders"]))
    assert counts == {f"{u}.{j}" for u, j, _ in JOBS}


def test_gold_holds_each_partition_once(env):
    path = env["root"] / "warehouse.duckdb"
    with duckdb.connect(str(path), read_only=True) as con:
        per_partition = dict(con.sql(
            "SELECT pipeline_user || '.' || pipeline_job, count(*) FROM fact_orders GROUP BY 1").fetchall())
        silver_orders = {}
    for user, job, rows in JOBS:
        published = require_silver(env["store"], user, job).key("orders")
        with duckdb.connect() as con:  # not the module's shared default connection, which other tests use
            orders = con.execute(f"SELECT count(*) FROM '{env['store'].uri(published)}'").fetchone()[0]
        silver_orders[f"{user}.{job}"] = orders
        assert 0.7 * rows < orders <= rows
    assert per_partition == silver_orders


def test_rerun_replaces_one_partition_and_leaves_gold_unchanged(env):
    path = env["root"] / "warehouse.duckdb"
    before = {f"{u}.{j}": mart_digest(path, u, j) for u, j, _ in JOBS}
    bronze_before = {k: env["store"].get_bytes(k) for k in env["store"].list("bronze/orders/alice/j1")}
    again = materialize([bronze, silver, gold], partition_key="alice.j1", instance=env["instance"],
                        resources=env["resources"])
    assert again.success
    after = {f"{u}.{j}": mart_digest(path, u, j) for u, j, _ in JOBS}
    assert after == before
    assert {k: env["store"].get_bytes(k) for k in env["store"].list("bronze/orders/alice/j1")} == bronze_before


def test_definitions_load_with_the_partitioned_job():
    job = defs.resolve_job_def("medallion_job")
    assert job.partitions_def.name == "jobs"
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"bronze/orders", "silver/orders", "silver/quarantine", "gold/fact_orders", "gold/dim_users",
            "gold/dim_location", "gold/dim_time", "gold/agg_user_metrics", "gold/agg_product_metrics"} <= keys


def test_shipped_instance_config_loads(tmp_path):
    import shutil

    from orchestrator_assets.settings import PROJECT_DIR

    shutil.copy(PROJECT_DIR / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = DagsterInstance.from_config(str(tmp_path))
    try:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 13
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert {(limit["key"], limit["value"]): limit["limit"] for limit in limits} == {
            ("orchestrator/path", "small"): 10, ("orchestrator/path", "large"): 3}
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 0
        assert not instance.run_retries_retry_on_asset_or_op_failure
    finally:
        instance.dispose()
    # Each limited tag value is carried by a job, so the limit binds its runs however they were launched.
    assert {path: defs.resolve_job_def(f"clean_{path}_job").tags["orchestrator/path"] for path in ("small", "large")} \
        == {"small": "small", "large": "large"}


def test_silver_metadata_sums_rule_counts_over_columns(env):
    import json

    event = env["instance"].get_latest_materialization_event(AssetKey(["silver", "orders"]))
    user, job = event.dagster_event.partition.split(".")
    report = json.loads(env["store"].get_bytes(require_silver(env["store"], user, job).cleaning_report))
    rows = [r for r in report["rules"] if r["table"] == "orders" and r["rule"] == "trim"]
    assert len(rows) > 1  # several columns are trimmed
    rules = event.asset_materialization.metadata["rules"].value
    assert rules["trim"]["repaired"] == sum(r["repaired"] for r in rows) > 0


def test_quarantine_metadata_carries_accuracy_figures(env):
    event = env["instance"].get_latest_materialization_event(AssetKey(["silver", "quarantine"]))
    meta = event.asset_materialization.metadata
    assert meta["errors_injected"].value > 0 and meta["errors_missed"].value == 0
    assert meta["accuracy"].value["passed"] is True
    assert set(meta["accuracy"].value["kinds"]) >= {"whitespace", "orphan_fk", "exact_duplicate"}
