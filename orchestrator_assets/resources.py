"""Dagster resources: storage, cleaning engine and warehouse location, defaulting to the settings."""
from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from .cleaning.engine import Engine
from .cleaning.engines import get_engine
from .settings import STORAGE_BACKENDS, StorageSettings, load_settings, storage_settings
from .storage.backends import open_storage
from .storage.base import Storage


def _default(field: str):
    return lambda: getattr(storage_settings(), field)


class StorageResource(ConfigurableResource):
    """Where the Medallion layers live: the target-cloud switch. Override per run in the launchpad.

    Defaults come from the environment (see settings.py); credentials never appear here.
    """

    backend: str = Field(default_factory=_default("backend"), description=f"One of: {', '.join(STORAGE_BACKENDS)}")
    root: str = Field(default_factory=_default("root"), description="Directory of the local backend.")
    prefix: str = Field(default_factory=_default("prefix"), description="Folder inside the container or bucket.")
    container: str = Field(default_factory=_default("container"), description="ADLS Gen2 container (file system).")
    account: str = Field(default_factory=_default("account"), description="Azure storage account name.")
    account_url: str = Field(default_factory=_default("account_url"), description="Azure Blob endpoint URL.")
    bucket: str = Field(default_factory=_default("bucket"), description="OSS bucket.")
    endpoint: str = Field(default_factory=_default("endpoint"), description="OSS region endpoint URL.")

    def settings(self) -> StorageSettings:
        return StorageSettings(self.backend, self.root, self.prefix, self.container, self.account,
                               self.account_url, self.bucket, self.endpoint)

    def get(self) -> Storage:
        return open_storage(self.settings())


class CleaningEngineResource(ConfigurableResource):
    """Which engine carries out the cleaning-rule catalogue."""

    engine: str = Field(default_factory=lambda: load_settings().cleaning_engine)

    def get(self) -> Engine:
        return get_engine(self.engine)


class WarehouseResource(ConfigurableResource):
    """Where Gold lives: the embedded DuckDB file (a MySQL target comes with its own issue)."""

    duckdb_path: str = Field(default_factory=lambda: str(load_settings().duckdb_path))

    def dbt_env(self) -> dict[str, str]:
        path = Path(self.duckdb_path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return {"DUCKDB_PATH": str(path)}
