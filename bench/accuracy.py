"""The Silver step's accuracy verdict: the former way (Silver and quarantine read into memory, the dataset
regenerated, compared with numpy) against SQL over the files (DuckDB over the ledger, Bronze and Silver).

One partition is generated and cleaned first (DuckDB engine); then each way judges it in its own process
(ru_maxrss is per process), and the two reports are compared.
  python bench/accuracy.py --orders 1000000
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREPARE = """
import sys, time
from orchestrator_assets.cleaning.duckdb_engine import DuckDBEngine
from orchestrator_assets.cleaning.run import clean_partition
from orchestrator_assets.generation.bronze import write_bronze
from orchestrator_assets.generation.generator import stream
from orchestrator_assets.generation.spec import load_spec
from orchestrator_assets.storage.local import LocalStorage
orders, root = int(sys.argv[1]), sys.argv[2]
store = LocalStorage(root)
started = time.perf_counter()
manifest, _ = write_bronze(store, stream(load_spec(), orders, 1, "bench", "acc"), "bench", "acc", orders)
result = clean_partition(store, manifest, DuckDBEngine())
print(f"prepared {manifest.total_rows:,} Bronze rows in {time.perf_counter() - started:.0f}s", file=sys.stderr)
"""
JUDGE = """
import json, resource, sys, time
sys.path.insert(0, "tests")
from orchestrator_assets.cleaning.publish import require_silver
from orchestrator_assets.generation.bronze import read_manifest
from orchestrator_assets.storage.local import LocalStorage
mode, root, out = sys.argv[1], sys.argv[2], sys.argv[3]
store = LocalStorage(root)
manifest = read_manifest(store, "bench", "acc")
current = require_silver(store, "bench", "acc")
rules = json.loads(store.get_bytes(current.cleaning_report))["rules"]
started = time.perf_counter()
if mode == "sql":
    from orchestrator_assets.cleaning.verdict import judge
    report = judge(store, manifest, current, rules).report
else:
    # The judge as it was: every table read, the dataset regenerated, the in-memory comparison, the oracles.
    from support.accuracy_oracle import evaluate
    from orchestrator_assets.cleaning.run import read_silver
    from orchestrator_assets.cleaning.verdict import oracle_report
    from orchestrator_assets.generation.generator import generate
    silver = {t: read_silver(store, t, "bench", "acc", current=current) for t in manifest.tables}
    quarantine = {t: read_silver(store, t, "bench", "acc", quarantine=True, current=current) for t in manifest.tables}
    oracle_report(store, manifest, current)
    data = manifest.data
    truth = generate(manifest.spec, data["anchor_rows"], data["seed"], manifest.user, manifest.job)
    report = evaluate(truth, silver, quarantine).to_json()
seconds = time.perf_counter() - started
with open(out, "w") as f:
    json.dump({k: report[k] for k in ("kinds", "clean_cells", "wrongly_changed", "clean_rows", "wrongly_quarantined",
                                      "quarantined_with_parent", "nulled_with_parent")}, f)
print(json.dumps({"seconds": round(seconds, 1),
                  "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


def child(code: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], check=False, capture_output=True, text=True,
                          cwd=ROOT)
    if done.returncode:
        sys.exit(f"child {args[0]} failed:\n{done.stderr[-4000:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--root", help="keep the prepared partition here (reused when it is there)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.root or scratch
        if not (Path(root) / "bronze").exists():
            child(PREPARE, str(args.orders), root)
        runs, reports = {}, {}
        for mode in ("sql", "regenerate"):
            out = Path(root) / f"{mode}.json"
            runs[mode] = json.loads(child(JUDGE, mode, root, str(out)).strip().splitlines()[-1])
            reports[mode] = json.loads(out.read_text())
    print(json.dumps({"orders": args.orders, **runs, "same_report": reports["regenerate"] == reports["sql"],
                      "time_ratio": round(runs["sql"]["seconds"] / runs["regenerate"]["seconds"], 2),
                      "peak_ratio": round(runs["sql"]["peak_mib"] / runs["regenerate"]["peak_mib"], 2)}, indent=2))


if __name__ == "__main__":
    main()
