"""Notifications over real HTTP to a receiver on 127.0.0.1: payload shapes, retries, a receiver that is down,
the webhook's secret kept out of logs, one notice per failed run and per check that starts failing.

Expected, written before the code: Slack gets {"text", "blocks"}, Teams an Adaptive Card message, json the facts
flat; a 503 is retried (1 s, then 2 s) and then delivered; a closed port is logged as not delivered after 3
attempts, naming only scheme and host; failed_run_sensor evaluated twice for one run posts once, with partition,
job, step, root error and the UI link; failed_check_sensor posts once per (partition, check) that starts
failing, not again while it keeps failing, again after it passed once in between.
"""
from __future__ import annotations

import json
import socket

import pytest
from dagster import (
    AssetCheckResult,
    DagsterInstance,
    RetryPolicy,
    StaticPartitionsDefinition,
    asset,
    asset_check,
    build_run_status_sensor_context,
    build_sensor_context,
    materialize,
)
from support.webhook_receiver import Receiver

from orchestrator_assets import layout
from orchestrator_assets.check_alerts import failed_check_sensor
from orchestrator_assets.definitions import defs
from orchestrator_assets.io_managers import storage_resources
from orchestrator_assets.notify import Notice, send
from orchestrator_assets.resources import StorageResource
from orchestrator_assets.sensors import failed_run_sensor
from orchestrator_assets.settings import notify_settings

pytestmark = pytest.mark.xdist_group("notify")
SECRET = "s3cr3t-token"
NOTICE = Notice("run_failure", "Run failed: medallion_job for partition ann.j1",
                {"partition": "ann.j1", "job": "medallion_job", "step": "silver", "error": "ValueError: bad"},
                "http://127.0.0.1:3000/runs/abc")


@pytest.fixture
def receiver(monkeypatch):
    with Receiver() as r:
        monkeypatch.setenv("NOTIFY_WEBHOOK_URL", r.url())
        monkeypatch.setenv("DAGSTER_UI_URL", "http://127.0.0.1:3000/")
        yield r


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("style", ["slack", "teams", "json"])
def test_each_format_posts_its_shape(receiver, monkeypatch, style):
    monkeypatch.setenv("NOTIFY_WEBHOOK_FORMAT", style)
    assert send(NOTICE, print) is True
    [request] = receiver.requests
    assert request["path"] == f"/hooks/T000/B000/{SECRET}" and request["content_type"] == "application/json"
    body = request["body"]
    if style == "slack":
        assert body["text"].startswith("Run failed: medallion_job for partition ann.j1")
        assert body["blocks"][0]["text"]["text"] == NOTICE.title
        assert "*step:* silver" in body["blocks"][1]["text"]["text"]
        assert "<http://127.0.0.1:3000/runs/abc|" in body["blocks"][1]["text"]["text"]
    elif style == "teams":
        [attachment] = body["attachments"]
        assert body["type"] == "message" and attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = attachment["content"]
        assert card["type"] == "AdaptiveCard" and card["body"][0]["text"] == NOTICE.title
        assert {"title": "error", "value": "ValueError: bad"} in card["body"][1]["facts"]
        assert card["actions"][0]["url"] == "http://127.0.0.1:3000/runs/abc"
    else:
        assert body == {"event": "run_failure", "title": NOTICE.title, "partition": "ann.j1",
                        "job": "medallion_job", "step": "silver", "error": "ValueError: bad",
                        "url": "http://127.0.0.1:3000/runs/abc"}


def test_a_server_error_is_retried_with_growing_delays_then_delivered(monkeypatch):
    with Receiver(fail_first=2) as r:
        monkeypatch.setenv("NOTIFY_WEBHOOK_URL", r.url())
        delays, logs = [], []
        assert send(NOTICE, logs.append, sleep=delays.append) is True
        assert len(r.requests) == 3 and delays == [1.0, 2.0] and logs == []


def test_a_refused_request_is_not_retried(monkeypatch):
    with Receiver(fail_first=5, status=404) as r:
        monkeypatch.setenv("NOTIFY_WEBHOOK_URL", r.url())
        logs = []
        assert send(NOTICE, logs.append, sleep=lambda s: None) is False
        assert len(r.requests) == 1 and "HTTP 404" in logs[0] and SECRET not in logs[0]


def test_a_receiver_that_is_down_is_logged_without_the_secret(monkeypatch):
    port = closed_port()
    monkeypatch.setenv("NOTIFY_WEBHOOK_URL", f"http://127.0.0.1:{port}/hooks/{SECRET}?token={SECRET}")
    logs, delays = [], []
    assert send(NOTICE, logs.append, sleep=delays.append) is False
    [line] = logs
    assert f"to http://127.0.0.1:{port}/… not delivered after 3 attempt(s): ConnectionRefusedError" in line
    assert SECRET not in line and delays == [1.0, 2.0]
    assert SECRET not in repr(notify_settings())


def test_without_a_url_nothing_is_sent(monkeypatch):
    monkeypatch.delenv("NOTIFY_WEBHOOK_URL", raising=False)
    assert send(NOTICE, print) is False


