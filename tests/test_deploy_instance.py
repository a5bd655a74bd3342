"""deploy/dagster.yaml: the Dagster instance on a real PostgreSQL server (dagster-postgres)."""
from __future__ import annotations

import shutil

import pytest
import yaml
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, materialize
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from orchestrator_assets.assets.bronze import bronze
from orchestrator_assets.io_managers import storage_resources
from orchestrator_assets.requests import build_request, save_request
from orchestrator_assets.resources import StorageResource
from orchestrator_assets.settings import PROJECT_DIR

pytestmark = pytest.mark.xdist_group("postgres")
DEPLOY = PROJECT_DIR / "deploy" / "dagster.yaml"


def test_the_deployment_settings_equal_the_development_ones_but_for_storage():
    deploy = yaml.safe_load(DEPLOY.read_text())
    assert set(deploy.pop("storage")) == {"postgres"}
    assert deploy == yaml.safe_load((PROJECT_DIR / "dagster.yaml").read_text())


@pytest.fixture
def pg_home(postgres, tmp_path, monkeypatch):
    db = postgres.create_database()
    for name, value in {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(postgres.port),
                        "DAGSTER_PG_USER": "postgres", "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": db}.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(DEPLOY, home / "dagster.yaml")
    yield home, db
    postgres.drop_database(db)


def test_runs_partitions_and_materialisations_live_in_postgres(postgres, pg_home, tmp_path):
    home, db = pg_home
    with DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        storage = StorageResource(root=str(tmp_path / "storage"))
        save_request(storage.get(), build_request("pat", "pg-1", 60, 1))
        instance.add_dynamic_partitions("jobs", ["pat.pg-1"])
        result = materialize([bronze], partition_key="pat.pg-1", instance=instance, resources={**storage_resources(storage)})
        assert result.success
    # A new process's view: everything came back from the database, nothing from local files.
    with DagsterInstance.from_config(str(home)) as again:
        [run] = again.get_runs()
        assert (run.run_id, run.status) == (result.run_id, DagsterRunStatus.SUCCESS)
        assert again.get_dynamic_partitions("jobs") == ["pat.pg-1"]
        assert again.get_materialized_partitions(AssetKey(["bronze", "orders"])) == {"pat.pg-1"}
    conn = postgres.connect(db)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT run_id, status FROM runs")
            assert cur.fetchall() == [(result.run_id, "SUCCESS")]
    finally:
        conn.close()

