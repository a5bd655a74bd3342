"""docs/api.md against a real dagster-webserver and dagster-daemon on 127.0.0.1, with every query taken from the doc.

Expected, written before the code: a job submitted with one launchRun of submit_job (dagster_graphql client) is
admitted, tagged with its partition key, and its medallion run, launched by the daemon's submitted_jobs_sensor,
succeeds; the doc's queries then give its steps, event log, Silver row counts that add up to Bronze, the
accuracy per error kind, passing checks of that run, the Gold table and file that hold its rows, and the user's
jobs and runs. Refused requests (raw HTTP): a bad user id, rows 0, an invalid spec, an oversized spec fail their
run with a message naming the input, and leave no request file and no partition; a field of the wrong type is
refused by launchRun itself. Keys added by hand that are not partition keys are removed by the sensor's tick.
"""
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterRunStatus
from dagster_graphql import DagsterGraphQLClient
from support.local_services import wait_until

from orchestrator_assets.settings import PROJECT_DIR

pytestmark = pytest.mark.xdist_group("dagster_webserver")

DOC = PROJECT_DIR / "docs" / "api.md"
QUERIES = dict(re.findall(r"<!-- api:(\w+) -->\n```graphql\n(.*?)```", DOC.read_text(), re.DOTALL))
SELECTOR = {"repositoryLocationName": "orchestrator", "repositoryName": "__repository__"}
USER, JOB, ROWS = "alice", "api", 500
KEY = f"{USER}.{JOB}"
DEEP = {"name": "deep", "anchor": "orders", "tables": {
    "orders": {"rows": {"count": 10}, "primary_key": "order_id",
               "columns": {"order_id": {"type": "id", "source": {"kind": "sequence"}}}},
    **{name: {"rows": {"per": parent, "ratio": 1000}, "primary_key": "k",
              "columns": {"k": {"type": "id", "source": {"kind": "sequence"}}}}
       for name, parent in [("deep1", "orders"), ("deep2", "deep1"), ("deep3", "deep2")]}}}
# config, key it would have made, what the refusal must name
REFUSED = {
    "bad_user": ({"user": "Bad User", "job": "j1", "rows": ROWS}, None, "invalid user id 'Bad User'"),
    "zero_rows": ({"user": USER, "job": "zero", "rows": 0}, "alice.zero", "rows must be between 1 and 50,000,000 (got 0)"),
    "invalid_spec": ({"user": USER, "job": "badspec", "rows": ROWS, "spec": "name: s\nanchor: orders\ntables: 3\n"},
                     "alice.badspec", "spec text"),
    "oversized_spec": ({"user": USER, "job": "big", "rows": ROWS, "spec": json.dumps(DEEP)}, "alice.big",
                       "tables.deep3.rows: up to 1,000,000,000 rows"),
}
BY_HAND = ["../x", "Bad User.j", ""]


def test_the_doc_holds_every_query_the_tests_use():
    assert set(QUERIES) == {"submit", "run", "run_log", "partition_runs", "partition_metadata",
                            "check_executions", "partitions", "user_runs"}


