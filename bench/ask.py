"""`ask` latency: the offline planner, and each provider's SDK against the local model server of the tests.

In-process figures (the SDK already imported, the client opened per call as `ask` does) separate the project's
own work (planning or prompting, validating, writing the spec) from the model's answer time, which the local
server makes zero; the command-line figure adds Python start-up and imports. Median of --repeat runs.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from support.llm_server import Answer, LLMServer

from orchestrator_assets.ai.ask import ask
from orchestrator_assets.ai.planner import plan

REQUEST = "50k orders from a German fashion shop, 20% of e-mails dirty, no reviews table"
KEY = "sk-bench"


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ["ORCHESTRATOR_DATA_DIR"] = tempfile.mkdtemp(prefix="ask-bench-")
    for var in [v for v in os.environ if v.startswith("AI_")]:
        del os.environ[var]
    results = {"offline planner (in process)": _median(lambda: ask(REQUEST), args.repeat)}
    server = LLMServer(key=KEY).start()
    spec = plan(REQUEST).spec
    providers = {
        "openai": {"AI_MODEL": "m", "AI_BASE_URL": f"{server.url}/v1", "OPENAI_API_KEY": KEY},
        "azure_openai": {"AZURE_OPENAI_ENDPOINT": server.url, "AZURE_OPENAI_DEPLOYMENT": "d",
                         "OPENAI_API_VERSION": "2024-10-21", "AZURE_OPENAI_API_KEY": KEY},
        "anthropic": {"AI_MODEL": "m", "AI_BASE_URL": server.url, "ANTHROPIC_API_KEY": KEY},
    }
    try:
        for name, settings in providers.items():
            os.environ.update(AI_PROVIDER=name, **settings)

            def one():
                server.reset(Answer(content=spec))
                ask(REQUEST)

            one()  # imports the SDK once
            results[f"{name} via local server (in process)"] = _median(one, args.repeat)
            for var in settings:
                del os.environ[var]
        del os.environ["AI_PROVIDER"]
    finally:
        server.stop()
    cli = str(Path(sys.executable).with_name("orchestrator"))
    results["offline planner (orchestrator ask, whole command)"] = _median(
        lambda: subprocess.run([cli, "ask", REQUEST], check=True, capture_output=True), max(1, args.repeat // 2))
    print(json.dumps({k: round(v, 3) for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
