"""Worker liveness, the launcher's health check, the reaper and the retry timing, on real processes."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.launcher import WorkerStatus
from dagster._core.test_utils import create_run_for_test, instance_for_test

from orchestrator_assets.jobs import CLEAN_RETRY
from orchestrator_assets.run_workers import (
    WORKER_TAG,
    MonitoredRunLauncher,
    Worker,
    alive,
    pool_waits,
    process_start,
    reap_dead_runs,
    this_process,
    worker_of,
    worker_tags,
)


@pytest.fixture
def sleeper():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def tag_for(proc) -> str:
    return f"{this_process().host}:{proc.pid}:{process_start(proc.pid):.2f}"


def test_a_live_process_is_alive_and_a_dead_one_is_not(sleeper):
    me = this_process()
    assert alive(me) is True
    worker = Worker(me.host, sleeper.pid, process_start(sleeper.pid))
    assert alive(worker) is True
    sleeper.kill()
    sleeper.wait()
    assert alive(worker) is False


def test_a_reused_pid_is_not_taken_for_the_worker(sleeper):
    # Same pid, but the process started long after the one the tag names: another process.
    assert alive(Worker(this_process().host, sleeper.pid, process_start(sleeper.pid) - 600)) is False
    assert alive(Worker("", sleeper.pid, None, not_after=time.time() - 600)) is False
    assert alive(Worker("", sleeper.pid, None, not_after=time.time())) is True


def test_a_worker_on_another_host_is_never_judged(sleeper):
    assert alive(Worker("some-other-host", 999_999, 1.0)) is None


def test_worker_tags_round_trip():
    instance = DagsterInstance.ephemeral()
    run = create_run_for_test(instance, job_name="j", tags=worker_tags())
    assert worker_of(instance, run) == Worker(this_process().host, this_process().pid,
                                              float(worker_tags()[WORKER_TAG].rsplit(":", 1)[1]))


def test_the_launcher_reports_a_dead_worker_as_failed(sleeper):
    with instance_for_test() as instance:
        run = create_run_for_test(instance, job_name="j", status=DagsterRunStatus.STARTED,
                                  tags={WORKER_TAG: tag_for(sleeper)})
        untagged = create_run_for_test(instance, job_name="j", status=DagsterRunStatus.STARTED)
        launcher = MonitoredRunLauncher()
        launcher.register_instance(instance)
        assert launcher.supports_check_run_worker_health
        assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
        sleeper.kill()
        sleeper.wait()
        result = launcher.check_run_worker_health(run)
        assert result.status == WorkerStatus.FAILED and f"pid {sleeper.pid}" in result.msg
        assert launcher.check_run_worker_health(untagged).status == WorkerStatus.RUNNING


def test_the_reaper_fails_dead_runs_and_frees_their_pool_slots(sleeper):
    with instance_for_test() as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots("duckdb_warehouse", 1)
        dead = create_run_for_test(instance, job_name="j", status=DagsterRunStatus.STARTED,
                                   tags={WORKER_TAG: tag_for(sleeper), "dagster/partition": "a.j1"})
        living = create_run_for_test(instance, job_name="j", status=DagsterRunStatus.STARTED, tags=worker_tags())
        assert storage.claim_concurrency_slot("duckdb_warehouse", dead.run_id, "gold").is_claimed
        sleeper.kill()
        sleeper.wait()
        messages = reap_dead_runs(instance)
        assert len(messages) == 1 and dead.run_id in messages[0] and "a.j1" in messages[0]
        assert "1 pool slot(s) freed" in messages[0]
        assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(living.run_id).status == DagsterRunStatus.STARTED
        assert storage.get_concurrency_info("duckdb_warehouse").claimed_slots == []
        assert reap_dead_runs(instance) == []


def test_step_retries_come_when_the_readme_says():
    assert [CLEAN_RETRY.calculate_delay(attempt) for attempt in (1, 2)] == [30, 90]


def test_a_waiting_run_is_told_which_run_holds_its_pool():
    with instance_for_test() as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots("duckdb_warehouse", 1)
        holder = create_run_for_test(instance, job_name="j", status=DagsterRunStatus.STARTED,
                                     tags={"dagster/partition": "a.j1"})
        waiter = create_run_for_test(instance, job_name="j", status=DagsterRunStatus.STARTED)
        assert storage.claim_concurrency_slot("duckdb_warehouse", holder.run_id, "gold").is_claimed
        assert not storage.claim_concurrency_slot("duckdb_warehouse", waiter.run_id, "gold").is_claimed
        [line] = pool_waits(instance, waiter.run_id, ["duckdb_warehouse"])
        assert line.startswith("step gold has waited") and "pool 'duckdb_warehouse' (limit 1)" in line
        assert f"held by run {holder.run_id[:8]} (gold, partition a.j1, STARTED" in line
        assert pool_waits(instance, holder.run_id, ["duckdb_warehouse"]) == []


SPARK_DRIVER = """
import os, time
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
from orchestrator_assets.cleaning.spark_engine import SparkEngine
SparkEngine("local[1]").spark.range(3).count()
print("ready", flush=True)
time.sleep(600)
"""


def test_the_spark_jvm_ends_with_its_killed_driver():
    import os
    import signal
    from pathlib import Path

    driver = subprocess.Popen([sys.executable, "-c", SPARK_DRIVER], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        assert driver.stdout.readline().strip() == "ready"
        jvms = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text, cmdline = stat.read_text(), (stat.parent / "cmdline").read_bytes()
            except OSError:
                continue
            if int(text[text.rfind(")") + 2:].split()[1]) == driver.pid and b"java" in cmdline:
                jvms.append(int(stat.parent.name))
        assert jvms
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 15
        while any(process_start(pid) for pid in jvms) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(process_start(pid) for pid in jvms)
    finally:
        driver.kill()


def test_a_dead_runs_output_followers_are_ended_and_nothing_else(tmp_path):
    from orchestrator_assets.run_workers import end_leftovers

    run_id = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    log = tmp_path / "storage" / run_id / "compute_logs" / "abc.out"
    log.parent.mkdir(parents=True)
    log.write_text("")
    follower = subprocess.Popen(["tail", "-F", "-c", "+0", str(log)], stdout=subprocess.DEVNULL)
    other = subprocess.Popen(["tail", "-F", str(tmp_path / "unrelated.log")], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    viewer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(log)])
    try:
        time.sleep(0.3)
        assert end_leftovers(run_id) == [follower.pid]
        assert follower.wait(timeout=5) == -9
        assert other.poll() is None and viewer.poll() is None
    finally:
        for proc in (follower, other, viewer):
            proc.kill()
            proc.wait()