class Served:
    def __init__(self, workdir: Path, port: int):
        self.workdir, self.port = workdir, port
        self.client = DagsterGraphQLClient("127.0.0.1", port_number=port)

    def post(self, name_or_query: str, **variables) -> dict:
        """One raw JSON POST, as curl sends it; a query of the doc by name."""
        query = QUERIES.get(name_or_query, name_or_query)
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/graphql", body,
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.load(response)
        assert "errors" not in answer, answer
        return answer["data"]

    def launch_submit(self, config: dict) -> dict:
        return self.post("submit", executionParams={"selector": {**SELECTOR, "jobName": "submit_job"},
                                                    "runConfigData": {"ops": {"submit": {"config": config}}}})

    def run(self, run_id: str) -> dict:
        return self.post("run", runId=run_id)["runOrError"]

    def wait_finished(self, run_id: str, timeout: float = 240) -> dict:
        return wait_until(f"run {run_id} to finish", lambda: (r := self.run(run_id))["status"] in
                          ("SUCCESS", "FAILURE", "CANCELED") and r, timeout)

    def partitions(self) -> list[str]:
        return self.post("partitions")["assetNodeOrError"]["partitionKeys"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from support.dagster_webserver import DagsterWebserver

    server = DagsterWebserver(tmp_path_factory.mktemp("graphql-api")).start()
    env = {**os.environ, "DAGSTER_HOME": str(server.workdir / "dagster_home"),
           "ORCHESTRATOR_DATA_DIR": str(server.workdir / "data")}
    env.pop("DUCKDB_PATH", None)
    # The daemon dequeues the runs the webserver queues, and ticks the sensor.
    with open(server.workdir / "daemon.log", "wb") as log:
        daemon = subprocess.Popen([str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w",
                                   "workspace.yaml"], cwd=PROJECT_DIR, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield Served(server.workdir, server.port)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        server.stop()


@pytest.fixture(scope="module")
def launched(served):
    """Everything the tests look at, started at once so the runs and sensor ticks overlap."""
    for key in BY_HAND:
        added = served.post('mutation Add($key: String!) { addDynamicPartition(repositorySelector: '
                            '{repositoryName: "__repository__", repositoryLocationName: "orchestrator"}, '
                            'partitionsDefName: "jobs", partitionKey: $key) { __typename } }', key=key)
        assert added["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess"  # nothing checks it
    submit_run = served.client.submit_job_execution(
        "submit_job", run_config={"ops": {"submit": {"config": {"user": USER, "job": JOB, "rows": ROWS, "seed": 3}}}})
    refused = {}
    for name, (config, _, _) in REFUSED.items():
        answer = served.launch_submit(config)["launchRun"]
        assert answer["__typename"] == "LaunchRunSuccess", answer  # queued: the op does the checking
        refused[name] = answer["run"]["runId"]
    return {"submit": submit_run, "refused": refused}


def test_a_field_of_the_wrong_type_is_refused_by_launch_itself(served):
    answer = served.launch_submit({"user": USER, "rows": "many"})["launchRun"]
    assert answer["__typename"] == "RunConfigValidationInvalid"
    assert any("rows" in e["path"] or "rows" in e["message"] for e in answer["errors"]), answer


@pytest.mark.e2e
def test_refused_requests_name_the_input_and_write_nothing(served, launched):
    for name, run_id in launched["refused"].items():
        _, key, named = REFUSED[name]
        assert served.wait_finished(run_id)["status"] == "FAILURE", name
        assert served.client.get_run_status(run_id) == DagsterRunStatus.FAILURE
        log = served.post("run_log", runId=run_id)["logsForRun"]
        failures = [e["error"]["message"] for e in log["events"] if e["__typename"] == "ExecutionStepFailureEvent"]
        assert len(failures) == 1 and "request refused, nothing stored" in failures[0], (name, failures)
        assert named in failures[0], (name, failures[0])
        tags = {t["key"]: t["value"] for t in served.run(run_id)["tags"]}
        assert "orchestrator/partition" not in tags
        if key is not None:
            assert key not in served.partitions()
    requests = served.workdir / "data" / "storage" / "requests"
    stored = sorted(str(p.relative_to(requests)) for p in requests.rglob("*") if p.is_file())
    assert stored == [f"{USER}/{JOB}/request.json"]  # the admitted job's only


@pytest.mark.e2e
def test_keys_added_by_hand_are_removed_by_the_sensor_tick(served, launched):
    wait_until("the sensor to remove the keys added by hand",
               lambda: not set(BY_HAND) & set(served.partitions()), timeout=150)
    log = (served.workdir / "daemon.log").read_text(errors="replace")
    for key in BY_HAND:
        assert f"removing {key!r} from the 'jobs' partitions: invalid partition key {key!r}" in log


@pytest.mark.e2e
def test_a_job_submitted_through_graphql_runs_and_reads_back(served, launched):
    submit_run = launched["submit"]
    assert served.wait_finished(submit_run)["status"] == "SUCCESS"
    tags = {t["key"]: t["value"] for t in served.run(submit_run)["tags"]}
    assert tags["orchestrator/partition"] == KEY and tags["orchestrator/user"] == USER

    runs = wait_until("the sensor to launch the medallion run", lambda: [
        r for r in served.post("partition_runs", partition=KEY)["runsOrError"]["results"]
        if r["jobName"] == "medallion_job"], timeout=150)
    assert len(runs) == 1
    medallion = runs[0]["runId"]
    assert {t["key"]: t["value"] for t in runs[0]["tags"]}["orchestrator/submit_run"] == submit_run
    run = served.wait_finished(medallion, timeout=420)
    assert run["status"] == "SUCCESS", served.post("run_log", runId=medallion)
    assert {s["stepKey"]: s["status"] for s in run["stepStats"]} == \
        {"bronze": "SUCCESS", "silver": "SUCCESS", "gold": "SUCCESS"}
    events = served.post("run_log", runId=medallion)["logsForRun"]["events"]
    assert "RunSuccessEvent" in {e["__typename"] for e in events}

    assets = [["silver", "orders"], ["silver", "users"], ["silver", "quarantine"], ["gold", "fact_orders"]]
    nodes = served.post("partition_metadata", partition=KEY,
                        assetKeys=[{"path": a} for a in assets])["assetNodes"]
    latest = {"/".join(n["assetKey"]["path"]): n["assetMaterializations"] for n in nodes}
    assert all(len(m) == 1 and m[0]["partition"] == KEY and m[0]["runId"] == medallion for m in latest.values())
    meta = {asset: {e["label"]: value(e) for e in m[0]["metadataEntries"]} for asset, m in latest.items()}
    for table in ("silver/orders", "silver/users"):
        assert meta[table]["rows"] > 0 and meta[table]["rows"] + meta[table]["quarantined"] == \
            meta[table]["bronze_rows"]
    assert meta["silver/orders"]["bronze_rows"] >= ROWS
    accuracy = json.loads(meta["silver/quarantine"]["accuracy"])
    assert sum(k["injected"] for k in accuracy["kinds"].values()) == meta["silver/quarantine"]["errors_injected"] > 0

    checks = served.post("check_executions", assetKey={"path": ["silver", "orders"]}, checkName="rows_reconcile",
                         limit=25)["assetCheckExecutions"]
    [check] = [c for c in checks if c["runId"] == medallion]
    assert check["status"] == "SUCCEEDED" and check["evaluation"]["success"]

    [fact] = [n for n in nodes if n["assetKey"]["path"] == ["gold", "fact_orders"]]
    gold = {e["label"]: value(e) for e in fact["metadataEntries"]}
    assert (gold["dagster/table_name"], gold["warehouse"]) == ("warehouse.main.fact_orders", "duckdb")
    path = gold["warehouse_location"]
    assert path == str((served.workdir / "data" / "warehouse.duckdb").resolve())  # ORCHESTRATOR_DATA_DIR's
    with duckdb.connect(path, read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM main.fact_orders WHERE pipeline_user = ? AND pipeline_job = ?",
                           [USER, JOB]).fetchone()[0]
    assert rows == meta["silver/orders"]["rows"]

    mine = [k for k in served.partitions() if k.startswith(f"{USER}.")]
    assert mine == [KEY]
    user_runs = served.post("user_runs", user=USER, limit=100)["runsOrError"]["results"]
    assert {(r["jobName"], r["status"]) for r in user_runs if r["runId"] in (submit_run, medallion)} == \
        {("submit_job", "SUCCESS"), ("medallion_job", "SUCCESS")}
    assert all({"key": "orchestrator/user", "value": USER} in r["tags"] for r in user_runs)
    first = served.post("user_runs", user=USER, limit=1)["runsOrError"]["results"]
    second = served.post("user_runs", user=USER, limit=1, cursor=first[0]["runId"])["runsOrError"]["results"]
    assert [r["runId"] for r in first + second] == [r["runId"] for r in user_runs[:2]]


def value(entry: dict):
    for field in ("intValue", "floatValue", "boolValue", "text", "mdStr", "jsonString", "path"):
        if field in entry:
            return entry[field]
    return None
