"""The `orchestrator` command as a user runs it: real subprocesses, a real instance in DAGSTER_HOME."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

pytestmark = pytest.mark.xdist_group("cli")
CLI = [str(Path(sys.executable).with_name("orchestrator"))]


def run(args, env, check=True):
    proc = subprocess.run(CLI + args, check=False, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "ORCHESTRATOR_DATA_DIR": str(tmp_path / "data")}


def test_submit_registers_the_partition_runs_the_job_and_writes_a_summary(env, tmp_path):
    proc = run(["submit", "--in-process", "--user", "erin", "--job", "first", "--rows", "600", "--seed", "9"], env)
    # The console: progress and the summary, not dbt's log or Dagster's warnings (both are in the run log).
    console = proc.stdout.splitlines() + proc.stderr.splitlines()
    assert len(console) < 75, "\n".join(console)
    assert not [line for line in console if "of 162" in line or "WARNING" in line or "AssetObservation" in line]
    assert "bronze started" in proc.stderr and "gold done" in proc.stderr
    assert "silver: " in proc.stderr and "fact_orders" in proc.stderr  # tables as they land
    [run_log] = (tmp_path / "data" / "logs" / "erin.first").glob("*.log")
    assert f"Run log (dbt's output included): {run_log}" in proc.stdout
    assert "Completed successfully" in run_log.read_text() and "STEP_SUCCESS" in run_log.read_text()
    summary_path = Path(proc.stdout.strip().splitlines()[-1])
    summary = json.loads(summary_path.read_text())
    assert summary_path == tmp_path / "data" / "summaries" / "erin.first.json"
    assert summary["bronze"]["orders"] >= 600 and summary["accuracy"]["passed"] is True
    assert summary["gold"]["fact_orders"] == summary["silver"]["orders"] > 0
    assert "Cleaning accuracy" in proc.stdout and "fact_orders" in proc.stdout
    assert summary["locations"]["run_log"] == str(run_log)
    instance = DagsterInstance.from_config(env["DAGSTER_HOME"])
    try:
        assert instance.get_dynamic_partitions("jobs") == ["erin.first"]
        runs = instance.get_runs()
        assert len(runs) == 1 and runs[0].status == DagsterRunStatus.SUCCESS
        assert runs[0].tags["orchestrator/user"] == "erin" and runs[0].tags["dagster/partition"] == "erin.first"
        assert runs[0].run_id in run_log.name
    finally:
        instance.dispose()
    # The same job asked for differently is refused: Bronze is immutable.
    again = run(["submit", "--user", "erin", "--job", "first", "--rows", "700"], env, check=False)
    assert again.returncode == 2 and "new job id" in again.stderr


@pytest.mark.parametrize("args, message", [
    (["submit", "--user", "../root", "--rows", "10"], "invalid user id"),
    (["submit", "--user", "ok", "--job", "a/b", "--rows", "10"], "invalid job id"),
    (["submit", "--user", "ok", "--rows", "0"], "rows must be between"),
    (["submit", "--user", "ok", "--spec", "/nonexistent.yaml"], "spec file not found"),
    (["validate", "/nonexistent.yaml"], "spec file not found"),
])
def test_bad_input_is_refused_with_a_clear_message(env, args, message):
    proc = run(args, env, check=False)
    assert proc.returncode == 2 and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_generate_and_validate(env, tmp_path):
    proc = run(["generate", "--user", "gina", "--job", "g1", "--rows", "200", "--out", str(tmp_path / "out")], env)
    result = json.loads(proc.stdout)
    assert result["partition"] == "gina.g1" and result["errors"] > 0
    assert (tmp_path / "out/bronze/_manifest/gina/g1/manifest.json").is_file()
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: x\nanchor: t\ntables: {t: {rows: {count: 1}, primary_key: id, columns: {}}}\n")
    bad = run(["validate", str(spec)], env, check=False)
    assert bad.returncode == 2 and "primary_key 'id' is not a column" in bad.stderr
