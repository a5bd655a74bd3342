"""`make bench` (engines part): the Silver step of an orders job on every engine at several sizes, in fresh
processes: Bronze parts in, published Silver and quarantine out, as a run does it (clean_partition).

Each (engine, size) runs in its own process, so peak memory (the process and its children, e.g. Spark's JVM)
is that engine's alone. Engines alternate within each size; `--repeat` runs each, median reported.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
ENGINES = ("pandas", "duckdb", "spark")


def write_orders(rows: int, root: Path) -> None:
    from orchestrator_assets.generation.bronze import write_bronze
    from orchestrator_assets.generation.generator import generate
    from orchestrator_assets.generation.spec import load_spec
    from orchestrator_assets.storage.local import LocalStorage

    spec = load_spec(HERE / "orders_only.yaml")
    write_bronze(LocalStorage(root), generate(spec, rows, 1, "bench", f"o{rows}"), "bench", f"o{rows}", rows)


def worker(engine_name: str, rows: int, root: Path) -> dict:
    from orchestrator_assets.cleaning.engines import get_engine
    from orchestrator_assets.cleaning.run import clean_partition
    from orchestrator_assets.generation.bronze import read_manifest
    from orchestrator_assets.storage.local import LocalStorage

    store = LocalStorage(root)
    manifest = read_manifest(store, "bench", f"o{rows}")
    engine = get_engine(engine_name)
    started = time.perf_counter()
    if engine_name == "spark":
        engine.spark.range(1).count()  # session start-up, timed apart
    startup = time.perf_counter() - started
    started = time.perf_counter()
    # The Silver step as a run does it: Bronze parts verified and read, Silver and quarantine staged and published.
    result = clean_partition(store, manifest, engine)
    seconds = time.perf_counter() - started
    # Spark's JVM is a live child process until the session stops: read its high-water mark first.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + children_peak_kib()
    getattr(engine, "close", lambda: None)()
    return {"engine": engine_name, "rows": result.tables["orders"]["bronze_rows"], "seconds": seconds,
            "startup": startup, "silver_rows": result.silver_rows, "peak_mib": peak / 1024}


def children_peak_kib() -> int:
    """Sum of VmHWM over this process's live children (the JVM and Python workers under Spark)."""
    import os

    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != os.getpid():
                continue
            status = (stat.parent / "status").read_text()
        except (OSError, ValueError, IndexError):
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
    return total


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000,5000000", help="orders per job")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", default=",".join(ENGINES), help="engines to run, comma-separated")
    parser.add_argument("--worker", nargs=3, metavar=("ENGINE", "ROWS", "ROOT"))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), Path(args.worker[2]))))
        return 0
    from run import machine

    engines = [e.strip() for e in args.engines.split(",")]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        parser.error(f"--engines: unknown {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        for rows in (int(s) for s in args.sizes.split(",")):
            write_orders(rows, Path(tmp))
            runs: dict[str, list[dict]] = {e: [] for e in engines}
            for _ in range(args.repeat):
                for engine in engines:
                    out = subprocess.run([sys.executable, __file__, "--worker", engine, str(rows), tmp],
                                         capture_output=True, text=True, check=False)
                    if out.returncode:
                        tail = "\n".join(out.stderr.strip().splitlines()[-15:])
                        raise RuntimeError(f"{engine} at {rows:,} orders failed ({out.returncode}):\n{tail}")
                    runs[engine].append(json.loads(out.stdout.strip().splitlines()[-1]))
            counts = {r["silver_rows"] for rs in runs.values() for r in rs}
            assert len(counts) == 1, f"engines disagree on Silver rows: {counts}"
            for engine, rs in runs.items():
                results.append({"engine": engine, "orders": rows, "bronze_rows": rs[0]["rows"],
                                "seconds": statistics.median(r["seconds"] for r in rs),
                                "startup": statistics.median(r["startup"] for r in rs),
                                "peak_mib": max(r["peak_mib"] for r in rs), "silver_rows": rs[0]["silver_rows"]})
            # Written after every size, so a later size that fails loses nothing measured before it.
            report = {"machine": machine(), "repeat": args.repeat, "results": results}
            out = HERE / "results" / f"engines-{report['machine']['date']}.json"
            out.parent.mkdir(exist_ok=True)
            out.write_text(json.dumps(report, indent=2))
            print(f"{rows:,} orders done", file=sys.stderr)
    print(markdown(report))
    return 0


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [f"## Engines run of {m['date']} — {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB", "",
             f"The orders job's Silver step, Bronze parts to published Silver + quarantine (median of {r['repeat']}):",
             "",
             "| orders | Bronze rows | engine | clean s | + Spark start-up s | peak MiB | vs pandas |",
             "|---:|---:|---|---:|---:|---:|---:|"]
    pandas = {x["orders"]: x["seconds"] for x in r["results"] if x["engine"] == "pandas"}
    vs = (lambda x: f"{x['seconds'] / pandas[x['orders']]:.2f}x" if x["orders"] in pandas else "")
    for x in r["results"]:
        startup = f"{x['seconds'] + x['startup']:.2f}" if x["engine"] == "spark" else ""
        lines.append(f"| {x['orders']:,} | {x['bronze_rows']:,} | {x['engine']} | {x['seconds']:.2f} | {startup} | "
                     f"{x['peak_mib']:,.0f} | {vs(x)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
