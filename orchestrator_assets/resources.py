"""Dagster resources: storage, cleaning engine and warehouse location, defaulting to the settings."""
from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from .cleaning.engine import Engine
from .cleaning.engines import get_engine
from .settings import STORAGE_BACKENDS, load_settings
from .storage.base import Storage
from .storage.local import LocalStorage


class StorageResource(ConfigurableResource):
    """Where the Medallion layers live. Override per run in the launchpad."""

    backend: str = Field(default_factory=lambda: load_settings().storage_backend,
                         description=f"One of: {', '.join(STORAGE_BACKENDS)}")
    root: str = Field(default_factory=lambda: str(load_settings().storage_root),
                      description="Local directory (local backend).")

    def get(self) -> Storage:
        if self.backend != "local":
            raise ValueError(f"storage backend {self.backend!r} is not available; choose one of {STORAGE_BACKENDS}")
        return LocalStorage(self.root)


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
