"""Following a failed run from the event log: retries and the failure as progress lines, the root error, the log.

Expected, written before the code: a clean of a partition without Bronze shows "silver failed, will retry" twice
and "silver FAILED: FileNotFoundError: no Bronze manifest ..."; the root error names the step and the user's
exception, not Dagster's wrapper; the run log holds every event with its type.
"""
from __future__ import annotations

import pytest
from dagster import DagsterInstance, RetryPolicy

from orchestrator_assets import follow
from orchestrator_assets.assets.gold import dbt_resource
from orchestrator_assets.definitions import defs
from orchestrator_assets.io_managers import storage_resources
from orchestrator_assets.resources import (
    CleaningEngineResource,
    DatabricksResource,
    StorageResource,
    WarehouseResource,
)

pytestmark = pytest.mark.xdist_group("follow")
ROOT = "FileNotFoundError: no Bronze manifest for gina.missing: materialise Bronze first"


def test_a_failed_run_is_followed_to_its_root_error(tmp_path, monkeypatch):
    monkeypatch.setattr(RetryPolicy, "calculate_delay", lambda self, attempt: 0)
    (tmp_path / "home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        instance.add_dynamic_partitions("jobs", ["gina.missing"])
        result = defs.resolve_job_def("clean_small_job").execute_in_process(
            partition_key="gina.missing", instance=instance, raise_on_error=False, resources={
                **storage_resources(StorageResource(root=str(tmp_path / "storage"))), "dbt": dbt_resource(),
                "cleaning": CleaningEngineResource(engine="pandas"), "databricks": DatabricksResource(),
                "warehouse": WarehouseResource(duckdb_path=str(tmp_path / "w.duckdb"))})
        assert not result.success
        said = []
        run = follow.follow(instance, result.run_id, said.append)
        assert run.is_finished and run.status.value == "FAILURE"
        # "[mm:ss] " from the run's first event, then what happened
        lines = [line.split("] ", 1)[1] for line in said if line.startswith("[")]
        assert lines == ["silver started", f"silver failed, will retry: {ROOT}", "silver started again",
                         f"silver failed, will retry: {ROOT}", "silver started again", f"silver FAILED: {ROOT}"], said
        assert follow.failure_of(instance, result.run_id) == f"silver: {ROOT}"
        log = follow.write_run_log(instance, result.run_id, tmp_path / "logs" / "gina.missing" / "r.log")
        text = log.read_text()
        assert "STEP_FAILURE" in text and "STEP_UP_FOR_RETRY" in text and ROOT.split(": ", 1)[1] in text
        assert not log.with_name("r.log.tmp").exists()


def test_the_daemon_is_reported_missing_only_for_a_queued_instance(tmp_path):
    (tmp_path / "home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        hint = follow.daemon_missing(instance)
        assert hint and "`make dev`" in hint and "dagster-daemon run -w workspace.yaml" in hint
