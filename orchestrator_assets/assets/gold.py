"""Gold: the dbt project's marts, built per (user, job) partition from Silver Parquet."""

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    MetadataValue,
    Output,
    ResourceParam,
)
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from dagster_dbt.errors import DagsterDbtManifestNotFoundError

from ..cleaning.publish import require_silver
from ..dbt_project import dbt_project
from ..generation.bronze import read_manifest
from ..ids import split_key
from ..io_managers import BronzeIOManager, SilverIOManager
from ..partitions import job_partitions
from ..resources import WarehouseResource
from ..run_workers import watch_run_worker
from ..settings import SettingsError, load_settings, mysql_settings
from ..warehouse.mysql import layouts, load_partition
from ..warehouse.publish import GoldWarehouse, new_stage
from .gold_failures import build_failure
from .quality_metadata import dbt_tests_table

WAREHOUSE_POOL = "duckdb_warehouse"
# Beside this interpreter, whether or not the virtualenv is on PATH: the orchestrator-dbt wrapper runs the dbt
# installed there and dies with the step that started it (child_process.py).
DBT_BUILD_EXECUTABLE = str(Path(sys.executable).with_name("orchestrator-dbt"))
# A build folder left by a run killed mid-build is removed by a later build once it is this old.
STALE_BUILD_SECONDS = 3600
DBT_BUILDS_DIR = Path(tempfile.gettempdir()) / "orchestrator-dbt"


def dbt_resource(target: str | None = None) -> DbtCliResource:
    """dbt builds into the profile's target of this deployment's warehouse (WAREHOUSE, unless given); the
    connection settings are the profile's, read from the deployment's environment (MYSQL_*)."""
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(dbt_project.profiles_dir),
                          target=target or load_settings().warehouse, dbt_executable=DBT_BUILD_EXECUTABLE)


