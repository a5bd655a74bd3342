"""Silver: the rule catalogue applied to a job's Bronze, with quarantine and cleaning accuracy."""

import json

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
    multi_asset,
)

from ..cleaning.accuracy import MAX_MISSED_RATE, MAX_WRONGLY_CHANGED_RATE, MAX_WRONGLY_QUARANTINED_RATE
from ..cleaning.databricks import run_on_databricks
from ..cleaning.engine import sum_by_rule
from ..cleaning.publish import SilverVersion, require_silver
from ..cleaning.run import PartitionResult, clean_partition
from ..cleaning.verdict import NO_LEDGER, Verdict, checked_silver
from ..generation.integrity import BronzeIntegrityError
from ..handles import LEDGER_TABLE, QUARANTINE_TABLE, LayerHandle, silver_handle
from ..ids import split_key
from ..io_managers import BRONZE_IO, SILVER_IO, SilverIOManager
from ..partitions import job_partitions
from ..resources import CleaningEngineResource, DatabricksResource
from ..run_workers import watch_run_worker
from ..storage.base import Storage
from .bronze import LEDGER, TABLES, absent_table, bronze_key, job_check
from .quality_metadata import (
    accuracy_metadata,
    oracle_metadata,
    quarantine_table,
    rules_table,
)

QUARANTINE = AssetKey(["silver", QUARANTINE_TABLE])


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
                     kinds={"parquet", "pandas"}, description=f"Cleaned, typed, de-duplicated {t}."
                     ).with_io_manager_key(SILVER_IO) for t in TABLES]
    + [AssetSpec(QUARANTINE, deps=[bronze_key(t) for t in TABLES] + [LEDGER], partitions_def=job_partitions,
                 group_name="silver", kinds={"parquet"},
                 description="Rows that could not be repaired, with the rule and the reason."
                 ).with_io_manager_key(SILVER_IO)],
    # Bronze arrives as handles (manifest and part keys, no rows), loaded by the Bronze IO manager even when
    # Bronze is not part of the run.
    ins={t: AssetIn(bronze_key(t), input_manager_key=BRONZE_IO) for t in [*TABLES, LEDGER_TABLE]},
    check_specs=[job_check(c, silver_key(t), d) for t in TABLES for c, d in TABLE_CHECKS.items()]
    + [job_check("cleaning_accuracy", QUARANTINE, (
        f"Against the error ledger: at most {MAX_MISSED_RATE:.0%} of each error kind missed, at most "
        f"{MAX_WRONGLY_CHANGED_RATE:.1%} of clean values changed, at most {MAX_WRONGLY_QUARANTINED_RATE:.1%} of clean "
        f"rows quarantined without cause. Bronze without a ledger ({NO_LEDGER}): no Silver value fails the "
        "oracles (valid phone and e-mail, required values, ranges, unique and resolving keys)."))],
    partitions_def=job_partitions,
)
def silver(context: AssetExecutionContext, cleaning: CleaningEngineResource, databricks: DatabricksResource,
           silver_io_manager: ResourceParam[SilverIOManager], **bronze: LayerHandle):
    """Clean every Bronze table of the job with the configured engine."""
    user, job = split_key(context.partition_key)
    watch_run_worker(context.instance, context.run)
    # Reads Bronze where its handles point, writes Silver where silver_io_manager says.
    store, manifest = silver_io_manager.cleaning_store(bronze)
    if cleaning.on_databricks:
        # The cluster writes Silver and checks it (same clean_partition, same checks): only the figures come back.
        result, checked = run_on_databricks(context, databricks.pipes_client(), databricks.settings(),
                                            silver_io_manager.remote_settings(store))
        current = require_silver(store, user, job)
        if checked["version"] != current.version:
            raise Failure(f"Silver of {context.partition_key} changed while the cluster checked it (checked "
                          f"{checked['version']}, now {current.version}): run the Silver step again")
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
        current = require_silver(store, user, job)  # resolved once: every check below reads this version
        checked = checked_silver(store, manifest, current, result.rules)
    context.log.info(f"{result.engine}: {result.silver_rows:,} Silver rows, {result.quarantined_rows:,} quarantined, "
                     f"{result.seconds:.1f}s")
    for table in TABLES:
        if table in manifest.tables:
            stats = result.tables[table]
            context.log.info(f"silver/{table}: {stats['bronze_rows']:,} Bronze rows -> {stats['silver_rows']:,} "
                             f"Silver, {stats['quarantined_rows']:,} quarantined")
            yield from _table_results(result, table, store, current, checked["facts"][table])
        else:
            yield from absent_table(silver_key(table), TABLE_CHECKS)
    verdict = Verdict.from_json(checked["verdict"])
    store.put_bytes(current.accuracy_report, json.dumps(verdict.report, indent=2).encode())
    per_kind = accuracy_metadata(verdict.ledger) if verdict.ledger is not None else {}
    per_column = oracle_metadata(verdict.oracles)
    ledger_counts = {} if verdict.ledger is None else {
        "errors_injected": sum(k["injected"] for k in verdict.ledger.kinds.values()),
        "errors_missed": sum(k["missed"] for k in verdict.ledger.kinds.values()),
        "clean_values_wrongly_changed": verdict.ledger.wrongly_changed}
    yield MaterializeResult(asset_key=QUARANTINE, value=silver_handle(store, current, QUARANTINE_TABLE), metadata={
        "rows": result.quarantined_rows, "engine": result.engine, "cleaning_seconds": round(result.seconds, 2),
        "quarantine_by_rule": MetadataValue.md(quarantine_table(checked["quarantine"])),
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


def _table_results(result: PartitionResult, table: str, store: Storage, current: SilverVersion, facts: dict):
    """facts: the table's entry of verdict.table_facts (footer schema, duplicate keys)."""
    stats = result.tables[table]
    rules = sum_by_rule(r for r in result.rules if r["table"] == table)
    yield MaterializeResult(asset_key=silver_key(table), value=silver_handle(store, current, table), metadata={
        "rows": stats["silver_rows"], "bronze_rows": stats["bronze_rows"], "quarantined": stats["quarantined_rows"],
        "bytes": stats["silver_bytes"], "path": MetadataValue.path(store.uri(current.key(table))),
        "rules_table": MetadataValue.md(rules_table(rules)), "rules": MetadataValue.json(rules),
    })
    yield AssetCheckResult(asset_key=silver_key(table), check_name="schema_matches_contract",
                           passed=facts["schema_matches"], metadata={"schema": MetadataValue.text(facts["schema"])})
    yield AssetCheckResult(asset_key=silver_key(table), check_name="primary_key_unique",
                           passed=facts["duplicate_keys"] == 0, metadata={"duplicate_keys": facts["duplicate_keys"]})
    balance = stats["bronze_rows"] - stats["silver_rows"] - stats["quarantined_rows"]
    yield AssetCheckResult(asset_key=silver_key(table), check_name="rows_reconcile", passed=balance == 0,
                           metadata={"bronze": stats["bronze_rows"], "silver": stats["silver_rows"],
                                     "quarantined": stats["quarantined_rows"], "unaccounted": balance})
