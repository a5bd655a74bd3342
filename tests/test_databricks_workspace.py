"""The local Databricks workspace, driven by the real databricks-sdk and the real PipesDatabricksClient."""
import base64
import io
import json
import os
import time
from pathlib import Path

import pytest
from dagster import AssetExecutionContext, asset, materialize
from dagster_databricks import PipesDatabricksClient, PipesDbfsMessageReader
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (
    InvalidParameterValue,
    NotFound,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    Unauthenticated,
)
from databricks.sdk.service import jobs
from support.databricks_workspace import LocalDatabricksWorkspace

pytestmark = pytest.mark.xdist_group("databricks")

NEW_CLUSTER = {"spark_version": "17.3.x-scala2.13", "node_type_id": "Standard_D4ds_v5", "num_workers": 1}
FINISHED = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}

ECHO = """
import json, os, sys
with open(sys.argv[1], "w") as f:
    json.dump({"key": os.environ["STORAGE_KEY"], "argv": sys.argv[2:],
               "fuse": os.environ["DBFS_FUSE_ROOT"]}, f)
"""
SLEEPER = """
import os, subprocess, sys, time
child = subprocess.Popen(["sleep", "60"])
with open(sys.argv[1] + ".partial", "w") as f:
    f.write(f"{os.getpid()} {child.pid}")
os.replace(sys.argv[1] + ".partial", sys.argv[1])
time.sleep(60)
"""
# Runs "on the cluster" with the project's own DBFS loader and writer (cleaning/remote.py), which read DBFS
# through DBFS_FUSE_ROOT and need no Databricks Spark session.
PIPES_JOB = """
import os
from dagster_pipes import open_dagster_pipes
from orchestrator_assets.cleaning.remote import DbfsContextLoader, DbfsMessageWriter

with open_dagster_pipes(context_loader=DbfsContextLoader(), message_writer=DbfsMessageWriter(interval=0.2)) as pipes:
    pipes.report_asset_materialization(metadata={"n": 3})
    pipes.report_custom_message({"greeting": "hello from the cluster",
                                 "storage_key_set": os.environ.get("STORAGE_KEY") == "s3cr3t"})
"""


@pytest.fixture
def ws(tmp_path):
    with LocalDatabricksWorkspace(tmp_path / "workspace") as workspace:
        yield workspace


@pytest.fixture
def client(ws, tmp_path, monkeypatch):
    # Only this workspace's host and token: a profile or DATABRICKS_* variable of the machine would add a
    # second auth method, which the SDK refuses.
    for name in list(os.environ):
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    return WorkspaceClient(host=ws.host, token=ws.token)


def upload(client: WorkspaceClient, path: str, text: str) -> None:
    client.dbfs.put(path, contents=base64.b64encode(text.encode()).decode(), overwrite=True)


def submit(client: WorkspaceClient, **task) -> int:
    return client.jobs.submit(tasks=[jobs.SubmitTask.from_dict({"task_key": "main", **task})]).run_id


def wait(client: WorkspaceClient, run_id: int, timeout: float = 20) -> jobs.Run:
    # Not Wait.result(): the SDK polls that at 1 s and more, too slow for tests.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.jobs.get_run(run_id)
        if run.state.life_cycle_state.value in FINISHED:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} still {run.state} after {timeout} s")


def wait_for_file(path: Path, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)
    return path.read_text()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a killed grandchild may stay a zombie until init reaps it


def assert_gone(*pids: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in pids if alive(pid)]


def test_dbfs_round_trip(ws, client):
    client.dbfs.mkdirs("/data/in")
    upload(client, "/data/in/a.txt", "hello dbfs")
    status = client.dbfs.get_status("dbfs:/data/in/a.txt")
    assert (status.path, status.is_dir, status.file_size) == ("/data/in/a.txt", False, 10)
    assert client.dbfs.get_status("/data/in").is_dir
    assert ws.dbfs_path("dbfs:/data/in/a.txt").read_text() == "hello dbfs"

    part = client.dbfs.read("/data/in/a.txt", offset=6, length=100)
    assert (part.bytes_read, base64.b64decode(part.data)) == (4, b"dbfs")
    assert [f.path for f in client.dbfs.list("/data/in")] == ["/data/in/a.txt"]
    with pytest.raises(ResourceAlreadyExists):
        client.dbfs.put("/data/in/a.txt", contents="", overwrite=False)

    # The SDK's streaming helpers use create/add-block/close and 1 MB reads.
    big = os.urandom(1024 * 1024 + 1000)
    client.dbfs.upload("/data/big.bin", io.BytesIO(big), overwrite=True)
    assert client.dbfs.download("/data/big.bin").read() == big

    client.dbfs.delete("/data", recursive=True)
    with pytest.raises(ResourceDoesNotExist):
        client.dbfs.get_status("/data/in/a.txt")
    with pytest.raises(ResourceDoesNotExist):
        client.dbfs.read("/data/in/a.txt")
    assert not ws.dbfs_path("/data").exists()
    with pytest.raises(InvalidParameterValue, match=r"\.\."):
        client.dbfs.get_status("/data/../../outside")


