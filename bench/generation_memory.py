"""Peak resident memory of writing Bronze from the stream against writing it from the whole in-memory dataset.

Each side runs in its own process (ru_maxrss is per process) on the same spec, size and seed.
  python bench/generation_memory.py --orders 500000
"""
from __future__ import annotations

import argparse
import json
import resource
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
write_bronze(LocalStorage(root), make(load_spec(), orders, 1, "bench", "mem"), "bench", "mem", orders)
print(json.dumps({"seconds": time.perf_counter() - started,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(mode: str, orders: int) -> dict:
    with tempfile.TemporaryDirectory() as root:
        out = subprocess.run([sys.executable, "-c", CHILD, mode, str(orders), root], check=True,
                             capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=500_000)
    args = parser.parse_args()
    whole, streamed = measure("whole", args.orders), measure("stream", args.orders)
    print(json.dumps({"orders": args.orders, "whole": whole, "stream": streamed,
                      "peak_ratio": round(streamed["peak_mib"] / whole["peak_mib"], 2),
                      "parent_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}, indent=2))


if __name__ == "__main__":
    main()
