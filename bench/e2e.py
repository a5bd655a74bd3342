"""End to end, request to Gold on DuckDB: wall time and peak resident memory of the whole process tree.

For each size the project runs as a user runs it, `orchestrator submit --in-process` in a child process (Dagster,
the cleaning engine, dbt's subprocess, Spark's JVM where it runs: every descendant is sampled), with DAGSTER_HOME
and storage in a temporary directory. The baseline, in the same run: the project's generator writes Bronze, then
one DuckDB connection runs the same cleaning rules (the catalogue compiled by cleaning/sql_rules.py, as the DuckDB
engine runs it) and the same marts (the dbt marts compiled once, before anything is timed), no Dagster, no dbt.

  python bench/e2e.py                                  # 100k, 1M and 10M orders
  python bench/e2e.py --orders 100000,1000000 --engine duckdb

Prints one line per size and writes bench/results/e2e-<date>.json. The project's memory is also given per phase of
the run (Bronze, Silver cleaning, Silver checks and accuracy, Gold), from the run's event log timestamps.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(PROJECT))

from run import machine

USER = "bench"
PAGE = os.sysconf("SC_PAGE_SIZE")
GIB = 2**30
# Placeholders the marts are compiled with; the baseline puts its own Silver location in their place.
SILVER_ROOT, JOB, VERSION = "/e2e_silver_root", "e2e_job_placeholder", "e2e_version_placeholder"
TARGETS = {"ratio_1m_max": 2.0, "scale_10m_over_1m_max": 12.0, "peak_10m_gib_max": 6.0}


# --- Memory of a process tree, from /proc --------------------------------------------------------------------

def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, command name) of a process, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name, rest = raw[raw.index("(") + 1:raw.rindex(")")], raw[raw.rindex(")") + 2:].split()
    return int(rest[1]), name


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss(root: int) -> tuple[int, dict[str, int]]:
    """Resident bytes of root and all its descendants, in total and by command name."""
    parents: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found:
                parents.setdefault(found[0], []).append(int(entry.name))
                names[int(entry.name)] = found[1]
    by_name: dict[str, int] = {}
    todo, total = [root], 0
    while todo:
        pid = todo.pop()
        rss = _rss(pid)
        total += rss
        by_name[names.get(pid, "?")] = by_name.get(names.get(pid, "?"), 0) + rss
        todo.extend(parents.get(pid, ()))
    return total, by_name


class Sampler:
    """Samples the tree of one process every `interval` seconds on a thread: (time, total bytes)."""

    def __init__(self, pid: int, interval: float):
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []
        self.peak, self.peak_by_name = 0, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            total, by_name = tree_rss(self.pid)
            self.samples.append((time.time(), total))
            if total > self.peak:
                self.peak, self.peak_by_name = total, by_name
            if self._stop.wait(self.interval):
                return

    def stop(self):
        self._stop.set()
        self._thread.join()

    def peak_between(self, start: float, end: float) -> int:
        """The highest sample in [start, end]; for a span shorter than the interval, the last sample before it."""
        inside = [rss for t, rss in self.samples if start <= t <= end]
        before = [rss for t, rss in self.samples if t < start]
        return max(inside) if inside else (before[-1] if before else 0)


def run_measured(cmd: list[str], env: dict, interval: float, log: Path) -> dict:
    """Run cmd, sampling its tree; wall seconds, peak bytes, the peak's split by command, exit code, samples."""
    with log.open("w") as out:
        started = time.time()
        child = subprocess.Popen(cmd, env=env, cwd=PROJECT, stdout=out, stderr=subprocess.STDOUT)
        sampler = Sampler(child.pid, interval)
        code = child.wait()
        ended = time.time()
        sampler.stop()
    return {"seconds": round(ended - started, 2), "peak_bytes": sampler.peak, "rc": code, "started": started,
            "ended": ended, "peak_by_command": {k: round(v / GIB, 2) for k, v in
                                               sorted(sampler.peak_by_name.items(), key=lambda kv: -kv[1]) if v},
            "_sampler": sampler}


def phases(sampler: Sampler, marks: list[tuple[str, float, float]]) -> list[dict]:
    return [{"phase": name, "seconds": round(end - start, 2),
             "peak_gib": round(sampler.peak_between(start, end) / GIB, 2)} for name, start, end in marks]


# --- The project: `orchestrator submit --in-process` --------------------------------------------------------

