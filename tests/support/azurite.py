"""Start the Azurite Blob emulator (installed by `npm ci` from package-lock.json) on 127.0.0.1."""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from .local_services import free_port

PROJECT = Path(__file__).resolve().parents[2]
EXECUTABLE = PROJECT / "node_modules" / ".bin" / "azurite-blob"
# Azurite's published development account: not a secret, the same on every machine.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class Azurite:
    """One emulator process; stop() kills it, start() again serves the same data if it persists to disk."""

    def __init__(self, workdir: Path, port: int | None = None, in_memory: bool = True):
        if not EXECUTABLE.exists():
            raise RuntimeError(f"{EXECUTABLE} is missing: run `npm ci` in {PROJECT} (make setup does)")
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.in_memory = in_memory
        self.process: subprocess.Popen | None = None

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
                f"BlobEndpoint={self.account_url};")

    def start(self) -> Azurite:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # The current SDK speaks a newer API version than Azurite knows; --skipApiVersionCheck lets it answer.
        args = [str(EXECUTABLE), "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
                "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"]
        args += ["--inMemoryPersistence"] if self.in_memory else ["--location", str(self.workdir)]
        self.process = subprocess.Popen(args, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Azurite exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Azurite did not listen on 127.0.0.1:{self.port} within 30 s")

    def stop(self) -> None:
        # SIGTERM, not SIGKILL: Azurite flushes its on-disk metadata on the way out, as a restarted service would
        # have it; requests in flight are cut off all the same.
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def create_container(self, name: str) -> None:
        from azure.storage.blob import BlobServiceClient

        BlobServiceClient.from_connection_string(self.connection_string).create_container(name)