def test_bad_token_is_refused(ws, client):
    intruder = WorkspaceClient(host=ws.host, token="dapi-not-the-token")
    with pytest.raises((Unauthenticated, PermissionDenied), match="Invalid access token"):
        intruder.dbfs.get_status("/")
    with pytest.raises((Unauthenticated, PermissionDenied)):
        intruder.jobs.get_run(1)


def test_python_task_sees_resolved_secret_and_arguments(ws, client, tmp_path):
    client.secrets.create_scope("orchestrator")
    client.secrets.put_secret("orchestrator", "storage-key", string_value="s3cr3t")
    upload(client, "dbfs:/scripts/echo.py", ECHO)
    out = tmp_path / "out.json"
    run_id = submit(client, new_cluster={**NEW_CLUSTER, "spark_env_vars": {
        "STORAGE_KEY": "{{secrets/orchestrator/storage-key}}"}}, spark_python_task={
        "python_file": "dbfs:/scripts/echo.py", "parameters": [str(out), "--partition", "alice.job-1"]})

    run = wait(client, run_id)
    assert (run.state.life_cycle_state, run.state.result_state) == (jobs.RunLifeCycleState.TERMINATED,
                                                                    jobs.RunResultState.SUCCESS)
    assert run.run_page_url == f"{ws.host}/#job/runs/{run_id}"
    assert [task.state.result_state for task in run.tasks] == [jobs.RunResultState.SUCCESS]
    assert json.loads(out.read_text()) == {"key": "s3cr3t", "argv": ["--partition", "alice.job-1"],
                                           "fuse": str(ws.root / "dbfs")}
    # The reference is what was sent and what comes back; the value stays inside the run.
    sent = ws.submitted[-1]["tasks"][0]["new_cluster"]["spark_env_vars"]
    assert sent["STORAGE_KEY"] == "{{secrets/orchestrator/storage-key}}"
    assert "s3cr3t" not in json.dumps(run.as_dict())


def test_failing_script_fails_with_its_stderr(ws, client):
    upload(client, "/scripts/fail.py",
           "import sys\nprint('bad partition alice.job-1', file=sys.stderr)\nsys.exit(3)")
    run_id = submit(client, new_cluster=NEW_CLUSTER,
                    spark_python_task={"python_file": "dbfs:/scripts/fail.py"})

    run = wait(client, run_id)
    assert (run.state.life_cycle_state, run.state.result_state) == (jobs.RunLifeCycleState.TERMINATED,
                                                                    jobs.RunResultState.FAILED)
    assert "bad partition alice.job-1" in run.state.state_message
    assert "exit code 3" in run.state.state_message
    output = client.jobs.get_run_output(run.tasks[0].run_id)
    assert "bad partition" in output.error_trace
    assert ws.run_logs(run_id)[1].strip() == "bad partition alice.job-1"


def test_missing_secret_fails_the_run_naming_it(ws, client, tmp_path):
    ws.put_secret("orchestrator", "other-key", "must-not-leak")
    marker = tmp_path / "ran"
    upload(client, "/scripts/touch.py", f"open({str(marker)!r}, 'w').close()")
    run_id = submit(client, new_cluster={**NEW_CLUSTER, "spark_env_vars": {
        "STORAGE_KEY": "{{secrets/orchestrator/storage-key}}"}}, spark_python_task={
        "python_file": "dbfs:/scripts/touch.py"})

    run = wait(client, run_id)
    assert run.state.result_state == jobs.RunResultState.FAILED
    assert "scope: orchestrator and key: storage-key" in run.state.state_message
    assert "must-not-leak" not in run.state.state_message
    assert not marker.exists()


def test_missing_wheel_fails_the_run(ws, client):
    upload(client, "/scripts/noop.py", "pass")
    libraries = [{"pypi": {"package": "dagster-pipes"}}, {"whl": "dbfs:/libs/missing-0.1-py3-none-any.whl"}]
    run_id = submit(client, new_cluster=NEW_CLUSTER, libraries=libraries,
                    spark_python_task={"python_file": "dbfs:/scripts/noop.py"})

    run = wait(client, run_id)
    assert run.state.result_state == jobs.RunResultState.FAILED
    assert "Library installation failed" in run.state.state_message
    assert "dbfs:/libs/missing-0.1-py3-none-any.whl" in run.state.state_message


def test_wheel_task_runs_the_entry_point_of_the_installed_package(ws, client):
    wheel = "/Volumes/main/default/code/orchestrator_assets-0.1.0-py3-none-any.whl"
    ws.volume_path(wheel).parent.mkdir(parents=True)
    ws.volume_path(wheel).write_bytes(b"not installed: the venv has the package")
    run_id = submit(client, new_cluster=NEW_CLUSTER, libraries=[{"whl": wheel}], python_wheel_task={
        "package_name": "orchestrator-assets", "entry_point": "orchestrator", "parameters": ["--help"]})

    run = wait(client, run_id)
    assert run.state.result_state == jobs.RunResultState.SUCCESS, run.state.state_message
    assert ws.run_logs(run_id)[0].startswith("usage: orchestrator")


