"""submit_job and submitted_jobs_sensor, in process against a real on-disk instance and local storage.

Expected, written before the code: an admitted request is stored once, its partition registered and the submit
run tagged with the key; every refused request fails the run with a message naming what was typed, and leaves
no file in storage and no partition. The sensor launches medallion_job once per admitted partition (run key =
partition key), leaves alone a partition with any pipeline run or a run in progress and one registered without
a submit run (`orchestrator submit` runs those itself), and asks to delete every registered key that is not a
valid partition key, logging each. The webserver path is in test_graphql_api.py.
"""
import json

import pytest
from dagster import DagsterInstance, DagsterRunStatus, build_sensor_context

from orchestrator_assets import layout
from orchestrator_assets.arrivals import PARTITION_TAG
from orchestrator_assets.definitions import defs
from orchestrator_assets.io_managers import storage_resources
from orchestrator_assets.requests import build_request, save_request
from orchestrator_assets.resources import StorageResource
from orchestrator_assets.submissions import (
    MAX_SPEC_TEXT_BYTES,
    PARTITION_KEY_TAG,
    load_cursor,
    submit_job,
    submitted_jobs_sensor,
)

pytestmark = pytest.mark.xdist_group("sensors")

# Too big for even one anchor row: each level multiplies the rows by 1,000.
DEEP_SPEC = {"name": "deep", "anchor": "orders", "tables": {
    "orders": {"rows": {"count": 10}, "primary_key": "order_id",
               "columns": {"order_id": {"type": "id", "source": {"kind": "sequence"}}}},
    **{name: {"rows": {"per": parent, "ratio": 1000}, "primary_key": "k",
              "columns": {"k": {"type": "id", "source": {"kind": "sequence"}}}}
       for name, parent in [("deep1", "orders"), ("deep2", "deep1"), ("deep3", "deep2")]}}}


@pytest.fixture
def env(tmp_path):
    (tmp_path / "home").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "home"))
    storage = StorageResource(root=str(tmp_path / "storage"))
    yield instance, storage
    instance.dispose()


def submit(env, **config):
    instance, storage = env
    return submit_job.execute_in_process(run_config={"ops": {"submit": {"config": config}}}, instance=instance,
                                         resources={**storage_resources(storage)}, raise_on_error=False)


def failure_message(result) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1
    return failures[0].event_specific_data.error.message


def evaluate(env, cursor=None, caplog=None):
    instance, storage = env
    context = build_sensor_context(instance=instance, cursor=cursor, resources={"storage": storage})
    if caplog is not None:  # the sensor's logger stands outside the logging tree
        context.log.addHandler(caplog.handler)
    return submitted_jobs_sensor(context)


def stored_files(storage) -> list:
    """Every object in the local storage (its scratch folder .tmp aside)."""
    root = storage.get().root
    return sorted(p for p in root.rglob("*") if p.is_file() and ".tmp" not in p.relative_to(root).parts)


def test_an_admitted_request_is_stored_registered_tagged_and_launched_once(env):
    instance, storage = env
    result = submit(env, user="alice", job="j1", rows=500, seed=7)
    assert result.success
    request = json.loads(storage.get().get_bytes(layout.request_key("alice", "j1")))
    assert (request["user"], request["job"], request["rows"], request["seed"]) == ("alice", "j1", 500, 7)
    assert instance.get_dynamic_partitions("jobs") == ["alice.j1"]
    run = instance.get_run_by_id(result.run_id)
    assert run.tags[PARTITION_KEY_TAG] == "alice.j1" and run.tags["orchestrator/user"] == "alice"

    tick = evaluate(env)
    [launch] = tick.run_requests
    assert (launch.job_name, launch.partition_key, launch.run_key) == ("medallion_job", "alice.j1", "alice.j1")
    assert launch.tags["orchestrator/submit_run"] == result.run_id
    assert load_cursor(tick.cursor) >= run_update_time(instance, result.run_id)

    # The daemon creates the run: from then on the partition is taken, whatever becomes of the run.
    instance.create_run_for_job(defs.resolve_job_def("medallion_job"), status=DagsterRunStatus.FAILURE,
                                tags={PARTITION_TAG: "alice.j1"})
    assert evaluate(env).run_requests == []
    assert evaluate(env, cursor=tick.cursor).run_requests == []
    # The same request again is admitted without a second file, and still not launched again.
    assert submit(env, user="alice", job="j1", rows=500, seed=7).success
    assert evaluate(env, cursor=tick.cursor).run_requests == []


