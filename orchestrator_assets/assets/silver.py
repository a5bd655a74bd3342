"""Silver: the rule catalogue applied to a job's Bronze, with quarantine and cleaning accuracy."""

import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from ..cleaning.accuracy import MAX_MISSED_RATE, MAX_WRONGLY_CHANGED_RATE, MAX_WRONGLY_QUARANTINED_RATE
from ..cleaning.catalogue import plan_table
from ..cleaning.databricks import run_on_databricks
from ..cleaning.engine import silver_schema, staged_schema, sum_by_rule
from ..cleaning.publish import SilverVersion, require_silver
from ..cleaning.run import PartitionResult, clean_partition, read_silver
from ..cleaning.sql_rules import Dialect
from ..cleaning.verdict import NO_LEDGER, judge
from ..generation.bronze import Manifest, read_manifest
from ..generation.integrity import BronzeIntegrityError
from ..generation.manifest import ManifestError
from ..ids import split_key
from ..partitions import job_partitions
from ..resources import CleaningEngineResource, DatabricksResource, StorageResource
from ..run_workers import watch_run_worker
from ..storage.base import Storage
from .bronze import LEDGER, TABLES, absent_table, bronze_key, job_check
from .quality_metadata import (
    accuracy_metadata,
    oracle_metadata,
    quarantine_counts,
    quarantine_table,
    rules_table,
)

QUARANTINE = AssetKey(["silver", "quarantine"])

TABLE_CHECKS = {
    "schema_matches_contract": "Column names and types equal the Silver contract of the spec.",
    "primary_key_unique": "No primary key appears twice.",
    "rows_reconcile": "Bronze rows = Silver rows + quarantined rows: nothing vanished.",
}


def silver_key(table: str) -> AssetKey:
    return AssetKey(["silver", table])


@multi_asset(
    name="silver",
    specs=[AssetSpec(silver_key(t), deps=[bronze_key(t)], partitions_def=job_partitions, group_name="silver",
                     kinds={"parquet", "pandas"}, description=f"Cleaned, typed, de-duplicated {t}.")
           for t in TABLES]
    + [AssetSpec(QUARANTINE, deps=[bronze_key(t) for t in TABLES] + [LEDGER], partitions_def=job_partitions,
                 group_name="silver", kinds={"parquet"},
                 description="Rows that could not be repaired, with the rule and the reason.")],
    check_specs=[job_check(c, silver_key(t), d) for t in TABLES for c, d in TABLE_CHECKS.items()]
    + [job_check("cleaning_accuracy", QUARANTINE, (
        f"Against the error ledger: at most {MAX_MISSED_RATE:.0%} of each error kind missed, at most "
        f"{MAX_WRONGLY_CHANGED_RATE:.1%} of clean values changed, at most {MAX_WRONGLY_QUARANTINED_RATE:.1%} of clean "
        f"rows quarantined without cause. Bronze without a ledger ({NO_LEDGER}): no Silver value fails the "
        "oracles (valid phone and e-mail, required values, ranges, unique and resolving keys)."))],
    partitions_def=job_partitions,
)
def silver(context: AssetExecutionContext, storage: StorageResource, cleaning: CleaningEngineResource,
           databricks: DatabricksResource):
    """Clean every Bronze table of the job with the configured engine."""
    user, job = split_key(context.partition_key)
    watch_run_worker(context.instance, context.run)
    store = storage.get()
    try:
        manifest = read_manifest(store, user, job)
    except ManifestError as err:
        # A manifest with problems has them on a retry too: fail now, naming each field.
        raise Failure(description=str(err), allow_retries=False) from err
    if manifest is None:
        raise FileNotFoundError(f"no Bronze manifest for {context.partition_key}: materialise Bronze first")
    if cleaning.on_databricks:
        # The cluster writes Silver itself (same clean_partition); the checks below read it back as for any engine.
        result = run_on_databricks(context, databricks.pipes_client(), databricks.settings(), storage.settings())
    else:
        engine = cleaning.get()
        try:
            result = clean_partition(store, manifest, engine)
        except BronzeIntegrityError as err:
            # Bronze that differs from its manifest differs on a retry too: fail now, naming the parts.
            raise Failure(description=str(err), allow_retries=False) from err
        finally:
            # A Spark engine holds a session for the run's tables; nothing else holds anything.
            getattr(engine, "close", lambda: None)()
    context.log.info(f"{result.engine}: {result.silver_rows:,} Silver rows, {result.quarantined_rows:,} quarantined, "
                     f"{result.seconds:.1f}s")
    current = require_silver(store, user, job)  # resolved once: every table below comes from this version
    silver_tables = {t: read_silver(store, t, user, job, current=current) for t in manifest.tables}
    quarantine = {t: read_silver(store, t, user, job, quarantine=True, current=current) for t in manifest.tables}
    for table in TABLES:
        if table in manifest.tables:
            stats = result.tables[table]
            context.log.info(f"silver/{table}: {stats['bronze_rows']:,} Bronze rows -> {stats['silver_rows']:,} "
                             f"Silver, {stats['quarantined_rows']:,} quarantined")
            yield from _table_results(manifest, result, table, store, current)
        else:
            yield from absent_table(silver_key(table), TABLE_CHECKS)
    verdict = judge(store, manifest, current, result.rules, silver_tables, quarantine)
    store.put_bytes(current.accuracy_report, json.dumps(verdict.report, indent=2).encode())
    per_kind = accuracy_metadata(verdict.ledger) if verdict.ledger is not None else {}
    per_column = oracle_metadata(verdict.oracles)
    ledger_counts = {} if verdict.ledger is None else {
        "errors_injected": sum(k["injected"] for k in verdict.ledger.kinds.values()),
        "errors_missed": sum(k["missed"] for k in verdict.ledger.kinds.values()),
        "clean_values_wrongly_changed": verdict.ledger.wrongly_changed}
    yield MaterializeResult(asset_key=QUARANTINE, metadata={
        "rows": result.quarantined_rows, "engine": result.engine, "cleaning_seconds": round(result.seconds, 2),
        "quarantine_by_rule": MetadataValue.md(quarantine_table(quarantine_counts(quarantine))),
        "rules": MetadataValue.md(rules_table(result.by_rule())),
        **per_kind, **per_column, **ledger_counts, "ledger": verdict.ledger is not None,
        "accuracy": MetadataValue.json(verdict.report),
        "report": MetadataValue.path(store.uri(current.cleaning_report)), "silver_version": current.version,
    })
    failures = verdict.report["failures"]
    yield AssetCheckResult(asset_key=QUARANTINE, check_name="cleaning_accuracy", passed=verdict.passed,
                           description=verdict.description,
                           metadata={**per_kind, **per_column, "ledger": verdict.ledger is not None,
                                     "failures": MetadataValue.json(failures)})


