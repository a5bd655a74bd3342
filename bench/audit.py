"""Auditor benchmark: audit time per partition at given sizes, and detection rate over the planted problems.

Each size builds two partitions of one user (an earlier job, then the audited one) with the pandas engine;
only the audit is timed (the deterministic graph, every tool, per-tool seconds reported). Detection: the
planted problems of tests/audit_partitions.py at 2,000 orders, each counted as found when a finding of the
expected severity names the expected cause (and table or column).
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from audit_partitions import NoTrimEngine, build, corrupted_users, raised_error_rate, shift_ages

from orchestrator_assets.audit.graph import audit
from orchestrator_assets.audit.tools import Partition
from orchestrator_assets.generation.spec import load_spec
from orchestrator_assets.storage.local import LocalStorage


def _audit(store, user, job):
    p = Partition(store, user, job)
    try:
        return audit(p)
    finally:
        p.close()


def timing(rows: int, root: Path) -> dict:
    spec, store = load_spec(), LocalStorage(root)
    started = time.perf_counter()
    build(store, spec, "bench", "a0", seed=1, rows=rows)
    build(store, spec, "bench", "a1", seed=2, rows=rows)
    built = time.perf_counter() - started
    runs = [_audit(store, "bench", "a1") for _ in range(2)]  # the second run has warm file caches
    per_tool: dict[str, float] = {}
    for e in runs[-1]["evidence"]:
        per_tool[e["tool"]] = round(per_tool.get(e["tool"], 0) + e["seconds"], 3)
    return {"orders": rows, "build_seconds": round(built, 1), "audit_seconds": [r["seconds"] for r in runs],
            "steps": runs[-1]["steps"], "per_tool_seconds": per_tool, "summary": runs[-1]["summary"]}


PLANTED = [
    # (name, user, job, expected severity, cause, table or None, column or None)
    ("rule disabled (no trim)", "bob", "notrim", "critical", "rule_misses_pattern", None, None),
    ("error rate 0.6 vs 0.3", "alice", "hot", "warning", "generator_error_profile", None, None),
    ("parent corrupted (users)", "carol", "cascade", "critical", "upstream_orphan_cascade", "orders", None),
    ("drifted column (age +60)", "dave", "aged", "critical", "drift", "users", "age"),
]


def detection(root: Path) -> dict:
    spec, store = load_spec(), LocalStorage(root)
    for i, job in enumerate(["j0", "j1", "j2"]):
        build(store, spec, "alice", job, seed=10 + i)
    build(store, raised_error_rate(spec), "alice", "hot", seed=20)
    build(store, spec, "bob", "notrim", seed=30, engine=NoTrimEngine())
    build(store, corrupted_users(spec), "carol", "cascade", seed=40)
    build(store, spec, "dave", "aged", seed=50)
    shift_ages(store, "dave", "aged", years=60)
    rows = []
    for name, user, job, severity, cause, table, column in PLANTED:
        found = [f for f in _audit(store, user, job)["findings"] if f["severity"] == severity and f["cause"] == cause
                 and (table is None or f["table"] == table) and (column is None or f["column"] == column)]
        rows.append({"problem": name, "found": bool(found), "finding": found[0]["title"] if found else None})
    clean = _audit(store, "alice", "j2")
    rows.append({"problem": "clean partition: no critical finding", "found": clean["trustworthy"],
                 "finding": clean["summary"]})
    return {"detected": sum(r["found"] for r in rows), "of": len(rows), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="*", default=[100_000])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = {"machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
           "date": time.strftime("%Y-%m-%d"), "timing": [], "detection": None}
    with tempfile.TemporaryDirectory() as tmp:
        out["detection"] = detection(Path(tmp) / "planted")
    print(json.dumps(out["detection"], indent=2), flush=True)
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            out["timing"].append(timing(rows, Path(tmp)))
        print(json.dumps(out["timing"][-1], indent=2), flush=True)
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    text = json.dumps(out, indent=2)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
