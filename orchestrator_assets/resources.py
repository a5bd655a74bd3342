"""Dagster resources: storage, cleaning engine and warehouse location, defaulting to the settings."""
from __future__ import annotations

from pathlib import Path

from dagster import Config, ConfigurableResource
from pydantic import Field

from .cleaning.engine import Engine
from .cleaning.engines import get_engine
from .settings import (
    SPARK_RUNTIMES,
    STORAGE_BACKENDS,
    WAREHOUSES,
    DatabricksSettings,
    SettingsError,
    StorageSettings,
    databricks_settings,
    duckdb_limits,
    load_settings,
    spark_runtime,
    storage_settings,
)
from .storage.backends import open_storage
from .storage.base import Storage


def _default(field: str):
    return lambda: getattr(storage_settings(), field)


class StorageLocation(Config):
    """Which backend, and where in it: the fields the storage resource and the layer IO managers share.

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

    def location_config(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in StorageLocation.model_fields}


class StorageResource(ConfigurableResource, StorageLocation):
    """Where the Medallion layers live by default, and the requests, audit and status objects always. The layer
    IO managers (io_managers.py) start from the same location; each can be moved per layer or per run."""

    def get(self) -> Storage:
        return open_storage(self.settings())


class CleaningEngineResource(ConfigurableResource):
    """Which engine carries out the cleaning-rule catalogue, and where Spark runs."""

    engine: str = Field(default_factory=lambda: load_settings().cleaning_engine)
    spark_runtime: str = Field(default_factory=spark_runtime,
                               description=f"Where the spark engine runs: {' or '.join(SPARK_RUNTIMES)}.")

    @property
    def on_databricks(self) -> bool:
        if self.spark_runtime not in SPARK_RUNTIMES:
            raise SettingsError(f"spark_runtime {self.spark_runtime!r} is not one of: {', '.join(SPARK_RUNTIMES)}")
        return self.engine == "spark" and self.spark_runtime == "databricks"

    def get(self) -> Engine:
        return get_engine(self.engine)


def _databricks(field: str):
    return lambda: getattr(databricks_settings(), field)


class DatabricksResource(ConfigurableResource):
    """The workspace and job cluster of SPARK_RUNTIME=databricks. Defaults from the environment (settings.py);
    the workspace credential is the Databricks SDK's own (DATABRICKS_TOKEN or an OAuth client), never config."""

    host: str = Field(default_factory=_databricks("host"), description="Workspace URL.")
    code_path: str = Field(default_factory=_databricks("code_path"), description="Folder of the uploaded bundle.")
    cluster_id: str = Field(default_factory=_databricks("cluster_id"), description="Existing cluster, if any.")
    spark_version: str = Field(default_factory=_databricks("spark_version"))
    node_type: str = Field(default_factory=_databricks("node_type"))
    min_workers: int = Field(default_factory=_databricks("min_workers"))
    max_workers: int = Field(default_factory=_databricks("max_workers"))
    secret_scope: str = Field(default_factory=_databricks("secret_scope"))
    secret_env: str = Field(default_factory=_databricks("secret_env"), description="NAME=secret-key,...")
    timeout_seconds: int = Field(default_factory=_databricks("timeout_seconds"))
    poll_seconds: float = Field(default=5.0, description="How often the run's state and messages are polled.")

    def settings(self) -> DatabricksSettings:
        return DatabricksSettings(self.host, self.code_path, self.cluster_id, self.spark_version, self.node_type,
                                  self.min_workers, self.max_workers, self.secret_scope, self.secret_env,
                                  self.timeout_seconds)

    def pipes_client(self):
        from dagster_databricks import PipesDatabricksClient, PipesDbfsMessageReader
        from databricks.sdk import WorkspaceClient

        if not self.host:
            raise SettingsError("SPARK_RUNTIME=databricks needs DATABRICKS_HOST")
        client = WorkspaceClient(host=self.host)
        return PipesDatabricksClient(client, poll_interval_seconds=self.poll_seconds,
                                     message_reader=PipesDbfsMessageReader(client=client, interval=self.poll_seconds))


class WarehouseResource(ConfigurableResource):
    """Where Gold lives: the embedded DuckDB file, or MySQL/MariaDB (MYSQL_* variables, password never config)."""

    warehouse: str = Field(default_factory=lambda: load_settings().warehouse,
                           description=f"One of: {', '.join(WAREHOUSES)}.")
    duckdb_path: str = Field(default_factory=lambda: str(load_settings().duckdb_path))

    def check(self) -> str:
        if self.warehouse not in WAREHOUSES:
            raise SettingsError(f"warehouse {self.warehouse!r} is not one of: {', '.join(WAREHOUSES)}")
        return self.warehouse

    def dbt_vars(self) -> dict[str, str]:
        """What dbt's profile reads from a build's vars (profiles.yml): the DuckDB file, its memory limit and
        spill folder."""
        if self.check() == "mysql":
            return {}
        path = Path(self.duckdb_path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        limits = duckdb_limits(path.parent)
        return {"duckdb_path": str(path), "duckdb_memory_limit": limits["memory_limit"],
                "duckdb_temp_directory": limits["temp_directory"]}
