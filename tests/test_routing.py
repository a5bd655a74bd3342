"""The router and its settings: pure functions, no Dagster instance."""
from __future__ import annotations

import pytest

from orchestrator_assets.routing import choose_route
from orchestrator_assets.settings import RouterSettings, SettingsError, automation_settings, router_settings

ROUTER_VARS = ("ROUTER_SMALL_MAX_RECORDS", "ROUTER_SINGLE_NODE_MAX_RECORDS", "ROUTER_FORCE_ENGINE")
AUTOMATION_VARS = ("BRONZE_SENSOR_STATUS", "SCHEDULES_STATUS", "SMALL_BATCH_CRON", "LARGE_BATCH_CRON")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ROUTER_VARS + AUTOMATION_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("records, engine, path", [
    (0, "pandas", "small"),
    (1_000_000, "pandas", "small"),         # "at most" the small threshold
    (1_000_001, "duckdb", "large"),
    (84_000_000, "duckdb", "large"),        # the 10M-order job measured on DuckDB (docs/benchmarks.md)
    (100_000_000, "duckdb", "large"),       # at most the single-node threshold
    (100_000_001, "spark", "large"),
])
def test_default_thresholds_on_both_sides(records, engine, path):
    route = choose_route(records, router_settings())
    assert (route.engine, route.path) == (engine, path)
    assert f"{records:,} records" in route.reason


def test_thresholds_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ROUTER_SMALL_MAX_RECORDS", "1000")
    monkeypatch.setenv("ROUTER_SINGLE_NODE_MAX_RECORDS", "5_000")
    settings = router_settings()
    assert settings == RouterSettings(1000, 5000, "")
    assert [choose_route(n, settings).engine for n in (1000, 1001, 5000, 5001)] == \
        ["pandas", "duckdb", "duckdb", "spark"]
    assert "ROUTER_SMALL_MAX_RECORDS" in choose_route(1000, settings).reason


@pytest.mark.parametrize("forced, path", [("spark", "large"), ("duckdb", "large"), ("pandas", "small")])
def test_a_forced_engine_wins_over_size(monkeypatch, forced, path):
    monkeypatch.setenv("ROUTER_FORCE_ENGINE", f" {forced.upper()} ")
    settings = router_settings()
    for records in (1, 10_000_000, 10**9):
        route = choose_route(records, settings)
        assert (route.engine, route.path) == (forced, path)
        assert f"ROUTER_FORCE_ENGINE={forced}" in route.reason


@pytest.mark.parametrize("env, message", [
    ({"ROUTER_SMALL_MAX_RECORDS": "ten"}, "ROUTER_SMALL_MAX_RECORDS='ten' is not a positive whole number"),
    ({"ROUTER_SMALL_MAX_RECORDS": "0"}, "ROUTER_SMALL_MAX_RECORDS='0' is not a positive"),
    ({"ROUTER_SINGLE_NODE_MAX_RECORDS": "-5"}, "ROUTER_SINGLE_NODE_MAX_RECORDS='-5' is not a positive"),
    ({"ROUTER_SINGLE_NODE_MAX_RECORDS": "1.5e6"}, "ROUTER_SINGLE_NODE_MAX_RECORDS='1.5e6'"),
    ({"ROUTER_SMALL_MAX_RECORDS": "100", "ROUTER_SINGLE_NODE_MAX_RECORDS": "100"},
     "ROUTER_SMALL_MAX_RECORDS (100) must be below ROUTER_SINGLE_NODE_MAX_RECORDS (100)"),
    ({"ROUTER_SMALL_MAX_RECORDS": "300000000"}, "must be below ROUTER_SINGLE_NODE_MAX_RECORDS (100000000)"),
    ({"ROUTER_FORCE_ENGINE": "polars"}, "ROUTER_FORCE_ENGINE='polars' is not supported"),
])
def test_bad_router_settings_name_the_variable(monkeypatch, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        router_settings()
    assert message in str(err.value)


def test_negative_record_count_is_refused():
    with pytest.raises(ValueError, match="cannot be negative"):
        choose_route(-1, router_settings())


def test_automation_defaults_and_overrides(monkeypatch):
    defaults = automation_settings()
    assert (defaults.bronze_sensor_status, defaults.schedules_status) == ("stopped", "stopped")
    assert (defaults.small_batch_cron, defaults.large_batch_cron) == ("*/15 * * * *", "0 2 * * *")
    monkeypatch.setenv("BRONZE_SENSOR_STATUS", "RUNNING")
    monkeypatch.setenv("SMALL_BATCH_CRON", "*/5  * * * *")
    changed = automation_settings()
    assert changed.bronze_sensor_status == "running" and changed.small_batch_cron == "*/5 * * * *"


@pytest.mark.parametrize("name, value, message", [
    ("SCHEDULES_STATUS", "paused", "SCHEDULES_STATUS='paused' is not supported"),
    ("LARGE_BATCH_CRON", "0 2 * *", "LARGE_BATCH_CRON='0 2 * *' is not a cron expression"),
    ("SMALL_BATCH_CRON", "*/15 * * * * *", "SMALL_BATCH_CRON="),
])
def test_bad_automation_settings_name_the_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match="is not") as err:
        automation_settings()
    assert message in str(err.value)
