"""`make bench` (storage part): write and read the Silver layer of a 1,000,000-order job on every backend.

The cloud backends run against the emulators the tests use (Azurite; moto behind the OSS dialect layer), on
loopback, so the figures compare the client paths and the project's own overhead, not a cloud network.
Backends run alternately, `--repeat` times each, median reported.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from run import machine
from support.clouds import Clouds, open_backend

from orchestrator_assets.cleaning.pandas_engine import PandasEngine
from orchestrator_assets.cleaning.run import clean_partition
from orchestrator_assets.generation.bronze import write_bronze
from orchestrator_assets.generation.generator import generate
from orchestrator_assets.generation.spec import load_spec
from orchestrator_assets.storage.local import LocalStorage
from orchestrator_assets.storage.sync import sync_partitions

USER, JOB = "bench", "storage"


def silver_of(rows: int, workdir: Path) -> LocalStorage:
    store = LocalStorage(workdir / "source")
    started = time.perf_counter()
    dataset = generate(load_spec(), rows, 42, USER, JOB)
    manifest, _ = write_bronze(store, dataset, USER, JOB, rows)
    del dataset
    clean_partition(store, manifest, PandasEngine())
    print(f"built Silver for {rows:,} orders in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return store


def write_all(store, source: LocalStorage, keys: list[str]) -> None:
    for key in keys:
        store.put_file(key, source.path(key))


def read_all(store, keys: list[str], into: Path) -> None:
    for i, key in enumerate(keys):
        store.get_file(key, into / f"{i}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        work = Path(tmp)
        source = silver_of(args.rows, work)
        keys = source.list("silver")
        size = sum(source.path(k).stat().st_size for k in keys)
        clouds = Clouds(work / "clouds").start()
        try:
            stores = {b: open_backend(clouds, b, work / f"{b}-root")[0] for b in ("local", "adls", "oss")}
            times: dict[str, dict[str, list[float]]] = {b: {"write": [], "read": [], "sync": []} for b in stores}
            for round_ in range(args.repeat):
                for backend, store in stores.items():
                    started = time.perf_counter()
                    write_all(store, source, keys)
                    times[backend]["write"].append(time.perf_counter() - started)
                    into = work / f"read-{backend}-{round_}"
                    into.mkdir()
                    started = time.perf_counter()
                    read_all(store, keys, into)
                    times[backend]["read"].append(time.perf_counter() - started)
                    fresh = open_backend(clouds, backend, work / f"{backend}-sync-{round_}")[0]
                    started = time.perf_counter()
                    sync_partitions(source, fresh, [f"{USER}.{JOB}"], ["silver"])
                    times[backend]["sync"].append(time.perf_counter() - started)
        finally:
            clouds.stop()
    result = {"machine": machine(), "rows": args.rows, "objects": len(keys), "bytes": size,
              "seconds": {b: {op: statistics.median(v) for op, v in ops.items()} for b, ops in times.items()},
              "all_seconds": times}
    out = HERE / "results" / f"storage-{result['machine']['date']}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(markdown(result))
    return 0


def markdown(r: dict) -> str:
    m, mb = r["machine"], r["bytes"] / 2**20
    lines = [f"## Storage run of {m['date']} — {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB", "",
             (f"Silver layer of a {r['rows']:,}-order job: {r['objects']} objects, {mb:,.1f} MiB (10 tables, "
              f"quarantine, reports). Median of {len(r['all_seconds']['local']['write'])} alternating runs."),
             "", "| backend | write s | write MiB/s | read s | read MiB/s | sync from local s | write vs local |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    local_write = r["seconds"]["local"]["write"]
    for backend, s in r["seconds"].items():
        lines.append(f"| {backend} | {s['write']:.2f} | {mb / s['write']:,.0f} | {s['read']:.2f} | "
                     f"{mb / s['read']:,.0f} | {s['sync']:.2f} | {s['write'] / local_write:.1f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
