"""The whole graph, partition by partition, through Dagster with a real (on-disk) instance and dbt on DuckDB."""
from __future__ import annotations

import hashlib
import os

import duckdb
import pytest
from dagster import AssetCheckKey, AssetKey, AssetRecordsFilter, DagsterInstance, materialize
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from orchestrator_assets.assets.bronze import bronze
from orchestrator_assets.assets.gold import DBT_BUILDS_DIR, dbt_resource, gold
from orchestrator_assets.assets.silver import silver
from orchestrator_assets.cleaning.publish import require_silver
from orchestrator_assets.definitions import defs
from orchestrator_assets.io_managers import storage_resources
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
        **storage_resources(StorageResource(root=str(root / "storage"))),
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
    """What dbt builds may leave: entries of the checkout's dbt target folder, and this process's build folders
    (other processes on the machine build in the same parent at the same time)."""
    target = DBT_PROJECT_DIR / "target"
    return ({p.name for p in target.iterdir()} if target.is_dir() else set(),
            {p.name for p in DBT_BUILDS_DIR.glob(f"build-{os.getpid()}-*")})


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


def markdown_body(text: str) -> list[list[str]]:
    """A Markdown table's body rows, cell by cell."""
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()[2:]]


def markdown_rows(text: str) -> dict[str, list[str]]:
    """A Markdown table's body rows by their first cell."""
    return {r[0]: r[1:] for r in markdown_body(text)}


def test_every_check_execution_names_its_partition(env):
    instance = env["instance"]
    for key, result in env["results"].items():
        evaluations = result.get_asset_check_evaluations()
        assert {e.partition for e in evaluations} == {key}
    # The instance's per-partition check status: every partition of a Bronze, a Silver and a dbt check passed.
    checks = [AssetCheckKey(AssetKey(["bronze", "orders"]), "rows_match_manifest"),
              AssetCheckKey(AssetKey(["silver", "orders"]), "primary_key_unique"),
              AssetCheckKey(AssetKey(["silver", "quarantine"]), "cleaning_accuracy"),
              AssetCheckKey(AssetKey(["gold", "fact_orders"]), "not_null_fact_orders_order_id")]
    infos = instance.event_log_storage.get_asset_check_partition_info(checks)
    status = {(i.check_key.name, i.partition_key): i.latest_execution_status for i in infos}
    assert status == {(c.name, k): AssetCheckExecutionRecordStatus.SUCCEEDED for c in checks for k in env["results"]}


def test_quarantine_and_check_show_the_accuracy_table_and_numbers_per_kind(env):
    import json

    instance = env["instance"]
    for key in env["results"]:
        user, job = key.split(".")
        report = json.loads(env["store"].get_bytes(require_silver(env["store"], user, job).accuracy_report))
        event = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(["silver", "quarantine"]), asset_partitions=[key]), limit=1
        ).records[0].asset_materialization
        check = instance.event_log_storage.get_asset_check_execution_history(
            AssetCheckKey(AssetKey(["silver", "quarantine"]), "cleaning_accuracy"), limit=1,
            partition_filter=PartitionKeyFilter(key=key))[0].event.dagster_event.event_specific_data
        assert check.partition == key and check.passed
        for meta in (event.metadata, check.metadata):
            table = markdown_rows(meta["accuracy_by_kind"].value)
            assert set(table) == set(report["kinds"]) | {"**all kinds**"}
            for kind, k in report["kinds"].items():
                assert table[kind] == [f"{k[c]:,}" for c in ("injected", "repaired", "nulled", "quarantined",
                                                            "missed")] + [f"{k['missed_rate']:.2%}"]
                assert meta[f"injected/{kind}"].value == k["injected"] > 0
                assert meta[f"missed/{kind}"].value == k["missed"]
                assert isinstance(meta[f"missed_rate/{kind}"].value, float)
        by_rule = markdown_body(event.metadata["quarantine_by_rule"].value)
        quarantined = sum(int(r[-1].replace(",", "")) for r in by_rule)
        assert quarantined == event.metadata["rows"].value > 0


def test_gold_marts_carry_the_partition_row_count_and_its_dbt_tests(env):
    from orchestrator_assets.summary import gold_counts

    for key in env["results"]:
        user, job = key.split(".")
        counts = gold_counts(env["root"] / "warehouse.duckdb", user, job)
        assert len(counts) == len(GOLD_MARTS)
        for mart, rows in counts.items():
            meta = env["instance"].fetch_materializations(
                AssetRecordsFilter(asset_key=AssetKey(["gold", mart]), asset_partitions=[key]), limit=1
            ).records[0].asset_materialization.metadata
            assert meta["dagster/row_count"].value == rows, (key, mart)
            assert meta["dbt_tests_failed"].value == 0
        tests = markdown_rows(env["instance"].fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(["gold", "fact_orders"]), asset_partitions=[key]), limit=1
        ).records[0].asset_materialization.metadata["dbt_tests"].value)
        assert tests["not_null_fact_orders_order_id"] == ["pass", "error"]


def test_one_bad_partition_fails_only_its_own_checks(tmp_path):
    """Bronze changed on storage after it was written: the re-run's check fails for that partition alone."""
    (tmp_path / "home").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "home"))
    resources = {**storage_resources(StorageResource(root=str(tmp_path / "storage")))}
    store = resources["storage"].get()
    keys = ["carol.good", "carol.bad"]
    for key in keys:
        save_request(store, build_request(*key.split("."), 200, 3))
    instance.add_dynamic_partitions("jobs", keys)
    try:
        for key in keys:
            assert materialize([bronze], partition_key=key, instance=instance, resources=resources).success
        part = next(k for k in store.list("bronze/orders/carol/bad") if k.endswith(".jsonl"))
        store.put_bytes(part, store.get_bytes(part) + b'{"order_id": "extra"}\n')
        materialize([bronze], partition_key="carol.bad", instance=instance, resources=resources,
                    raise_on_error=False)
        check = AssetCheckKey(AssetKey(["bronze", "orders"]), "rows_match_manifest")
        status = {i.partition_key: i.latest_execution_status
                  for i in instance.event_log_storage.get_asset_check_partition_info([check])}
        assert status == {"carol.good": AssetCheckExecutionRecordStatus.SUCCEEDED,
                          "carol.bad": AssetCheckExecutionRecordStatus.FAILED}
        other = AssetCheckKey(AssetKey(["bronze", "users"]), "rows_match_manifest")
        assert {i.partition_key: i.latest_execution_status
                for i in instance.event_log_storage.get_asset_check_partition_info([other])} == \
            dict.fromkeys(keys, AssetCheckExecutionRecordStatus.SUCCEEDED)
    finally:
        instance.dispose()
