"""The DuckDB connections' memory limit and spill directory, cleaning's and Gold's: from the machine, or the
environment."""
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from orchestrator_assets.assets.gold import dbt_resource
from orchestrator_assets.cleaning.engines import ENGINES
from orchestrator_assets.cleaning.publish import current_silver
from orchestrator_assets.cleaning.run import clean_partition
from orchestrator_assets.resources import WarehouseResource
from orchestrator_assets.settings import SettingsError, duckdb_limits, memory_bytes
from orchestrator_assets.storage.local import LocalStorage


def available_bytes() -> int:
    line = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemAvailable:"))
    return int(line.split()[1]) * 1024


def test_by_default_half_the_available_memory_at_most_4_gib_and_spill_in_the_scratch_directory(tmp_path,
                                                                                              monkeypatch):
    monkeypatch.delenv("DUCKDB_MEMORY_LIMIT", raising=False)
    monkeypatch.delenv("DUCKDB_TEMP_DIR", raising=False)
    limits = duckdb_limits(tmp_path)
    assert limits["memory_limit"].endswith("MiB")
    expected = min(available_bytes() / 2, 4 * 2**30)
    # Other processes change what is available between the two readings: within a tenth of it.
    assert abs(int(limits["memory_limit"][:-3]) * 2**20 - expected) < available_bytes() / 10
    assert limits["temp_directory"] == str(tmp_path / "duckdb-spill")


def test_the_environment_overrides_both(tmp_path, monkeypatch):
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "3GB")
    monkeypatch.setenv("DUCKDB_TEMP_DIR", str(tmp_path / "spill"))
    assert duckdb_limits(tmp_path) == {"memory_limit": "3GB", "temp_directory": str(tmp_path / "spill")}


def test_a_limit_that_is_not_an_amount_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(SettingsError, match="DUCKDB_MEMORY_LIMIT='lots'"):
        duckdb_limits(tmp_path)


@pytest.mark.parametrize("amount", ["4GB", "512MiB", "1.5 GiB", "100MB", "10GB"])
def test_an_amount_in_bytes_is_what_duckdb_takes_it_for(amount):
    con = duckdb.connect(config={"memory_limit": amount})
    try:
        # DuckDB shows the limit rounded to two decimals of its own unit, so compare within that rounding.
        shown = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        assert memory_bytes(shown.replace(" ", "")) == pytest.approx(memory_bytes(amount), rel=0.01, abs=1024)
    finally:
        con.close()


def test_an_amount_that_is_not_one_is_refused_naming_it():
    with pytest.raises(SettingsError, match="'4 gigs'"):
        memory_bytes("4 gigs")


def test_the_engine_cleans_within_the_limit_it_is_given(tmp_path, bronze_store, monkeypatch):
    source, manifest = bronze_store
    store = LocalStorage(tmp_path)
    shutil.copytree(source.root / "bronze", tmp_path / "bronze")
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "1MB")  # far below what the job needs
    with pytest.raises(duckdb.OutOfMemoryException, match=r"/976\.5 KiB used"):  # 1MB: decimal
        clean_partition(store, manifest, ENGINES["duckdb"]())
    assert current_silver(store, "alice", "job-1") is None
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "256MB")
    assert clean_partition(store, manifest, ENGINES["duckdb"]()).silver_rows > 0


def test_the_gold_build_runs_within_the_same_limit(tmp_path, monkeypatch):
    """dbt's DuckDB connection gets its limit and spill folder from the build's vars, not DuckDB's 80% default."""
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "300MiB")
    warehouse = WarehouseResource(warehouse="duckdb", duckdb_path=str(tmp_path / "gold.duckdb"))
    shown = dbt_resource("duckdb").cli(
        ["show", "--inline", "select current_setting('memory_limit') as m, current_setting('temp_directory') as t",
         "--output", "json", "--vars", json.dumps(warehouse.dbt_vars())], target_path=tmp_path / "target")
    rows = [json.loads(e.raw_event["data"]["preview"])[0] for e in shown.stream_raw_events()
            if e.raw_event["info"]["name"] == "ShowNode"]
    assert rows == [{"m": "300.0 MiB", "t": str(tmp_path / "duckdb-spill")}]
