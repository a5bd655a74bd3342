"""A user's own spec runs through Bronze and Silver; Gold says plainly what it lacks."""
import pytest
import yaml
from dagster import AssetKey, DagsterInstance, materialize

from orchestrator_assets.assets.bronze import bronze
from orchestrator_assets.assets.gold import SOURCE_TABLES, dbt_resource, gold
from orchestrator_assets.assets.silver import silver
from orchestrator_assets.io_managers import storage_resources
from orchestrator_assets.resources import (
    CleaningEngineResource,
    DatabricksResource,
    StorageResource,
    WarehouseResource,
)

SPEC = {
    "name": "library", "anchor": "loans", "error_rate": 0.3,
    "tables": {
        "users": {"rows": {"per": "loans", "ratio": 0.5}, "primary_key": "user_id",
                  "columns": {"user_id": {"type": "id", "source": {"kind": "sequence"}},
                              "email": {"type": "email", "required": False, "errors": ["invalid_email", "email_case"],
                                        "source": {"kind": "template", "template": "reader{user_id}@example.org"}}}},
        "loans": {"rows": {"count": 10}, "primary_key": "loan_id", "row_errors": ["exact_duplicate"],
                  "columns": {"loan_id": {"type": "id", "source": {"kind": "sequence"}},
                              "user_id": {"type": "id", "errors": ["orphan_fk"],
                                          "source": {"kind": "foreign_key", "table": "users"}},
                              "days": {"type": "int", "min": 1, "max": 60, "errors": ["out_of_range", "number_as_string"],
                                       "source": {"kind": "int_range", "min": 7, "max": 28}}}},
    },
}


def test_custom_spec_through_bronze_and_silver(tmp_path):
    spec_file = tmp_path / "library.yaml"
    spec_file.write_text(yaml.safe_dump(SPEC))
    (tmp_path / "home").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "home"))
    resources = {**storage_resources(StorageResource(root=str(tmp_path / "storage"))), "cleaning": CleaningEngineResource(),
                 "databricks": DatabricksResource(),
                 "warehouse": WarehouseResource(duckdb_path=str(tmp_path / "w.duckdb")), "dbt": dbt_resource()}
    instance.add_dynamic_partitions("jobs", ["carol.lib-1"])
    config = {"ops": {"bronze": {"config": {"rows": 2000, "seed": 3, "spec_path": str(spec_file)}}}}
    result = materialize([bronze, silver], partition_key="carol.lib-1", instance=instance, resources=resources,
                         run_config=config)
    assert result.success
    done = {m.asset_key for m in result.get_asset_materialization_events()}
    assert AssetKey(["silver", "users"]) in done and AssetKey(["silver", "quarantine"]) in done
    products = instance.get_latest_materialization_event(AssetKey(["silver", "products"])).asset_materialization
    assert products.metadata["rows"].value == 0 and products.metadata["in_spec"].value is False
    assert all(e.passed for e in result.get_asset_check_evaluations())
    store = resources["storage"].get()
    assert store.list("silver/loans/carol/lib-1") and store.list("bronze/loans/carol/lib-1")

    with pytest.raises(ValueError, match="lacks: .*orders"):
        materialize([bronze, silver, gold], partition_key="carol.lib-1", instance=instance, resources=resources)
    assert "orders" in SOURCE_TABLES
    instance.dispose()
