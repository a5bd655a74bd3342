"""Environment choice, in one place. Everything configurable comes from environment variables.

ORCHESTRATOR_DATA_DIR  where local storage and the DuckDB warehouse live (default: <project>/data)
STORAGE_BACKEND        local (cloud backends arrive with the multi-cloud issue)
CLEANING_ENGINE        pandas
WAREHOUSE              duckdb
DUCKDB_PATH            the warehouse file (default: <data dir>/warehouse.duckdb)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"

STORAGE_BACKENDS = ("local",)
WAREHOUSES = ("duckdb",)


class SettingsError(ValueError):
    pass


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower()
    if value not in allowed:
        raise SettingsError(f"{name}={value!r} is not supported; choose one of: {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    storage_backend: str
    cleaning_engine: str
    warehouse: str
    duckdb_path: Path

    @property
    def storage_root(self) -> Path:
        return self.data_dir / "storage"


def load_settings() -> Settings:
    from .cleaning.engines import ENGINES

    data_dir = Path(os.environ.get("ORCHESTRATOR_DATA_DIR", PROJECT_DIR / "data")).resolve()
    return Settings(
        data_dir=data_dir,
        storage_backend=_choice("STORAGE_BACKEND", "local", STORAGE_BACKENDS),
        cleaning_engine=_choice("CLEANING_ENGINE", "pandas", tuple(ENGINES)),
        warehouse=_choice("WAREHOUSE", "duckdb", WAREHOUSES),
        duckdb_path=Path(os.environ.get("DUCKDB_PATH", data_dir / "warehouse.duckdb")).resolve(),
    )