@contextmanager
def build_folder() -> Iterator[Path]:
    """dbt's target and log folder for one build: in the system's temporary directory, never in the checkout
    (dagster-dbt's default), deleted after the build.

    Each build needs its own (dagster-dbt reads that build's run_results.json); a build killed before its
    cleanup leaves one behind, which the next build removes once it is stale.
    """
    parent = DBT_BUILDS_DIR
    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.glob("build-*"):
        if time.time() - old.stat().st_mtime > STALE_BUILD_SECONDS:
            shutil.rmtree(old, ignore_errors=True)
    # Named after the process, so what one process leaves is told apart from other processes' live builds.
    path = Path(tempfile.mkdtemp(prefix=f"build-{os.getpid()}-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class GoldTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return AssetKey(["gold", dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "gold"

    def get_asset_check_spec(self, asset_spec: AssetSpec, manifest: Mapping[str, Any], unique_id: str,
                             project: DbtProject | None) -> AssetCheckSpec | None:
        # dagster-dbt 0.29 leaves dbt tests unpartitioned even on partitioned dbt_assets: every execution then
        # lands on the check as a whole, and one failing job paints all jobs red. Partitioned, each names its job.
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        return spec._replace(partitions_def=job_partitions) if spec is not None else None


def read_dbt_manifest() -> dict:
    """The manifest `dagster dev` writes at each load, and prepare-and-package before anything else starts."""
    dbt_project.prepare_if_dev()
    if not dbt_project.manifest_path.exists():
        raise DagsterDbtManifestNotFoundError(
            f"no dbt manifest at {dbt_project.manifest_path}: run `make manifest` (dagster-dbt project "
            "prepare-and-package --file orchestrator_assets/dbt_project.py) before loading the code location")
    return json.loads(dbt_project.manifest_path.read_text())


_DBT_MANIFEST = read_dbt_manifest()
SOURCE_TABLES = sorted({s["name"] for s in _DBT_MANIFEST["sources"].values()})
# The models stored as tables (the marts), by asset key: ephemeral models have no rows to count.
MARTS = {AssetKey(["gold", n["name"]]): n["alias"] for n in _DBT_MANIFEST["nodes"].values()
         if n["resource_type"] == "model" and n["config"]["materialized"] in ("table", "incremental")}


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    partitions_def=job_partitions,
    dagster_dbt_translator=GoldTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
    pool=WAREHOUSE_POOL,
)
def gold(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
         bronze_io_manager: ResourceParam[BronzeIOManager], silver_io_manager: ResourceParam[SilverIOManager]):
    """Build the marts for one partition; the marts replace that partition's rows only, and only when every dbt
    test of the build passed (warehouse/publish.py)."""
    user, job = split_key(context.partition_key)
    watch_run_worker(context.instance, context.run)
    # dbt's sources are not inputs (dbt_assets takes none), so Silver is found through its IO manager's store.
    store = silver_io_manager.store()
    manifest = read_manifest(bronze_io_manager.store(), user, job)
    missing = sorted(set(SOURCE_TABLES) - set(manifest.tables if manifest else ()))
    if missing:
        raise ValueError(f"Gold marts need the e-commerce tables; partition {context.partition_key} "
                         f"({manifest.spec_name if manifest else 'no Bronze'}) lacks: {', '.join(missing)}")
    if dbt.target != warehouse.check():
        raise SettingsError(f"the warehouse resource is {warehouse.warehouse!r} but the dbt resource builds its "
                            f"{dbt.target!r} target: give both the same warehouse (WAREHOUSE sets both)")
    current = require_silver(store, user, job)  # resolved once: the build reads one version throughout
    with store.local_view([current.key(t) for t in SOURCE_TABLES]) as root:
        yield from _build(context, dbt, warehouse, manifest, current, root)


def _build(context, dbt, warehouse, manifest, current, root):
    user, job = current.user, current.job
    # Silver as local files: the local backend's own, or a cloud download. DuckDB reads them in place; for MySQL
    # they are loaded into its staging tables first, replacing the partition's rows in one transaction.
    if warehouse.warehouse == "mysql":
        # The files, not tables: the load streams each one a record batch at a time.
        tables = {t: root / current.key(t) for t in SOURCE_TABLES}
        report = load_partition(mysql_settings(), user, job, tables, layouts(manifest.spec))
        how = ("LOAD DATA LOCAL INFILE" if report.method == "bulk"
               else f"batched inserts, since {report.fallback_reason}")
        context.log.info(f"loaded {sum(report.rows.values()):,} Silver rows into MySQL "
                         f"{mysql_settings().describe()} in {report.seconds:.1f}s by {how}")
    marts = gold_warehouse(warehouse)
    dropped = marts.drop_stale_stages()
    if dropped:
        context.log.info(f"dropped {len(dropped)} staged tables left by builds that died: {', '.join(dropped)}")
    # dbt builds the marts as staged tables and tests those; the real marts change only in publish() below.
    stage = new_stage()
    # The DuckDB file goes to dbt's profile as a var of this build, never through the process environment: a
    # process running several runs must not keep one run's warehouse.
    dbt_vars = {"silver_root": str(root / "silver"), "silver_version": current.version, "pipeline_user": user,
                "pipeline_job": job, "gold_stage": stage, **warehouse.dbt_vars()}
    events, failed, results = [], None, None
    try:
        with build_folder() as target:
            invocation = None
            try:
                invocation = dbt.cli(["build", "--vars", json.dumps(dbt_vars)], context=context, target_path=target)
                events.extend(invocation.stream())
            except Exception as err:  # noqa: BLE001 - raised again below, after what was built is reported
                failed = err
                results = read_run_results(invocation)
        if failed is not None:
            # The dbt tests' outcomes, not the staged marts' outputs: nothing of this build was published.
            yield from (e for e in events if not isinstance(e, Output | AssetMaterialization))
            failure = build_failure(context.partition_key, current.version, results)
            if failure is None:
                raise failed
            raise failure from failed
        # Counted in the publishing transaction, for this partition only: dagster-dbt's fetch_row_counts() would
        # count the staged tables (gone by then) or, in place, every partition built so far.
        # The marts this run selected: a subset run stages (and publishes) only those.
        selected = {key: table for key, table in MARTS.items() if key in context.selected_asset_keys}
        copied = marts.publish(list(selected.values()), stage, user, job)
    finally:
        try:
            marts.drop_stage(stage)
        except Exception as err:  # noqa: BLE001 - the build's own outcome matters more; a later build drops it
            context.log.warning(f"could not drop the staged tables of {stage} (a later build will): {err}")
    context.log.info(f"published {sum(copied.values()):,} Gold rows of {context.partition_key} "
                     f"into {len(copied)} marts")
    yield from with_partition_metadata(context, events, {key: copied[table] for key, table in selected.items()})


def gold_warehouse(warehouse: WarehouseResource) -> GoldWarehouse:
    if warehouse.warehouse == "mysql":
        return GoldWarehouse(mysql=mysql_settings())
    return GoldWarehouse(duckdb_path=Path(warehouse.duckdb_path).resolve())


def read_run_results(invocation) -> dict | None:
    """The build's run_results.json, or None when dbt stopped before writing it (a parse error, a crash)."""
    if invocation is None:
        return None
    try:
        return invocation.get_artifact("run_results.json")
    except Exception:  # noqa: BLE001 - a missing or unreadable artifact: the original error explains the failure
        return None


def with_partition_metadata(context: AssetExecutionContext, events: list, counts: dict[AssetKey, int]):
    """The build's events in their order; each mart's output also carries the partition's row count and the
    outcome of its dbt tests for this partition."""
    tests: dict[AssetKey, list[tuple[str, bool, str]]] = {}
    for event in events:
        if isinstance(event, AssetCheckResult):
            severity = event.severity.value.lower() if event.severity else "error"
            tests.setdefault(event.asset_key, []).append((event.check_name, event.passed, severity))
    for event in events:
        if isinstance(event, Output):
            key = context.asset_key_for_output(event.output_name)
            if key in counts:
                mart_tests = tests.get(key, [])
                context.log.info(f"{key.to_user_string()}: {counts[key]:,} rows for {context.partition_key}, "
                                 f"{sum(not t[1] for t in mart_tests)} of {len(mart_tests)} dbt tests failed")
                event = event.with_metadata({
                    **event.metadata, "dagster/row_count": counts[key],
                    "dbt_tests": MetadataValue.md(dbt_tests_table(mart_tests)),
                    "dbt_tests_failed": sum(not t[1] for t in mart_tests),
                })
        yield event

