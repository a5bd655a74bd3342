"""Bronze: generate a job's dirty tables, the error ledger and the manifest."""

import warnings

import duckdb
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
    multi_asset,
)
from dagster._utils.warnings import PreviewWarning
from pydantic import Field

from ..generation.bronze import Manifest, ledger_kinds, write_bronze
from ..generation.generator import stream
from ..generation.spec import load_spec
from ..handles import LEDGER_TABLE, bronze_handle
from ..ids import PartitionKeyError, split_key
from ..io_managers import BRONZE_IO, BronzeIOManager
from ..partitions import job_partitions
from ..requests import JobRequest, RequestError, build_request, load_request, save_request
from ..resources import StorageResource
from ..run_workers import watch_run_worker
from ..storage.base import Storage
from ..storage.layered import LayeredStorage

TABLES = list(load_spec().tables)
LEDGER = AssetKey(["bronze", LEDGER_TABLE])


def bronze_key(table: str) -> AssetKey:
    return AssetKey(["bronze", table])


def job_check(name: str, asset: AssetKey, description: str) -> AssetCheckSpec:
    """A check partitioned like its asset: each execution records its job, so one bad job turns only its own
    checks red. (Dagster 1.13 calls partitioned checks a preview and warns once per check at every import.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return AssetCheckSpec(name, asset=asset, description=description, partitions_def=job_partitions)


class JobConfig(Config):
    """Used only when the partition has no stored request yet (a launchpad run on a new partition)."""

    rows: int = Field(100_000, description="Rows of the anchor table (orders for the built-in spec).")
    seed: int = Field(42, description="Same seed + spec + user + job = byte-identical Bronze.")
    spec_path: str | None = Field(None, description="YAML/JSON dataset spec; empty = built-in e-commerce.")
    compression: str = Field("none", description="none or gzip.")


def resolve_request(storage: Storage, user: str, job: str, config: JobConfig) -> JobRequest:
    stored = load_request(storage, user, job)
    if stored is not None:
        return stored
    request = build_request(user, job, config.rows, config.seed, config.spec_path, config.compression)
    save_request(storage, request)
    return request


def absent_table(asset_key: AssetKey, check_names: list[str]):
    """A custom spec may lack a built-in table: for that partition the table is empty, and its checks say so.

    (Skipping the output instead would make Dagster skip every downstream step.)
    """
    yield MaterializeResult(asset_key=asset_key, metadata={"rows": 0, "in_spec": False})
    for name in check_names:
        yield AssetCheckResult(asset_key=asset_key, check_name=name, passed=True,
                               description="not applicable: the job's spec has no such table",
                               metadata={"applicable": False})


def _count_lines(manifest: Manifest, storage: Storage, table: str) -> tuple[int, list[str]]:
    parts = [p["key"] for p in manifest.tables[table]["parts"]]
    with storage.local_view(parts) as root, duckdb.connect() as con:
        files = [str(root / k) for k in parts]
        rows = con.execute(f"SELECT count(*) FROM read_json({files!r}, format='newline_delimited', "
                           f"columns={{'_': 'VARCHAR'}})").fetchone()[0]
        keys = con.execute(f"SELECT json_keys(j) FROM read_json_objects({files[0]!r}) t(j) LIMIT 1").fetchone()
    return rows, list(keys[0]) if keys else []


@multi_asset(
    name="bronze",
    specs=[AssetSpec(bronze_key(t), partitions_def=job_partitions, group_name="bronze", kinds={"json"},
                     description=f"Raw {t} records with injected data-quality errors (JSON Lines)."
                     ).with_io_manager_key(BRONZE_IO) for t in TABLES]
    + [AssetSpec(LEDGER, partitions_def=job_partitions, group_name="bronze", kinds={"parquet"},
                 description="Every injected error: table, row key, column, kind, clean and dirty value."
                 ).with_io_manager_key(BRONZE_IO)],
    check_specs=[job_check(c, bronze_key(t), d) for t in TABLES for c, d in [
        ("rows_match_manifest", "Lines on storage equal the row count the manifest records."),
        ("columns_match_spec", "Records carry exactly the columns the spec emits."),
    ]],
    partitions_def=job_partitions,
)
def bronze(context: AssetExecutionContext, config: JobConfig, storage: StorageResource,
           bronze_io_manager: ResourceParam[BronzeIOManager]):
    """Generate the job's dataset and publish it to Bronze (read-only once written), where bronze_io_manager
    says; the request stays with the storage resource, where submissions and sensors find it."""
    user, job = split_key(context.partition_key)
    if not context.instance.has_dynamic_partition(job_partitions.name, context.partition_key):
        # A run may name a key nobody added (the GraphQL API does not check): write nothing for it.
        raise PartitionKeyError(f"partition {context.partition_key!r} does not exist in '{job_partitions.name}': "
                                "add it first (orchestrator submit does)")
    watch_run_worker(context.instance, context.run)
    store = LayeredStorage({"bronze": bronze_io_manager.store()}, storage.get(), writes="bronze")
    try:
        request = resolve_request(store, user, job, config)
    except RequestError as err:
        raise RequestError(f"partition {context.partition_key}: {err}") from None
    missing = [t for t in request.spec.tables if t not in TABLES]
    if missing:
        context.log.warning(f"spec tables without a Bronze asset (written, not shown in the graph): {missing}")
    dataset = stream(request.spec, request.rows, request.seed, user, job)
    manifest, written = write_bronze(store, dataset, user, job, request.rows, request.compression)
    context.log.info(f"Bronze {'written' if written else 'already present, unchanged'}: "
                     f"{manifest.total_rows:,} rows in {len(manifest.tables)} tables")
    kinds = ledger_kinds(store, manifest)
    for table in TABLES:
        if table not in manifest.tables:
            yield from absent_table(bronze_key(table), ["rows_match_manifest", "columns_match_spec"])
            continue
        info = manifest.tables[table]
        table_kinds = {k["error_kind"]: k["row_key_count"] for k in kinds if k["table"] == table}
        yield MaterializeResult(asset_key=bronze_key(table), value=bronze_handle(store, manifest, table), metadata={
            "rows": info["rows"], "clean_rows": info["clean_rows"], "bytes": sum(p["bytes"] for p in info["parts"]),
            "path": MetadataValue.path(store.uri(info["parts"][0]["key"])), "written": written,
            "injected_errors": sum(table_kinds.values()), "errors_by_kind": MetadataValue.json(table_kinds),
        })
        lines, keys = _count_lines(manifest, store, table)
        context.log.info(f"bronze/{table}: {info['rows']:,} rows ({sum(table_kinds.values()):,} injected errors), "
                         f"{lines:,} lines on storage")
        yield AssetCheckResult(asset_key=bronze_key(table), check_name="rows_match_manifest",
                               passed=lines == info["rows"], metadata={"lines": lines, "manifest": info["rows"]})
        yield AssetCheckResult(asset_key=bronze_key(table), check_name="columns_match_spec",
                               passed=keys == info["columns"], severity=AssetCheckSeverity.ERROR,
                               metadata={"found": MetadataValue.json(keys), "expected": MetadataValue.json(info["columns"])})
    yield MaterializeResult(asset_key=LEDGER, value=bronze_handle(store, manifest, LEDGER_TABLE), metadata={
        "rows": manifest.data["ledger"]["rows"], "path": MetadataValue.path(store.uri(manifest.data["ledger"]["key"])),
        "error_rate": request.spec.error_rate, "seed": request.seed, "spec": request.spec.name,
        "spec_digest": manifest.data["spec_digest"],
    })
