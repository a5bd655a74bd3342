"""`make bench`: generation and cleaning speed, measured as ratios within one run.

Writes bench/results/<date>.json and prints a Markdown section for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from baselines import duckdb_clean_orders, faker_orders

from orchestrator_assets.cleaning.catalogue import plan_table
from orchestrator_assets.cleaning.engine import ParentKeys
from orchestrator_assets.cleaning.pandas_engine import PandasEngine
from orchestrator_assets.generation.bronze import read_bronze, write_bronze
from orchestrator_assets.generation.generator import bronze_columns, generate
from orchestrator_assets.generation.spec import load_spec
from orchestrator_assets.storage.local import LocalStorage


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
               platform.processor())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1), "python": platform.python_version(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d")}


def timed(fn, repeat: int) -> tuple[float, list[float], object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, out


def bench_generation(rows: int, faker_rows: int, repeat: int) -> dict:
    spec = load_spec(HERE / "orders_only.yaml")
    generate(spec, 1000, 1, "bench", "warm")  # Faker pools and imports, once per process
    faker_s, _, _ = timed(lambda: faker_orders(faker_rows), 1)

    def pooled():
        ds = generate(spec, rows, 1, "bench", "gen")
        return bronze_columns(ds.tables["orders"]), ds.ledger

    pooled_s, pooled_runs, (orders, ledger) = timed(pooled, repeat)
    full = load_spec()
    generate(full, 1000, 1, "bench", "warm")
    full_s, _, ds = timed(lambda: generate(full, rows, 1, "bench", "full"), repeat)
    return {
        "faker_rows": faker_rows, "faker_seconds": round(faker_s, 3), "faker_rows_per_s": round(faker_rows / faker_s),
        "orders_rows": orders.num_rows, "ledger_rows": ledger.num_rows, "pooled_seconds": round(pooled_s, 3),
        "pooled_runs": [round(t, 3) for t in pooled_runs], "pooled_rows_per_s": round(rows / pooled_s),
        "speedup_vs_faker": round((rows / pooled_s) / (faker_rows / faker_s), 1),
        "full_dataset_rows": sum(ds.rows().values()), "full_dataset_seconds": round(full_s, 3),
        "full_dataset_rows_per_s": round(sum(ds.rows().values()) / full_s),
    }


def bench_cleaning(rows: int, repeat: int, workdir: Path) -> dict:
    store = LocalStorage(workdir / "store")
    spec = load_spec()
    ds = generate(spec, rows, 1, "bench", "clean")
    manifest, _ = write_bronze(store, ds, "bench", "clean", rows)
    files = [store.uri(p["key"]) for p in manifest.tables["orders"]["parts"]]
    user_keys = np.arange(1, manifest.tables["users"]["clean_rows"] + 1)
    keys_file = workdir / "users.parquet"
    pq.write_table(pa.table({"user_id": user_keys}), keys_file)
    plan = plan_table(spec, "orders")
    parents = {"users": ParentKeys(user_keys, np.empty(0, np.int64))}

    def pandas_run():
        with duckdb.connect() as con:
            bronze = read_bronze(con, store, manifest, "orders")
        result = PandasEngine().clean_table(bronze, plan, parents)
        pq.write_table(result.silver, workdir / "pandas_silver.parquet", compression="zstd")
        pq.write_table(result.quarantine, workdir / "pandas_quarantine.parquet", compression="zstd")
        return result.silver.num_rows

    def duckdb_run():
        return duckdb_clean_orders(files, str(keys_file), str(workdir / "duck_silver.parquet"),
                                   str(workdir / "duck_quarantine.parquet"))

    pandas_times, duck_times = [], []
    for _ in range(repeat):  # alternate so that machine noise hits both alike
        for fn, times in ((pandas_run, pandas_times), (duckdb_run, duck_times)):
            start = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - start)
            if fn is pandas_run:
                pandas_rows = out
            else:
                duck_rows = out
    p, d = statistics.median(pandas_times), statistics.median(duck_times)
    return {"bronze_order_rows": manifest.tables["orders"]["rows"], "pandas_seconds": round(p, 3),
            "duckdb_seconds": round(d, 3), "ratio_pandas_to_duckdb": round(p / d, 2),
            "pandas_runs": [round(t, 3) for t in pandas_times], "duckdb_runs": [round(t, 3) for t in duck_times],
            "silver_rows": {"pandas": pandas_rows, "duckdb": duck_rows}}


def markdown(m: dict, gen: dict, clean: dict) -> str:
    return f"""## Run of {m['date']} — {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}

Generation, orders schema (`bench/orders_only.yaml`), errors (30%) and ledger included, in memory:

| generator | rows | seconds | rows/s |
|---|---:|---:|---:|
| per-row Faker loop (baseline) | {gen['faker_rows']:,} | {gen['faker_seconds']} | {gen['faker_rows_per_s']:,} |
| Faker pools + vectorised numpy/Arrow (this project) | {gen['orders_rows']:,} | {gen['pooled_seconds']} | {gen['pooled_rows_per_s']:,} |

Speed-up: **{gen['speedup_vs_faker']}x**. The whole built-in dataset (10 tables, {gen['full_dataset_rows']:,} rows for
the same order count) took {gen['full_dataset_seconds']} s = {gen['full_dataset_rows_per_s']:,} rows/s.

Bronze to Silver, orders table ({clean['bronze_order_rows']:,} Bronze rows incl. duplicates), read JSONL + clean + write
Parquet, median of {len(clean['pandas_runs'])} alternating runs:

| engine | seconds | runs |
|---|---:|---|
| pandas engine (rule catalogue) | {clean['pandas_seconds']} | {clean['pandas_runs']} |
| hand-written DuckDB SQL (baseline) | {clean['duckdb_seconds']} | {clean['duckdb_runs']} |

Ratio pandas / DuckDB: **{clean['ratio_pandas_to_duckdb']}** (target ≤ 1.2). Silver rows: {clean['silver_rows']}.
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--faker-rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    m = machine()
    gen = bench_generation(args.rows, args.faker_rows, args.repeat)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        clean = bench_cleaning(args.rows, args.repeat, Path(tmp))
    out = HERE / "results" / f"{m['date']}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": m, "generation": gen, "cleaning": clean}, indent=2))
    print(markdown(m, gen, clean))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