def test_a_url_that_is_no_url_is_refused_without_echoing_it(monkeypatch):
    monkeypatch.setenv("NOTIFY_WEBHOOK_URL", f"hooks.slack.com/{SECRET}")
    with pytest.raises(ValueError, match="must start with https://") as err:
        notify_settings()
    assert SECRET not in str(err.value)
    logs = []
    assert send(NOTICE, logs.append) is False  # what a sensor calls: logged, not raised
    assert "must start with https://" in logs[0] and SECRET not in logs[0]


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        yield instance


def failed_clean(instance, tmp_path, monkeypatch):
    """A real failed run: clean_small_job for a registered partition without Bronze (retries zeroed)."""
    from orchestrator_assets.assets.gold import dbt_resource
    from orchestrator_assets.resources import CleaningEngineResource, DatabricksResource, WarehouseResource

    monkeypatch.setattr(RetryPolicy, "calculate_delay", lambda self, attempt: 0)
    instance.add_dynamic_partitions("jobs", ["gina.missing"])
    storage = StorageResource(root=str(tmp_path / "storage"))
    result = defs.resolve_job_def("clean_small_job").execute_in_process(
        partition_key="gina.missing", instance=instance, raise_on_error=False, resources={
            **storage_resources(storage), "cleaning": CleaningEngineResource(engine="pandas"),
            "databricks": DatabricksResource(), "dbt": dbt_resource(),
            "warehouse": WarehouseResource(duckdb_path=str(tmp_path / "w.duckdb"))})
    assert not result.success
    return result, storage


def test_failed_run_sensor_posts_each_failed_run_once(receiver, instance, tmp_path, monkeypatch):
    result, storage = failed_clean(instance, tmp_path, monkeypatch)

    def evaluate():
        failed_run_sensor(build_run_status_sensor_context(
            sensor_name="failed_run_sensor", dagster_event=result.get_run_failure_event(), dagster_instance=instance,
            dagster_run=result.dagster_run, resources={"storage": storage}).for_run_failure())

    evaluate()
    evaluate()  # the same run again (a daemon restart): recorded once, posted once
    [body] = receiver.bodies
    assert body["event"] == "run_failure" and body["partition"] == "gina.missing"
    assert body["job"] == "clean_small_job" and body["step"] == "silver" and body["run_id"] == result.run_id
    assert body["error"] == "FileNotFoundError: no Bronze manifest for gina.missing: materialise Bronze first"
    assert body["url"] == f"http://127.0.0.1:3000/runs/{result.run_id}"
    doc = json.loads(storage.get().get_bytes(layout.status_key("gina", "missing")))
    assert [f["run_id"] for f in doc["failures"]] == [result.run_id]  # failures.json as before


def test_failed_run_sensor_goes_on_when_the_receiver_is_down(instance, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("NOTIFY_WEBHOOK_URL", f"http://127.0.0.1:{closed_port()}/{SECRET}")
    monkeypatch.setenv("NOTIFY_ATTEMPTS", "2")
    result, storage = failed_clean(instance, tmp_path, monkeypatch)
    context = build_run_status_sensor_context(
        sensor_name="failed_run_sensor", dagster_event=result.get_run_failure_event(), dagster_instance=instance,
        dagster_run=result.dagster_run, resources={"storage": storage}).for_run_failure()
    context.log.addHandler(caplog.handler)
    failed_run_sensor(context)  # does not raise
    assert storage.get().exists(layout.status_key("gina", "missing"))
    assert "not delivered after 2 attempt(s): ConnectionRefusedError" in caplog.text and SECRET not in caplog.text


KEYS = StaticPartitionsDefinition(["ann.j1", "bob.j2"])
GOOD: set[str] = set()  # partitions whose check passes, changed by the test between runs


@asset(partitions_def=KEYS)
def orders(context) -> int:
    return 1


@asset_check(asset=orders)
def orders_ok(context) -> AssetCheckResult:
    return AssetCheckResult(passed=context.run.tags["dagster/partition"] in GOOD)


def test_failed_check_sensor_posts_once_per_partition_and_check_that_starts_failing(receiver, instance):
    def run(key):
        assert materialize([orders, orders_ok], instance=instance, partition_key=key).success

    def tick(cursor):
        context = build_sensor_context(instance=instance, cursor=cursor)
        failed_check_sensor(context)
        return context.cursor

    cursor = tick(None)  # starts at the present
    GOOD.clear()
    GOOD.add("bob.j2")
    run("ann.j1")
    run("bob.j2")
    cursor = tick(cursor)
    [body] = receiver.bodies
    assert body["event"] == "check_failure" and body["partition"] == "ann.j1"
    assert body["checks"] == "orders:orders_ok (ERROR)" and body["url"].startswith("http://127.0.0.1:3000/runs/")
    run("ann.j1")  # fails again: still failing, no second notice
    cursor = tick(cursor)
    cursor = tick(cursor)
    assert len(receiver.bodies) == 1
    GOOD.add("ann.j1")
    run("ann.j1")  # passes: cleared
    GOOD.discard("ann.j1")
    run("ann.j1")  # fails again: a new notice
    cursor = tick(cursor)
    assert [b["partition"] for b in receiver.bodies] == ["ann.j1", "ann.j1"]
    assert json.loads(cursor)["failing"] == ["ann.j1|orders:orders_ok"]
