"""kill -9 a run at each stage, under the daemon and with `orchestrator submit`: the next runs complete by themselves.

Expected, written before the code: a killed run is marked FAILURE (by the next submit, or by run monitoring in
the daemon) within seconds, never left STARTED; its Gold warehouse slot is freed; its dbt child dies with it;
afterwards a run of the same partition and one of another partition both succeed without anyone freeing a slot.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from support.local_services import wait_until

from orchestrator_assets.requests import build_request, save_request
from orchestrator_assets.run_workers import process_start, worker_of
from orchestrator_assets.settings import PROJECT_DIR
from orchestrator_assets.storage.local import LocalStorage

pytestmark = [pytest.mark.xdist_group("killed_runs"), pytest.mark.e2e]
BIN = Path(sys.executable).parent
STAGES = ("bronze", "silver", "gold")
ROWS = "1500"


def home_with(tmp_path: Path, **monitoring) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    config = yaml.safe_load((PROJECT_DIR / "dagster.yaml").read_text())
    config["run_monitoring"].update(monitoring)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home


def environment(tmp_path: Path, home: Path) -> dict[str, str]:
    return {**os.environ, "DAGSTER_HOME": str(home), "ORCHESTRATOR_DATA_DIR": str(tmp_path / "data"),
            "ORCHESTRATOR_WAIT_REPORT_SECONDS": "1"}


def run_of(instance: DagsterInstance, partition: str, exclude=()):
    runs = [r for r in instance.get_runs(RunsFilter(tags={"dagster/partition": partition})) if r.run_id not in exclude]
    return runs[0] if runs else None


def started(instance: DagsterInstance, run_id: str, step: str) -> bool:
    return any(e.dagster_event.step_key == step
               for e in instance.all_logs(run_id, of_type=DagsterEventType.STEP_START))


def descendants(pid: int) -> list[int]:
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text[text.rfind(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def dbt_processes(pid: int) -> list[int]:
    found = []
    for child in descendants(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(part.endswith((b"/dbt", b"/orchestrator-dbt")) for part in cmdline) and b"build" in cmdline:
            found.append(child)
    return found


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def gone(pids) -> bool:
    return all(process_start(p) is None for p in pids)


def kill_each(instance, targets: dict[str, str], worker_pid, procs=None, timeout: float = 600) -> dict:
    """SIGKILL each partition's run worker as soon as its run has started the stage named for it (gold: once
    dbt runs), watching all of them at once so that none runs past its stage while another is awaited.
    Returns {partition: (run id, dbt pids)}."""
    killed: dict[str, tuple[str, list[int]]] = {}
    deadline = time.monotonic() + timeout
    while len(killed) < len(targets):
        assert time.monotonic() < deadline, f"timed out; killed only {sorted(killed)} of {sorted(targets)}"
        for partition, stage in targets.items():
            if partition in killed:
                continue
            proc = (procs or {}).get(partition)
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"{partition}: submit ended early: {proc.stderr.read()[-2000:]}")
            run = run_of(instance, partition)
            if run is None or not started(instance, run.run_id, stage):
                continue
            assert not instance.get_run_by_id(run.run_id).is_finished, f"{partition} finished before {stage}"
            pid = worker_pid(run)
            dbt = dbt_processes(pid) if stage == "gold" else []
            if stage == "gold" and not dbt:
                continue  # Gold has started, dbt not yet
            os.kill(pid, signal.SIGKILL)
            killed[partition] = (run.run_id, dbt)
        time.sleep(0.2)
    return killed


def submit(env, user: str, job: str, **popen):
    return subprocess.Popen([str(BIN / "orchestrator"), "submit", "--in-process", "--user", user, "--job", job,
                             "--rows", ROWS],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def test_submit_killed_at_each_stage_blocks_nothing(tmp_path):
    home = home_with(tmp_path)
    env = environment(tmp_path, home)
    procs = {stage: submit(env, "killed", stage) for stage in STAGES}
    instance = DagsterInstance.from_config(str(home))
    try:
        by_key = {f"killed.{stage}": proc for stage, proc in procs.items()}
        caught = kill_each(instance, {f"killed.{stage}": stage for stage in STAGES},
                           lambda run: by_key[run.tags["dagster/partition"]].pid, procs=by_key)
        killed = {stage: caught[f"killed.{stage}"] for stage in STAGES}
        for proc in procs.values():
            proc.wait(timeout=30)
        run_id, dbt = killed["gold"]
        assert dbt and wait_until("dbt to die with its run", lambda: gone(dbt), timeout=10)
        # The killed submits that were still running reaped the runs killed before theirs.
        reaped = "".join(proc.stderr.read() for proc in procs.values())

        # The partition whose run died holding the Gold slot, run again, and another one; their Gold builds take
        # turns in the warehouse pool.
        again = {key: submit(env, "killed", key) for key in ("gold", "fresh")}
        outcomes = {key: proc.communicate(timeout=900) + (proc.returncode,) for key, proc in again.items()}
        for key, (out, err, code) in outcomes.items():
            assert code == 0, (key, err[-2000:])
            assert Path(out.strip().splitlines()[-1]).is_file()
        reaped += "".join(err for _, err, _ in outcomes.values())
        for stage, (run_id, _) in killed.items():
            run = instance.get_run_by_id(run_id)
            assert run.status == DagsterRunStatus.FAILURE, stage
            assert f"run {run_id}" in reaped and "is gone: marked failed" in reaped
        assert "pool slot(s) freed" in reaped  # the Gold run's warehouse slot
        for run_id, _ in killed.values():  # its output followers (tail -F of its compute logs) ended with it
            assert not [c for c in Path("/proc").glob("[0-9]*/cmdline") if run_id.encode() in _read(c)]
        assert instance.event_log_storage.get_concurrency_info("duckdb_warehouse").claimed_slots == []
    finally:
        for proc in procs.values():
            proc.kill()
        instance.dispose()


def test_a_waiting_submit_says_what_it_waits_for_and_goes_on_when_the_holder_dies(tmp_path):
    home = home_with(tmp_path)
    env = environment(tmp_path, home)
    holder = submit(env, "holds", "slot")
    instance = DagsterInstance.from_config(str(home))
    frozen: list[int] = []
    try:
        run = wait_until("the holder's run", lambda: run_of(instance, "holds.slot"))
        wait_until("the holder to build Gold", lambda: dbt_processes(holder.pid), timeout=300, every=0.2)
        # Freeze the holder inside Gold, so its slot stays taken while the second run arrives.
        frozen += [holder.pid, *descendants(holder.pid)]
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        waiter = submit(env, "waits", "slot")
        waiter_run = wait_until("the waiting run", lambda: run_of(instance, "waits.slot"))
        wait_until("the waiter to wait for the slot", lambda: [
            s for s in instance.event_log_storage.get_concurrency_info("duckdb_warehouse").pending_steps
            if s.run_id == waiter_run.run_id and s.assigned_timestamp is None], timeout=300)
        time.sleep(3)  # the waiter reports every second (ORCHESTRATOR_WAIT_REPORT_SECONDS=1)
        os.kill(holder.pid, signal.SIGKILL)
        _, err = waiter.communicate(timeout=600)
        code = waiter.returncode
        assert code == 0, err[-2000:]
        assert f"pool 'duckdb_warehouse' (limit 1), held by run {run.run_id[:8]}" in err, err
        assert f"run {run.run_id}" in err and "is gone: marked failed" in err, err
        assert instance.get_run_by_id(waiter_run.run_id).status == DagsterRunStatus.SUCCESS
    finally:
        for pid in frozen:  # stopped children (log tailers) would stay stopped
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        holder.kill()
        instance.dispose()


def test_the_daemon_fails_runs_whose_worker_was_killed_and_the_next_runs_complete(tmp_path):
    home = home_with(tmp_path, poll_interval_seconds=1, free_slots_after_run_end_seconds=1)
    env = environment(tmp_path, home)
    store = LocalStorage(tmp_path / "data" / "storage")
    keys = [*(f"daemon.{s}" for s in STAGES), "daemon.fresh"]
    for key in keys:
        user, job = key.split(".")
        save_request(store, build_request(user, job, int(ROWS), 3))
    instance = DagsterInstance.from_config(str(home))
    instance.add_dynamic_partitions("jobs", keys)
    daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(PROJECT_DIR / "workspace.yaml")],
                              env=env, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)

    def launch(key: str):
        subprocess.run([str(BIN / "dagster"), "job", "launch", "-w", str(PROJECT_DIR / "workspace.yaml"),
                        "-j", "medallion_job", "--tags", json.dumps({"dagster/partition": key})],
                       env=env, cwd=PROJECT_DIR, check=True, capture_output=True, timeout=300)

    def worker_pid(run):
        worker = wait_until("the run worker's pid", lambda: worker_of(instance, run))
        return worker.pid

    try:
        for stage in STAGES:
            launch(f"daemon.{stage}")
        caught = kill_each(instance, {f"daemon.{stage}": stage for stage in STAGES}, worker_pid)
        killed = {stage: caught[f"daemon.{stage}"] for stage in STAGES}
        for stage, (run_id, dbt) in killed.items():
            wait_until(f"monitoring to fail the run killed in {stage}",
                       lambda r=run_id: instance.get_run_by_id(r).status == DagsterRunStatus.FAILURE, timeout=120)
            # Whoever notices first says why: run monitoring ("worker ... is gone"), or the code server that
            # spawned the worker ("Run execution process for <run> ... terminated by signal 9").
            said = [e.message or e.dagster_event.message or "" for e in instance.all_logs(run_id)
                    if e.dagster_event and e.dagster_event.event_type in (DagsterEventType.RUN_FAILURE,
                                                                          DagsterEventType.ENGINE_EVENT)]
            assert any("is gone" in m or f"Run execution process for {run_id}" in m for m in said), (stage, said)
            # The step notices its worker is gone on its own schedule (every 2 s), and takes dbt along.
            wait_until(f"dbt of the run killed in {stage} to die", lambda d=dbt: gone(d), timeout=15)
        first = {key: run_of(instance, key).run_id for key in keys[:3]}
        again = ["daemon.gold", "daemon.fresh"]  # the run that died holding the Gold slot, and another partition
        for key in again:
            launch(key)
        for key in again:
            rerun = wait_until(f"the next run of {key}", lambda k=key: run_of(instance, k, exclude=first.values()))
            wait_until(f"{key} to finish", lambda r=rerun.run_id: instance.get_run_by_id(r).is_finished,
                       timeout=900, every=2)
            assert instance.get_run_by_id(rerun.run_id).status == DagsterRunStatus.SUCCESS, key
    finally:
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait()
        instance.dispose()