def test_cancel_kills_the_task_and_what_it_started(ws, client, tmp_path):
    pids = tmp_path / "pids"
    upload(client, "/scripts/sleep.py", SLEEPER)
    run_id = submit(client, new_cluster=NEW_CLUSTER, spark_python_task={
        "python_file": "dbfs:/scripts/sleep.py", "parameters": [str(pids)]})
    task_pid, child_pid = map(int, wait_for_file(pids).split())
    assert client.jobs.get_run(run_id).state.life_cycle_state == jobs.RunLifeCycleState.RUNNING

    client.jobs.cancel_run(run_id)
    run = wait(client, run_id)
    assert (run.state.life_cycle_state, run.state.result_state) == (jobs.RunLifeCycleState.TERMINATED,
                                                                    jobs.RunResultState.CANCELED)
    assert_gone(task_pid, child_pid)


def test_stop_ends_live_runs(ws, client, tmp_path):
    pids = tmp_path / "pids"
    upload(client, "/scripts/sleep.py", SLEEPER)
    submit(client, new_cluster=NEW_CLUSTER, spark_python_task={
        "python_file": "dbfs:/scripts/sleep.py", "parameters": [str(pids)]})
    task_pid, child_pid = map(int, wait_for_file(pids).split())
    ws.stop()
    assert_gone(task_pid, child_pid)


def test_invalid_submissions_are_rejected(ws, client):
    cluster = {key: value for key, value in NEW_CLUSTER.items() if key != "node_type_id"}
    with pytest.raises(InvalidParameterValue, match="node_type_id"):
        submit(client, new_cluster=cluster, spark_python_task={"python_file": "dbfs:/scripts/x.py"})
    assert "node_type_id" not in ws.submitted[-1]["tasks"][0]["new_cluster"]
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        submit(client, existing_cluster_id="0000-unknown", spark_python_task={"python_file": "dbfs:/x.py"})
    with pytest.raises(ResourceDoesNotExist):
        client.jobs.get_run(424242)


def test_existing_cluster_runs_tasks_with_its_environment(ws, client, tmp_path):
    ws.add_cluster("0101-120000-abcd", spark_env_vars={"STORAGE_KEY": "{{secrets/orchestrator/storage-key}}"})
    ws.put_secret("orchestrator", "storage-key", "from-the-cluster")
    cluster = client.clusters.get("0101-120000-abcd")
    assert cluster.cluster_log_conf is None and cluster.spark_version
    with pytest.raises(NotFound):
        client.clusters.get("0000-unknown")

    upload(client, "/scripts/echo.py", ECHO)
    out = tmp_path / "out.json"
    run_id = submit(client, existing_cluster_id="0101-120000-abcd", spark_python_task={
        "python_file": "dbfs:/scripts/echo.py", "parameters": [str(out)]})
    assert wait(client, run_id).state.result_state == jobs.RunResultState.SUCCESS
    assert json.loads(out.read_text())["key"] == "from-the-cluster"


def test_pipes_client_materializes_an_asset_through_the_workspace(ws, client):
    upload(client, "/scripts/pipes_job.py", PIPES_JOB)
    ws.put_secret("orchestrator", "storage-key", "s3cr3t")
    databricks = PipesDatabricksClient(
        client=client, poll_interval_seconds=0.2,
        message_reader=PipesDbfsMessageReader(client=client, interval=0.2))
    custom_messages = []

    @asset
    def remote_numbers(context: AssetExecutionContext, databricks: PipesDatabricksClient):
        task = jobs.SubmitTask.from_dict({
            "task_key": "numbers", "spark_python_task": {"python_file": "dbfs:/scripts/pipes_job.py"},
            "new_cluster": {**NEW_CLUSTER,
                            "spark_env_vars": {"STORAGE_KEY": "{{secrets/orchestrator/storage-key}}"}}})
        invocation = databricks.run(context=context, task=task)
        custom_messages.extend(invocation.get_custom_messages())
        return invocation.get_materialize_result()

    result = materialize([remote_numbers], resources={"databricks": databricks})

    assert result.success
    [materialization] = result.asset_materializations_for_node("remote_numbers")
    assert materialization.metadata["n"].value == 3
    assert "Databricks Job Run ID" in materialization.metadata
    assert custom_messages == [{"greeting": "hello from the cluster", "storage_key_set": True}]
    env = ws.submitted[-1]["tasks"][0]["new_cluster"]["spark_env_vars"]
    assert {"DAGSTER_PIPES_CONTEXT", "DAGSTER_PIPES_MESSAGES"} <= env.keys()
    # The context injector and the message reader remove their DBFS temporary directories.
    assert not any(ws.dbfs_path("/tmp").iterdir())