def _table_results(manifest: Manifest, result: PartitionResult, table: str, store: Storage, current: SilverVersion):
    plan = plan_table(manifest.spec, table)
    stats = result.tables[table]
    rules = sum_by_rule(r for r in result.rules if r["table"] == table)
    yield MaterializeResult(asset_key=silver_key(table), metadata={
        "rows": stats["silver_rows"], "bronze_rows": stats["bronze_rows"], "quarantined": stats["quarantined_rows"],
        "bytes": stats["silver_bytes"], "path": MetadataValue.path(store.uri(current.key(table))),
        "rules_table": MetadataValue.md(rules_table(rules)), "rules": MetadataValue.json(rules),
    })
    expected = staged_schema(silver_schema(plan))
    schema, dupes = _file_facts(store, current.key(table), plan.primary_key)
    yield AssetCheckResult(asset_key=silver_key(table), check_name="schema_matches_contract",
                           passed=schema.equals(expected), metadata={"schema": MetadataValue.text(str(schema))})
    yield AssetCheckResult(asset_key=silver_key(table), check_name="primary_key_unique", passed=dupes == 0,
                           metadata={"duplicate_keys": dupes})
    balance = stats["bronze_rows"] - stats["silver_rows"] - stats["quarantined_rows"]
    yield AssetCheckResult(asset_key=silver_key(table), check_name="rows_reconcile", passed=balance == 0,
                           metadata={"bronze": stats["bronze_rows"], "silver": stats["silver_rows"],
                                     "quarantined": stats["quarantined_rows"], "unaccounted": balance})


def _file_facts(store: Storage, key: str, primary_key: str) -> tuple[pa.Schema, int]:
    """The published file's schema (from the Parquet footer) and its rows minus distinct keys (counted by DuckDB;
    a null key counts as a duplicate too), from one local view of the file: no table is read into memory."""
    with store.local_view([key]) as root, store.scratch() as spill:
        path = root / key
        schema = pq.read_schema(path).remove_metadata()
        con = duckdb.connect(config={"memory_limit": "512MB", "temp_directory": str(spill)})
        try:
            column = Dialect().q(primary_key)
            dupes = con.execute(f"SELECT COUNT(*) - COUNT(DISTINCT {column}) FROM read_parquet(?)",
                                [str(path)]).fetchone()[0]
        finally:
            con.close()
    return schema, dupes
