"""`orchestrator submit` through the instance's run queue, with a real dagster-daemon started by the test.

Expected, written before the code: submit prints the run id while the run is still queued; the run belongs to
the code location (remote_job_origin set, so the job page lists it); with no daemon running, submit says so and
how to start one; `--wait` then goes on by itself once a daemon starts, prints a progress line per step and
tables as they land, then the summary, and the console stays short; the run's full log, dbt's output included,
lands in <data dir>/logs/<partition>/<run id>.log.
"""
from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from orchestrator_assets import layout
from orchestrator_assets.settings import PROJECT_DIR

pytestmark = [pytest.mark.xdist_group("cli_queue"), pytest.mark.e2e]
BIN = Path(sys.executable).parent
HINT = "no dagster-daemon is running for this instance"


@pytest.fixture
def env(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")
    return {**os.environ, "DAGSTER_HOME": str(home), "ORCHESTRATOR_DATA_DIR": str(tmp_path / "data")}


def lines_of(stream) -> queue.Queue:
    q: queue.Queue = queue.Queue()

    def pump():
        for line in stream:
            q.put(line.rstrip("\n"))
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


def read_until(q: queue.Queue, what, seen: list, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = q.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            raise AssertionError(f"output ended before {what!r}: {seen[-20:]}")
        seen.append(line)
        if what(line):
            return line
    raise AssertionError(f"timed out waiting for {what!r}: {seen[-20:]}")


def test_submit_queues_a_run_of_the_code_location_and_says_when_no_daemon_runs(env):
    started = time.monotonic()
    proc = subprocess.run([str(BIN / "orchestrator"), "submit", "--user", "quinn", "--job", "q0", "--rows", "100"],
                          check=False, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [run_id] = proc.stdout.split()
    assert HINT in proc.stderr and "`make dev`" in proc.stderr and "dagster-daemon run -w workspace.yaml" in proc.stderr
    assert f"orchestrator follow {run_id}" in proc.stderr
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        run = instance.get_run_by_id(run_id)
        assert run.status == DagsterRunStatus.QUEUED and run.job_name == "medallion_job"
        assert run.remote_job_origin is not None and run.remote_job_origin.location_name == "orchestrator"
        assert run.tags["dagster/partition"] == "quinn.q0" and run.tags["orchestrator/submitted_by"] == "cli"
        assert instance.get_dynamic_partitions("jobs") == ["quinn.q0"]
    assert (Path(env["ORCHESTRATOR_DATA_DIR"]) / "storage" / layout.request_key("quinn", "q0")).is_file()
    print(f"submit without a daemon returned in {time.monotonic() - started:.1f} s")


def test_wait_follows_the_queued_run_once_a_daemon_starts_and_ends_with_the_summary(env):
    proc = subprocess.Popen([str(BIN / "orchestrator"), "submit", "--user", "quinn", "--job", "q1", "--rows", "300",
                             "--wait"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err, out_lines, err_lines = lines_of(proc.stdout), lines_of(proc.stderr), [], []
    daemon = None
    try:
        run_id = read_until(out, lambda line: len(line) == 36, out_lines, timeout=300)
        instance = DagsterInstance.from_config(env["DAGSTER_HOME"])
        run = instance.get_run_by_id(run_id)
        assert run.status == DagsterRunStatus.QUEUED and run.remote_job_origin is not None  # returned at once
        read_until(err, lambda line: HINT in line, err_lines, timeout=120)
        daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(PROJECT_DIR / "workspace.yaml")],
                                  env=env, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        assert proc.wait(timeout=900) == 0, "\n".join(err_lines + [err.get() or "" for _ in range(err.qsize())])
        read_until(out, lambda line: line.endswith("summaries/quinn.q1.json"), out_lines, timeout=10)
        while (line := err.get(timeout=10)) is not None:
            err_lines.append(line)
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.SUCCESS
        instance.dispose()
    finally:
        proc.kill()
        if daemon is not None:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
    stderr = "\n".join(err_lines)
    for step in ("bronze", "silver", "gold"):
        assert f"] {step} started" in stderr and f"] {step} done" in stderr, stderr
    assert "  silver: " in stderr and "fact_orders" in stderr  # tables and marts as they land
    assert f"run {run_id} for partition quinn.q1: SUCCESS" in stderr
    stdout = "\n".join(out_lines)
    assert "Cleaning accuracy" in stdout and "Gold marts" in stdout
    log = Path(env["ORCHESTRATOR_DATA_DIR"]) / "logs" / "quinn.q1" / f"{run_id}.log"
    assert f"Run log (dbt's output included): {log}" in stdout
    assert "Completed successfully" in log.read_text()  # dbt's own output, captured from the run's steps
    assert len(out_lines) + len(err_lines) < 75, stdout + "\n" + stderr
    assert not [line for line in out_lines + err_lines if "of 162" in line or "AssetObservation" in line]
