"""Gold built by dbt on MySQL/MariaDB equals Gold on DuckDB, from the same Silver, through the Dagster assets."""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib

import duckdb
import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from orchestrator_assets.assets.bronze import bronze
from orchestrator_assets.assets.gold import dbt_resource, gold
from orchestrator_assets.assets.silver import silver
from orchestrator_assets.io_managers import storage_resources
from orchestrator_assets.requests import build_request, save_request
from orchestrator_assets.resources import (
    CleaningEngineResource,
    DatabricksResource,
    StorageResource,
    WarehouseResource,
)
from orchestrator_assets.summary import GOLD_MARTS, gold_counts

pytestmark = pytest.mark.xdist_group("mysql")
JOBS = [("alice", "g1", 700), ("o_brien-2", "g-2", 500)]


def normal(value):
    """One spelling per value across the two databases: MySQL has no boolean type, DuckDB's doubles are exact."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float | decimal.Decimal):
        return round(float(value), 6)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def digest(rows: list[tuple], names: list[str]) -> dict[str, tuple[int, str]]:
    """Per column: the row count and a checksum of its values, order aside."""
    out = {}
    for i, name in enumerate(names):
        values = sorted(repr(normal(r[i])) for r in rows)
        out[name] = (len(values), hashlib.sha256("\n".join(values).encode()).hexdigest()[:16])
    return out


def duckdb_marts(path) -> dict:
    with duckdb.connect(str(path), read_only=True) as con:
        out = {}
        for mart in GOLD_MARTS:
            cur = con.execute(f"SELECT * FROM {mart}")
            out[mart] = digest(cur.fetchall(), [d[0] for d in cur.description])
        return out


def mysql_marts(mariadb, db) -> dict:
    with mariadb.connect(db) as conn, conn.cursor() as cur:
        out = {}
        for mart in GOLD_MARTS:
            cur.execute(f"SELECT * FROM `{mart}`")
            rows = cur.fetchall()
            out[mart] = digest(rows, [d[0] for d in cur.description])
        return out


@pytest.fixture
def built(gold_db, tmp_path):
    instance = DagsterInstance.ephemeral()
    resources = {**storage_resources(StorageResource(root=str(tmp_path / "storage"))),
                 "cleaning": CleaningEngineResource(engine="pandas"), "databricks": DatabricksResource(),
                 "warehouse": WarehouseResource(warehouse="duckdb", duckdb_path=str(tmp_path / "gold.duckdb")),
                 "dbt": dbt_resource()}
    store = resources["storage"].get()
    keys = [f"{u}.{j}" for u, j, _ in JOBS]
    instance.add_dynamic_partitions("jobs", keys)
    for user, job, rows in JOBS:
        save_request(store, build_request(user, job, rows, 9))
    for key in keys:
        assert materialize([bronze, silver, gold], partition_key=key, instance=instance, resources=resources).success
    on_mysql = {**resources, "warehouse": WarehouseResource(warehouse="mysql"), "dbt": dbt_resource("mysql")}

    def build_mysql(key):
        return materialize([bronze, silver, gold], selection=AssetSelection.groups("gold"), partition_key=key,
                           instance=instance, resources=on_mysql, raise_on_error=False)

    return {"keys": keys, "build_mysql": build_mysql, "duckdb": tmp_path / "gold.duckdb"}


def test_the_marts_are_identical_on_both_warehouses_and_a_rebuild_adds_nothing(mariadb, gold_db, built):
    for key in built["keys"]:
        result = built["build_mysql"](key)
        assert result.success, [str(e.event_specific_data.error) for e in result.all_events if e.is_step_failure]
        failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
        assert failed == [], key  # the same dbt tests pass on MySQL
        counted = {e.asset_key.path[-1]: e.materialization.metadata["dagster/row_count"].value
                   for e in result.get_asset_materialization_events()}
        assert counted == gold_counts(built["duckdb"], *key.split(".")), key  # counted on MySQL, per partition
    expected = duckdb_marts(built["duckdb"])
    got = mysql_marts(mariadb, gold_db)
    assert {m: [c for c in expected[m] if got[m].get(c) != expected[m][c]] for m in expected} == \
        {m: [] for m in expected}
    assert got == expected  # the same columns too
    assert all(columns[next(iter(columns))][0] > 0 for columns in expected.values())
    assert built["build_mysql"](built["keys"][0]).success  # again: the partition's rows are replaced
    assert mysql_marts(mariadb, gold_db) == expected
