"""End to end: Bronze, Silver and Gold (dbt on DuckDB) through Dagster, then the audit reads the real dbt tests."""
from __future__ import annotations

import json

import pytest
from dagster import DagsterInstance, materialize

from orchestrator_assets import layout
from orchestrator_assets.assets.bronze import bronze
from orchestrator_assets.assets.gold import dbt_resource, gold
from orchestrator_assets.assets.silver import silver
from orchestrator_assets.audit.asset import audit_report
from orchestrator_assets.io_managers import storage_resources
from orchestrator_assets.requests import build_request, save_request
from orchestrator_assets.resources import (
    CleaningEngineResource,
    DatabricksResource,
    StorageResource,
    WarehouseResource,
)

pytestmark = pytest.mark.xdist_group("audit_pipeline")


def test_audit_after_a_real_run_reads_the_dbt_tests_of_the_partition(tmp_path):
    (tmp_path / "home").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "home"))
    resources = {
        **storage_resources(StorageResource(root=str(tmp_path / "storage"))),
        "cleaning": CleaningEngineResource(engine="pandas"),
        "databricks": DatabricksResource(),
        "warehouse": WarehouseResource(duckdb_path=str(tmp_path / "warehouse.duckdb")),
        "dbt": dbt_resource(),
    }
    store = resources["storage"].get()
    save_request(store, build_request("erin", "j1", 800, 3))
    instance.add_dynamic_partitions("jobs", ["erin.j1"])
    try:
        built = materialize([bronze, silver, gold], partition_key="erin.j1", instance=instance, resources=resources)
        assert built.success
        dbt_tests = [e for e in built.get_asset_check_evaluations() if e.asset_key.path[0] == "gold"]
        assert dbt_tests
        audited = materialize([audit_report], partition_key="erin.j1", instance=instance,
                              resources={"storage": resources["storage"]})
        assert audited.success
        report = json.loads(store.get_bytes(layout.audit_report_key("erin", "j1")))
        gold_tests = next(e for e in report["evidence"] if e["tool"] == "gold_tests")["result"]
        assert gold_tests["available"] and gold_tests["tests"] == len(dbt_tests) and gold_tests["failed"] == 0
        assert report["trustworthy"] and [c.passed for c in audited.get_asset_check_evaluations()] == [True]
    finally:
        instance.dispose()