def project_env(work: Path, engine: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DUCKDB_PATH", "STORAGE_PREFIX", "ROUTER_FORCE_ENGINE")}
    env.update({"DAGSTER_HOME": str(work / "dagster_home"), "ORCHESTRATOR_DATA_DIR": str(work / "data"),
                "STORAGE_BACKEND": "local", "CLEANING_ENGINE": engine, "WAREHOUSE": "duckdb",
                "SPARK_RUNTIME": "local", "PYTHONPATH": os.pathsep.join(
                    p for p in (str(PROJECT), os.environ.get("PYTHONPATH", "")) if p)})
    return env


def run_project(orders: int, seed: int, engine: str, work: Path, interval: float) -> dict:
    job = f"e2e-{orders}"
    cmd = [sys.executable, "-m", "orchestrator_assets.cli", "submit", "--in-process", "--user", USER, "--job", job,
           "--rows", str(orders), "--seed", str(seed)]
    log = work.parent / f"{work.name}.log"
    measured = run_measured(cmd, project_env(work, engine), interval, log)
    sampler = measured.pop("_sampler")
    out = {**measured, "log": str(log)}
    summary_file = work / "data" / "summaries" / f"{USER}.{job}.json"
    if measured["rc"] != 0 or not summary_file.exists():
        out["error"] = log.read_text()[-3000:]
        return out
    summary = json.loads(summary_file.read_text())
    out.update(silver_rows=sum(summary["silver"].values()), quarantined_rows=sum(summary["quarantine"].values()),
               bronze_rows=sum(summary["bronze"].values()), gold=summary["gold"],
               accuracy_passed=summary["accuracy"].get("passed"), cleaning_engine=summary["cleaning_engine"])
    out["phases"] = phases(sampler, run_marks(work / "dagster_home", measured["started"], measured["ended"]))
    return out


def run_marks(home: Path, started: float, ended: float) -> list[tuple[str, float, float]]:
    """The run's phases from its event log: start-up, each step, the Silver step split where cleaning ends (its
    first materialisation; the checks and the accuracy evaluation follow), and what follows the last step."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_runs(limit=1)[0]
        entries = instance.all_logs(run.run_id)
    steps: dict[str, dict[str, float]] = {}
    for e in entries:
        if e.dagster_event is None or not e.step_key:
            continue
        kind, s = e.dagster_event.event_type, steps.setdefault(e.step_key, {})
        if kind == DagsterEventType.STEP_START:
            s["start"] = e.timestamp
        elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            s["end"] = e.timestamp
        elif kind == DagsterEventType.ASSET_MATERIALIZATION and "first_output" not in s:
            s["first_output"] = e.timestamp
    marks, last = [], started
    for key, s in sorted(((k, v) for k, v in steps.items() if "start" in v), key=lambda kv: kv[1]["start"]):
        end = s.get("end", ended)
        if s["start"] > last:
            marks.append(("start-up" if not marks else "between steps", last, s["start"]))
        if key == "silver" and "first_output" in s:
            marks += [("silver: cleaning", s["start"], s["first_output"]),
                      ("silver: checks and accuracy", s["first_output"], end)]
        else:
            marks.append((key, s["start"], end))
        last = end
    marks.append(("summary and exit", last, ended))
    return marks


# --- The baseline: the generator, then one DuckDB SQL script -------------------------------------------------

def compile_marts(work: Path) -> dict[str, str]:
    """The dbt marts as DuckDB SQL (staging and intermediate models are ephemeral, so each is one query), compiled
    with placeholders for the partition and the Silver location."""
    env = {**os.environ, "WAREHOUSE": "duckdb", "DUCKDB_PATH": str(work / "compile.duckdb"),
           "DBT_LOG_PATH": str(work / "dbt_logs"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    target = work / "dbt_target"
    dbt_vars = {"silver_root": SILVER_ROOT, "pipeline_user": USER, "pipeline_job": JOB, "silver_version": VERSION}
    dbt = Path(sys.executable).with_name("dbt")
    subprocess.run([str(dbt), "compile", "--quiet", "--project-dir", str(PROJECT / "dbt_project"), "--profiles-dir",
                    str(PROJECT / "dbt_project"), "--target-path", str(target), "--select", "path:models/marts",
                    "--vars", json.dumps(dbt_vars)], env=env, check=True, stdout=subprocess.DEVNULL)
    folder = target / "compiled" / "orchestrator_gold" / "models" / "marts"
    marts = {p.stem: p.read_text() for p in sorted(folder.glob("*.sql"))}
    if not marts:
        raise RuntimeError(f"dbt compile wrote no marts under {folder}")
    return marts


def run_baseline(orders: int, seed: int, work: Path, marts_file: Path, interval: float) -> dict:
    job = f"e2e-{orders}"
    result = work / "baseline.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--baseline-child", str(orders), "--seed", str(seed),
           "--job", job, "--work", str(work), "--marts", str(marts_file), "--child-result", str(result)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT), os.environ.get("PYTHONPATH", ""))
                                                         if p)}
    log = work.parent / f"{work.name}.log"
    measured = run_measured(cmd, env, interval, log)
    sampler = measured.pop("_sampler")
    out = {**measured, "log": str(log)}
    if measured["rc"] != 0 or not result.exists():
        out["error"] = log.read_text()[-3000:]
        return out
    child = json.loads(result.read_text())
    t = child.pop("marks")
    out.update(child)
    out["phases"] = phases(sampler, [("start-up", measured["started"], t["start"]),
                                     ("bronze (generator)", t["start"], t["bronze"]),
                                     ("silver (SQL)", t["bronze"], t["silver"]),
                                     ("gold (SQL)", t["silver"], t["gold"]),
                                     ("exit", t["gold"], measured["ended"])])
    return out


def baseline_child(orders: int, seed: int, job: str, work: Path, marts_file: Path, result: Path) -> None:
    """The baseline pipeline itself, in its own process so that its tree is measured alone."""
    import duckdb

    from orchestrator_assets.cleaning.catalogue import plan_table, table_order
    from orchestrator_assets.cleaning.duckdb_engine import RETURNS, _arrow_udf
    from orchestrator_assets.cleaning.sql_rules import Dialect, compile_plan
    from orchestrator_assets.generation.bronze import write_bronze
    from orchestrator_assets.generation.generator import stream
    from orchestrator_assets.requests import build_request
    from orchestrator_assets.storage.local import LocalStorage

    marks = {"start": time.time()}
    request = build_request(USER, job, orders, seed, None, "none")
    store = LocalStorage(work / "storage")
    manifest, _ = write_bronze(store, stream(request.spec, orders, seed, USER, job), USER, job, orders, "none")
    marks["bronze"] = time.time()

    silver_root, version = work / "silver", "v1"
    d, q = Dialect(), Dialect().q
    con = duckdb.connect(str(work / "warehouse.duckdb"))
    silver_rows, quarantined = {}, 0
    for table in table_order(request.spec):
        plan = plan_table(request.spec, table)
        columns = manifest.columns(table)
        files = [str(store.uri(k)) for k in manifest.parts(table)]
        typed = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in columns) + "}"
        con.execute(f"CREATE OR REPLACE TEMP VIEW bronze AS SELECT {', '.join(q(c) for c in columns)}, "
                    f"row_number() OVER () - 1 AS _bronze_row, NULL::VARCHAR AS _malformed "
                    f"FROM read_json({files!r}, format='newline_delimited', columns={typed})")
        parents = {p: f"parent_{p}" for p in sorted(set(plan.foreign_keys.values()))}
        for relation in parents.values():  # a parent not cleaned yet (a table's own key) has no keys, as in the engine
            con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {relation} (k BIGINT, kept INTEGER)")
        compiled = compile_plan(plan, d, parents)
        for name, (fn, returns) in compiled.udfs.items():
            con.create_function(name, _arrow_udf(fn), ["VARCHAR"], duckdb.sqltype(RETURNS[returns]), type="arrow")
        con.execute(f"CREATE TEMP TABLE cleaned_{table} AS {compiled.sql}")
        for name in compiled.udfs:
            con.remove_function(name)
        key = q(plan.primary_key)
        # A child's foreign key resolves to a parent key kept in Silver (kept 1) or quarantined (kept 0).
        con.execute(f"CREATE OR REPLACE TEMP TABLE parent_{table} AS SELECT {q('_s_' + plan.primary_key)} AS k, 1 AS kept "
                    f"FROM cleaned_{table} WHERE _rule IS NULL UNION ALL SELECT TRY_CAST(trim({key}) AS BIGINT), 0 "
                    f"FROM cleaned_{table} WHERE _rule IS NOT NULL AND regexp_full_match(trim({key}), '\\d{{1,18}}')")
        folder = silver_root / table / USER / job / version
        folder.mkdir(parents=True)
        silver_cols = ", ".join(f"{q('_s_' + c.name)} AS {q(c.name)}" for c in plan.columns)
        con.execute(f"COPY (SELECT {silver_cols}, {d.lit(USER)} AS pipeline_user, {d.lit(job)} AS pipeline_job "
                    f"FROM cleaned_{table} WHERE _rule IS NULL ORDER BY _bronze_row) "
                    f"TO '{folder / 'part-0.parquet'}' (FORMAT PARQUET, COMPRESSION ZSTD)")
        raw = ", ".join(q(c.name) for c in plan.columns)
        quarantine = work / "quarantine" / f"{table}.parquet"
        quarantine.parent.mkdir(exist_ok=True)
        con.execute(f"COPY (SELECT {raw}, _bronze_row, _malformed, _rule, _column, _reason FROM cleaned_{table} "
                    f"WHERE _rule IS NOT NULL ORDER BY _bronze_row) TO '{quarantine}' (FORMAT PARQUET, "
                    "COMPRESSION ZSTD)")
        silver_rows[table] = con.execute(f"SELECT count(*) FROM cleaned_{table} WHERE _rule IS NULL").fetchone()[0]
        quarantined += con.execute(f"SELECT count(*) FROM cleaned_{table} WHERE _rule IS NOT NULL").fetchone()[0]
        con.execute(f"DROP TABLE cleaned_{table}")
    marks["silver"] = time.time()

    gold = {}
    for mart, sql in json.loads(marts_file.read_text()).items():
        sql = sql.replace(SILVER_ROOT, str(silver_root)).replace(JOB, job).replace(VERSION, version)
        con.execute(f"CREATE TABLE {q(mart)} AS {sql}")
        gold[mart] = con.execute(f"SELECT count(*) FROM {q(mart)}").fetchone()[0]
    con.close()
    marks["gold"] = time.time()
    result.write_text(json.dumps({"marks": marks, "bronze_rows": manifest.total_rows,
                                  "silver_rows": sum(silver_rows.values()), "quarantined_rows": quarantined,
                                  "gold": gold}))


# --- Driver ------------------------------------------------------------------------------------------------

def gib(n: int) -> float:
    return round(n / GIB, 2)


def one_size(orders: int, args, marts_file: Path, root: Path) -> dict:
    out: dict = {"orders": orders, "baseline": None}
    sides = ("project", "baseline") if args.baseline_sizes is None or orders in args.baseline_sizes else ("project",)
    for side in sides:
        work = root / f"{side}-{orders}"
        work.mkdir()
        try:
            if side == "project":
                r = run_project(orders, args.seed, args.engine, work, args.interval)
            else:
                r = run_baseline(orders, args.seed, work, marts_file, args.interval)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
        r["peak_gib"] = gib(r.pop("peak_bytes"))
        if not args.keep:
            r.pop("log")  # removed with the run's directory
        for k in ("started", "ended"):
            r.pop(k)
        out[side] = r
        print(f"  {side}: {'ok' if r['rc'] == 0 and 'error' not in r else 'FAILED'} {r['seconds']} s, "
              f"peak {r['peak_gib']} GiB", file=sys.stderr, flush=True)
    p, b = out["project"], out["baseline"]
    ok = b is not None and "error" not in p and "error" not in b
    out["ratio_time"] = round(p["seconds"] / b["seconds"], 2) if ok else None
    out["ratio_peak"] = round(p["peak_gib"] / b["peak_gib"], 2) if ok and b["peak_gib"] else None
    # The same work: both sides must end with the same Silver and Gold row counts (None: no baseline run).
    out["same_rows"] = None if b is None else ok and p["silver_rows"] == b["silver_rows"] and p["gold"] == b["gold"]
    return out


def line(r: dict) -> str:
    p, b = r["project"], r["baseline"]
    def state(x: dict) -> str:
        return f"{x['seconds']:.1f} s, peak {x['peak_gib']:.2f} GiB" + (" FAILED" if "error" in x else "")

    if b is None:
        return f"e2e {r['orders']:>10,} orders: project {state(p)} | no baseline at this size"
    return (f"e2e {r['orders']:>10,} orders: project {state(p)} | baseline {state(b)} | time ratio "
            f"{r['ratio_time']} | same Silver and Gold rows: {r['same_rows']}")


def verdicts(results: dict[int, dict]) -> dict:
    out = {}
    one, ten = results.get(1_000_000), results.get(10_000_000)
    if one and one["ratio_time"] is not None:
        out["ratio_1m"] = {"value": one["ratio_time"], "max": TARGETS["ratio_1m_max"],
                           "passed": one["ratio_time"] <= TARGETS["ratio_1m_max"]}
    if one and ten and "error" not in one["project"] and "error" not in ten["project"]:
        scale = round(ten["project"]["seconds"] / one["project"]["seconds"], 2)
        out["scale_10m_over_1m"] = {"value": scale, "max": TARGETS["scale_10m_over_1m_max"],
                                    "passed": scale <= TARGETS["scale_10m_over_1m_max"]}
    if ten:
        peak = ten["project"]["peak_gib"]
        out["peak_10m_gib"] = {"value": peak, "max": TARGETS["peak_10m_gib_max"], "completed": "error" not in
                               ten["project"], "passed": "error" not in ten["project"]
                               and peak < TARGETS["peak_10m_gib_max"]}
    return out


def write_report(out: Path, m: dict, args, results: dict[int, dict]) -> dict:
    report = {"machine": {**m, "load_average_1m_at_end": round(os.getloadavg()[0], 1)}, "engine": args.engine,
              "seed": args.seed, "sizes": list(results.values()), "targets": verdicts(results)}
    out.write_text(json.dumps(report, indent=2))
    return report


def parse_sizes(text: str, flag: str = "--orders") -> list[int]:
    try:
        sizes = [int(s.replace("_", "")) for s in text.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"{flag} takes whole numbers separated by commas (got {text!r})") from None
    if not sizes or min(sizes) < 1:
        raise SystemExit(f"{flag} needs at least one positive size (got {text!r})")
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", default="100000,1000000,10000000", help="sizes, comma-separated")
    parser.add_argument("--engine", default="duckdb", choices=["duckdb", "pandas", "spark"],
                        help="the project's cleaning engine (CLEANING_ENGINE); Gold is always DuckDB")
    parser.add_argument("--baseline-sizes", default=None, help="sizes that also run the baseline, comma-separated "
                        "(default: every size; the targets need it at 1,000,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between RSS samples")
    parser.add_argument("--workdir", default=None, help="where the runs' data goes (default: a temporary "
                                                        "directory, removed afterwards)")
    parser.add_argument("--keep", action="store_true", help="keep each run's data (needs the disk of every size)")
    parser.add_argument("--out", default=None, help="result file (default: bench/results/e2e-<date>.json)")
    parser.add_argument("--baseline-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--marts", help=argparse.SUPPRESS)
    parser.add_argument("--child-result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_child:
        baseline_child(args.baseline_child, args.seed, args.job, Path(args.work), Path(args.marts),
                       Path(args.child_result))
        return 0
    sizes = parse_sizes(args.orders)
    args.baseline_sizes = None if args.baseline_sizes is None else set(parse_sizes(args.baseline_sizes, "--baseline-sizes"))
    m = machine()
    out = Path(args.out) if args.out else HERE / "results" / f"e2e-{m['date']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict] = {}
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="e2e-", dir=args.workdir) as tmp:
        root = Path(tmp)
        marts_file = root / "marts.json"
        marts_file.write_text(json.dumps(compile_marts(root)))
        for orders in sizes:
            print(f"e2e: {orders:,} orders ...", file=sys.stderr, flush=True)
            results[orders] = one_size(orders, args, marts_file, root)
            print(line(results[orders]), flush=True)
            write_report(out, m, args, results)  # after every size, so that a long run leaves what it measured
        if args.keep:
            kept = Path(tempfile.mkdtemp(prefix="e2e-kept-", dir=args.workdir))
            for p in root.iterdir():
                shutil.move(str(p), kept)
            print(f"kept: {kept}", file=sys.stderr)
    report = write_report(out, m, args, results)
    for r in results.values():
        print(f"  {r['orders']:,} project phases: " + "; ".join(
            f"{p['phase']} {p['seconds']} s / {p['peak_gib']} GiB" for p in r["project"].get("phases", [])))
    print(json.dumps(report["targets"]))
    print(out)
    failed = any(r[s] is not None and "error" in r[s] for r in results.values() for s in ("project", "baseline"))
    return 1 if failed or any(r["same_rows"] is False for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
