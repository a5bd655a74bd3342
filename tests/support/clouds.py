"""Both cloud emulators on 127.0.0.1 and the environment that points the project at them.

Tests and benchmarks use this one harness: Azurite for ADLS Gen2 (Blob API) and moto behind the OSS dialect
layer for OSS. Each `env()` names its own container or bucket, so callers never see each other's objects.
"""
from __future__ import annotations

import itertools
import secrets
from pathlib import Path

from orchestrator_assets.settings import StorageSettings, patched_env
from orchestrator_assets.storage.backends import open_storage
from orchestrator_assets.storage.base import Storage

from .azurite import ACCOUNT, ACCOUNT_KEY, Azurite
from .oss_dialect import OssDialectServer, create_bucket, start_moto

OSS_KEY_ID = "LTAI-test-key-id"
OSS_SECRET = secrets.token_urlsafe(24)  # made up per run: nothing secret lives in the repo
_names = itertools.count()


class Clouds:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.azurite = Azurite(workdir / "azurite")
        self.moto = None
        self.oss: OssDialectServer | None = None

    def start(self) -> Clouds:
        self.azurite.start()
        self.moto, moto_endpoint = start_moto()
        self.moto_endpoint = moto_endpoint
        self.oss = OssDialectServer(moto_endpoint, OSS_KEY_ID, OSS_SECRET).start()
        return self

    def stop(self) -> None:
        if self.oss:
            self.oss.stop()
        if self.moto:
            self.moto.stop()
        self.azurite.stop()

    def new_place(self, backend: str) -> str:
        """A fresh, empty container or bucket; its name."""
        name = f"t{next(_names)}-{secrets.token_hex(3)}"
        if backend == "adls":
            self.azurite.create_container(name)
        elif backend == "oss":
            create_bucket(self.moto_endpoint, name)
        return name

    def env(self, backend: str, place: str | None = None, prefix: str = "") -> dict[str, str]:
        """Environment variables for STORAGE_BACKEND=backend, as a user would set them."""
        if backend == "local":
            return {"STORAGE_BACKEND": "local", "STORAGE_PREFIX": prefix}
        place = place or self.new_place(backend)
        if backend == "adls":
            return {"STORAGE_BACKEND": "adls", "AZURE_STORAGE_CONTAINER": place, "AZURE_STORAGE_ACCOUNT": ACCOUNT,
                    "AZURE_STORAGE_ACCOUNT_URL": self.azurite.account_url, "AZURE_STORAGE_KEY": ACCOUNT_KEY,
                    "STORAGE_PREFIX": prefix}
        return {"STORAGE_BACKEND": "oss", "OSS_BUCKET": place, "OSS_ENDPOINT": self.oss.endpoint,
                "OSS_ACCESS_KEY_ID": OSS_KEY_ID, "OSS_ACCESS_KEY_SECRET": OSS_SECRET, "STORAGE_PREFIX": prefix}

    def settings(self, backend: str, root: Path, env: dict[str, str]) -> StorageSettings:
        return StorageSettings(backend=backend, root=str(root), prefix=env.get("STORAGE_PREFIX", ""),
                               container=env.get("AZURE_STORAGE_CONTAINER", ""), account=ACCOUNT,
                               account_url=self.azurite.account_url, bucket=env.get("OSS_BUCKET", ""),
                               endpoint=self.oss.endpoint)


def open_backend(clouds: Clouds, backend: str, root: Path, prefix: str = "") -> tuple[Storage, dict[str, str]]:
    """A checked, empty backend and the env that opens it."""
    env = clouds.env(backend, prefix=prefix)
    with patched_env(env):
        return open_storage(clouds.settings(backend, root, env)), env
