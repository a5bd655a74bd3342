"""Environment choice, in one place. Everything configurable comes from environment variables.

ORCHESTRATOR_DATA_DIR  where local storage and the DuckDB warehouse live (default: <project>/data)
STORAGE_BACKEND        local | adls | oss
SYNC_TARGET_BACKEND    where the sync job copies to by default (default: local)
STORAGE_PREFIX         folder inside the container or bucket that holds the layers (default: none)
CLEANING_ENGINE        pandas
WAREHOUSE              duckdb
DUCKDB_PATH            the warehouse file (default: <data dir>/warehouse.duckdb)

Azure (adls): AZURE_STORAGE_CONTAINER, and AZURE_STORAGE_ACCOUNT or AZURE_STORAGE_ACCOUNT_URL; credentials from
AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, else DefaultAzureCredential
(AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, managed identity, az login).
Alibaba Cloud (oss): OSS_BUCKET, OSS_ENDPOINT (e.g. https://oss-cn-hangzhou.aliyuncs.com); credentials from
OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET, plus OSS_SECURITY_TOKEN for an STS token.
Secrets are read here when a backend is opened and are never part of resource config, run config or logs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"

STORAGE_BACKENDS = ("local", "adls", "oss")
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
    sync_target_backend: str

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
        sync_target_backend=_choice("SYNC_TARGET_BACKEND", "local", STORAGE_BACKENDS),
    )


@dataclass(frozen=True)
class StorageSettings:
    """Where the layers live; everything but the secrets, which are read from the environment on use."""

    backend: str
    root: str = ""
    prefix: str = ""
    container: str = ""
    account: str = ""
    account_url: str = ""
    bucket: str = ""
    endpoint: str = ""


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def azure_account_url() -> str:
    if _env("AZURE_STORAGE_ACCOUNT_URL"):
        return _env("AZURE_STORAGE_ACCOUNT_URL")
    return f"https://{_env('AZURE_STORAGE_ACCOUNT')}.blob.core.windows.net" if _env("AZURE_STORAGE_ACCOUNT") else ""


def storage_settings(backend: str | None = None) -> StorageSettings:
    """The settings of one backend (by default the one STORAGE_BACKEND names)."""
    chosen = backend or _choice("STORAGE_BACKEND", "local", STORAGE_BACKENDS)
    if chosen not in STORAGE_BACKENDS:
        raise SettingsError(f"storage backend {chosen!r} is not supported; choose one of: {', '.join(STORAGE_BACKENDS)}")
    return StorageSettings(
        backend=chosen, root=str(load_settings().storage_root), prefix=_env("STORAGE_PREFIX"),
        container=_env("AZURE_STORAGE_CONTAINER"), account=_env("AZURE_STORAGE_ACCOUNT"),
        account_url=azure_account_url(),
        bucket=_env("OSS_BUCKET"), endpoint=_env("OSS_ENDPOINT"),
    )


def azure_secrets() -> dict[str, str]:
    """Whichever Azure credential is set, by precedence; empty means DefaultAzureCredential."""
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN"):
        if _env(name):
            return {name: _env(name)}
    return {}


def oss_secrets() -> dict[str, str]:
    return {name: _env(name) for name in ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SECURITY_TOKEN")}