def run_update_time(instance, run_id) -> float:
    [record] = instance.get_run_records(filters=None, limit=1)
    assert record.dagster_run.run_id == run_id
    return record.update_timestamp.timestamp()


def test_a_new_job_id_is_made_when_none_is_given(env):
    instance, _ = env
    result = submit(env, user="bob", rows=500)
    assert result.success
    [key] = instance.get_dynamic_partitions("jobs")
    assert key.startswith("bob.") and instance.get_run_by_id(result.run_id).tags[PARTITION_KEY_TAG] == key


@pytest.mark.parametrize("config, named", [
    ({"user": "Bad User", "rows": 500}, "invalid user id 'Bad User'"),
    ({"user": "alice", "job": "../x", "rows": 500}, "invalid job id '../x'"),
    ({"user": "alice", "rows": 0}, "rows must be between 1 and 50,000,000 (got 0)"),
    ({"user": "alice", "rows": 500, "compression": "zip"}, "compression must be one of"),
    ({"user": "alice", "rows": 500, "spec": "name: x\nanchor: orders\ntables: 3\n"}, "spec text"),
    ({"user": "alice", "rows": 500, "spec": "tables: [\n"}, "spec text is not valid YAML/JSON"),
    ({"user": "alice", "rows": 500, "spec": json.dumps(DEEP_SPEC)}, "tables.deep3.rows: up to 1,000,000,000"),
    ({"user": "alice", "rows": 500, "spec": "#" * MAX_SPEC_TEXT_BYTES + "\nname: x"}, "over the limit of 1,048,576"),
    ({"user": "alice", "rows": 30_000_000}, "tables.order_items.rows: up to 120,000,000 rows"),
    ({"user": "alice", "rows": 500, "spec": "/nonexistent/spec.yaml"}, "spec file not found: /nonexistent/spec.yaml"),
])
def test_a_refused_request_names_the_input_and_writes_nothing(env, config, named):
    instance, storage = env
    result = submit(env, **config)
    assert not result.success
    message = failure_message(result)
    assert "request refused, nothing stored" in message and named in message, message
    assert stored_files(storage) == []
    assert instance.get_dynamic_partitions("jobs") == []
    assert PARTITION_KEY_TAG not in instance.get_run_by_id(result.run_id).tags
    assert evaluate(env).run_requests == []


def test_a_different_request_under_a_taken_job_id_is_refused(env):
    instance, storage = env
    assert submit(env, user="alice", job="j1", rows=500, seed=7).success
    before = storage.get().get_bytes(layout.request_key("alice", "j1"))
    result = submit(env, user="alice", job="j1", rows=600, seed=7)
    assert "job alice.j1 was already requested with rows=500" in failure_message(result)
    assert storage.get().get_bytes(layout.request_key("alice", "j1")) == before
    assert PARTITION_KEY_TAG not in instance.get_run_by_id(result.run_id).tags


def test_partitions_not_submitted_through_the_job_are_left_to_whoever_added_them(env):
    instance, storage = env
    # What `orchestrator submit` does before it runs the partition itself.
    save_request(storage.get(), build_request("carol", "c1", 500, 1))
    instance.add_dynamic_partitions("jobs", ["carol.c1"])
    assert evaluate(env).run_requests == []
    # A submitted partition with a run in progress (any job) is left to that run too.
    assert submit(env, user="dave", job="d1", rows=500).success
    instance.create_run_for_job(defs.resolve_job_def("clean_small_job"), status=DagsterRunStatus.STARTED,
                                tags={PARTITION_TAG: "dave.d1"})
    assert evaluate(env).run_requests == []


def test_keys_that_bypassed_the_door_are_removed_and_logged(env, caplog):
    instance, _ = env
    assert submit(env, user="alice", job="ok", rows=500).success
    instance.add_dynamic_partitions("jobs", ["../x", "Bad User.j", "nodot"])
    tick = evaluate(env, caplog=caplog)
    [delete] = tick.dynamic_partitions_requests
    assert sorted(delete.partition_keys) == sorted(["../x", "Bad User.j", "nodot"])
    for key in ("'../x'", "'Bad User.j'", "'nodot'"):
        assert f"removing {key} from the 'jobs' partitions: invalid partition key {key}" in caplog.text
    assert [r.partition_key for r in tick.run_requests] == ["alice.ok"]  # the valid one still goes
