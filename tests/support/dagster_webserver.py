"""The project's dagster-webserver on 127.0.0.1 for the tests: its own DAGSTER_HOME and data directory.

It runs in a process group of its own (the code server is its child), so stopping it leaves nothing behind.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from orchestrator_assets.settings import PROJECT_DIR

from .local_services import HOST, answers, free_port

LOADED = '{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }'


class DagsterWebserver:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def log(self) -> str:
        path = self.workdir / "webserver.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def post(self, query: str) -> dict:
        request = urllib.request.Request(f"http://{HOST}:{self.port}/graphql", json.dumps({"query": query}).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)

    def start(self, timeout: float = 300) -> DagsterWebserver:
        home = self.workdir / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")
        env = {**os.environ, "DAGSTER_HOME": str(home), "ORCHESTRATOR_DATA_DIR": str(self.workdir / "data")}
        env.pop("DUCKDB_PATH", None)
        log = open(self.workdir / "webserver.log", "wb")  # noqa: SIM115 - the child holds it; closed below
        try:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).with_name("dagster-webserver")), "-w", "workspace.yaml",
                 "-h", HOST, "-p", str(self.port)],
                cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        # It listens only once the code location is up, which takes a while on a loaded machine.
        deadline = time.monotonic() + timeout
        while not (answers(self.port) and self._loaded()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dagster-webserver did not start:\n{self.log[-3000:]}")
            time.sleep(0.5)
        return self

    def _loaded(self) -> bool:
        try:
            entries = self.post(LOADED)["data"]["workspaceOrError"]["locationEntries"]
        except OSError:  # listening but not answering yet
            return False
        return [(e["name"], e["loadStatus"]) for e in entries] == [("orchestrator", "LOADED")]

    def stop(self) -> None:
        """SIGTERM to the whole group (the webserver and its code server), SIGKILL to what is left after 30 s."""
        if self.process is None:
            return
        group = self.process.pid  # start_new_session: the group is named after the webserver
        _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _signal_group(group, 0) and time.monotonic() < deadline:
            self.process.poll()  # reaps the webserver, else it stays in the group as a zombie
            time.sleep(0.1)
        _signal_group(group, signal.SIGKILL)
        self.process.wait()
        self.process = None


def _signal_group(group: int, sig: int) -> bool:
    """Whether any process of the group was there to receive sig."""
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        return False
    return True
