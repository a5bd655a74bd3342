"""The Silver step as it runs on a Databricks cluster: one partition, Bronze to Silver, reported through Pipes.

The same `clean_partition` and rule catalogue as every local run, on the cluster's Spark session, then the same
checks (verdict.checked_silver) beside the data: the report carries figures, never a table. Of Dagster it
imports only dagster-pipes, so the cluster needs the code bundle and the few libraries in
databricks.CLUSTER_PACKAGES, not the orchestrator's dependencies.

Started by the bundle's entry script (databricks.ENTRY_SCRIPT) with `--partition <user>.<job>`. The storage
location comes as the Pipes extra "storage" (the run's storage resource, launchpad overrides included); its
credentials come from the cluster's environment, which the job spec fills from a secret scope.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager

from dagster_pipes import (
    DAGSTER_PIPES_CONTEXT_CLI_ARGUMENT,
    DagsterPipesError,
    PipesBufferedFilesystemMessageWriterChannel,
    PipesCliArgsParamsLoader,
    PipesDbfsContextLoader,
    PipesDbfsMessageWriter,
    PipesEnvVarParamsLoader,
    open_dagster_pipes,
)

from ..generation.bronze import read_manifest
from ..ids import split_key
from ..settings import StorageSettings
from ..storage.backends import open_storage
from .publish import require_silver
from .run import clean_partition
from .spark_engine import SparkEngine
from .verdict import checked_silver


def fuse_path(path: str) -> str:
    """A DBFS path as a file path: DBFS is mounted at /dbfs on every cluster (DBFS_FUSE_ROOT elsewhere)."""
    root = os.environ.get("DBFS_FUSE_ROOT", "/dbfs")
    return os.path.join(root, path.removeprefix("dbfs:").lstrip("/"))


class DbfsContextLoader(PipesDbfsContextLoader):
    @contextmanager
    def load_context(self, params):
        with open(fuse_path(params["path"]), encoding="utf-8") as f:
            yield json.load(f)


class DbfsMessageWriter(PipesDbfsMessageWriter):
    def make_channel(self, params):
        return PipesBufferedFilesystemMessageWriterChannel(path=fuse_path(params["path"]), interval=self.interval)

    def get_opened_extras(self):
        # The base class reads the cluster's log-delivery settings from Databricks-only Spark conf keys; without
        # them (a cluster with log delivery off, or a plain Spark session) there are simply no log files to follow.
        from pyspark.errors import PySparkException

        try:
            return super().get_opened_extras()
        except (DagsterPipesError, PySparkException):
            return {}


def params_loader():
    # A new job cluster gets the Pipes parameters as environment variables; an existing cluster cannot, so
    # PipesDatabricksClient passes them as task arguments instead.
    return PipesCliArgsParamsLoader() if DAGSTER_PIPES_CONTEXT_CLI_ARGUMENT in sys.argv else PipesEnvVarParamsLoader()


def spark_session():
    from pyspark.sql import SparkSession

    # On a cluster this is the cluster's session, already configured; the engine leaves it running.
    return SparkSession.builder.getOrCreate()


def clean(partition: str, storage: StorageSettings, spark, log) -> dict:
    user, job = split_key(partition)
    store = open_storage(storage)
    manifest = read_manifest(store, user, job)
    if manifest is None:
        raise FileNotFoundError(f"no Bronze manifest for {partition} in {store.location}")
    result = clean_partition(store, manifest, SparkEngine(spark=spark))
    log.info(f"{partition}: {result.silver_rows:,} Silver rows, {result.quarantined_rows:,} quarantined, "
             f"{result.seconds:.1f}s on Spark {spark.version}")
    # Checked here, beside the data: the orchestrator gets the figures, never a table.
    checked = checked_silver(store, manifest, require_silver(store, user, job), result.rules)
    return {"result": result.to_json(), "checked": checked}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partition", required=True)
    args, _ = parser.parse_known_args(argv)  # the rest are Pipes' own arguments
    spark = spark_session()  # first: the Pipes message writer asks the active session where cluster logs go
    # Python UDF workers on the executors import this package too: ship them the bundle.
    code = os.environ.get("ORCHESTRATOR_CODE_ZIP")
    if code:
        spark.sparkContext.addPyFile(code)
    with open_dagster_pipes(context_loader=DbfsContextLoader(), message_writer=DbfsMessageWriter(),
                            params_loader=params_loader()) as pipes:
        storage = StorageSettings(**pipes.get_extra("storage"))
        pipes.report_custom_message(clean(args.partition, storage, spark, pipes.log))
