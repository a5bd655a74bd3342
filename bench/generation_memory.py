"""Peak resident memory and time of writing Bronze from the stream (tables made in blocks), at growing job sizes,
against writing it from the whole in-memory dataset at the smallest size.

Each measurement runs in its own process (ru_maxrss is per process) on the same spec and seed; Bronze goes to a
temporary directory that is deleted after each run. With memory bounded by a block, the stream's peak should stay
about flat as the job grows, and its time per million Bronze rows about constant.
  python bench/generation_memory.py --orders 500000 1000000 3000000
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = """
import json, resource, sys, time
from orchestrator_assets.generation.bronze import write_bronze
from orchestrator_assets.generation.generator import generate, stream
from orchestrator_assets.generation.spec import load_spec
from orchestrator_assets.storage.local import LocalStorage
mode, orders, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
make = stream if mode == "stream" else generate
started = time.perf_counter()
manifest, _ = write_bronze(LocalStorage(root), make(load_spec(), orders, 1, "bench", "mem"), "bench", "mem", orders)
print(json.dumps({"seconds": time.perf_counter() - started, "bronze_rows": manifest.total_rows,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(mode: str, orders: int) -> dict:
    with tempfile.TemporaryDirectory() as root:
        out = subprocess.run([sys.executable, "-c", CHILD, mode, str(orders), root], check=True,
                             capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["s_per_million_rows"] = round(result["seconds"] / result["bronze_rows"] * 1e6, 2)
    return {"mode": mode, "orders": orders, **result}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, nargs="+", default=[500_000, 1_000_000, 3_000_000])
    args = parser.parse_args()
    sizes = sorted(args.orders)
    runs = [measure("whole", sizes[0])] + [measure("stream", n) for n in sizes]
    for run in runs:
        print(json.dumps(run), flush=True)
    baseline, streams = runs[0], runs[1:]
    print(json.dumps({
        "peak_ratio_at_smallest": round(streams[0]["peak_mib"] / baseline["peak_mib"], 2),
        "stream_peak_growth": round(streams[-1]["peak_mib"] / streams[0]["peak_mib"], 2),
        "job_growth": round(sizes[-1] / sizes[0], 1),
    }, indent=2))


if __name__ == "__main__":
    main()
