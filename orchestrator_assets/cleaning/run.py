"""Clean one (user, job) partition from Bronze into Silver and quarantine, table by table."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..generation.bronze import Manifest, read_bronze
from ..generation.integrity import BronzeCheck, explain, verified_bronze
from ..settings import duckdb_limits
from ..storage.base import Storage
from .catalogue import TablePlan, plan_table, table_order
from .engine import BronzeFiles, Engine, FilesResult, ParentKeys, StagedTable, sum_by_rule, with_partition
from .publish import SilverVersion, publish, require_silver


@dataclass
class PartitionResult:
    engine: str
    tables: dict[str, dict] = field(default_factory=dict)
    rules: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def silver_rows(self) -> int:
        return sum(t["silver_rows"] for t in self.tables.values())

    @property
    def quarantined_rows(self) -> int:
        return sum(t["quarantined_rows"] for t in self.tables.values())

    def by_rule(self) -> dict[str, dict[str, int]]:
        return sum_by_rule(self.rules)

    def to_json(self) -> dict:
        return {"engine": self.engine, "seconds": round(self.seconds, 3), "tables": self.tables,
                "rules": self.rules, "by_rule": self.by_rule()}

    @classmethod
    def from_json(cls, data: dict) -> PartitionResult:
        return cls(data["engine"], dict(data["tables"]), list(data["rules"]), float(data["seconds"]))


def clean_partition(storage: Storage, manifest: Manifest, engine: Engine) -> PartitionResult:
    """Clean every table, then publish them as one new Silver version: an engine that fails part-way, or a run
    killed while publishing, leaves the previous Silver as it was.

    An engine with `clean_files` reads the verified parts and the parents' staged Silver itself; any other is
    handed each table as Arrow (read_bronze)."""
    user, job = manifest.user, manifest.job
    spec = manifest.spec
    started = time.perf_counter()
    result = PartitionResult(engine.name)
    clean_files = getattr(engine, "clean_files", None)
    parent_keys: dict[str, ParentKeys] = {}
    staged: dict[str, StagedTable] = {}
    # Before anything is cleaned: Bronze must be what its manifest says.
    with storage.scratch() as tmp, verified_bronze(storage, manifest) as verified:
        con = None if clean_files else duckdb.connect(config=duckdb_limits(tmp))
        try:
            for name in table_order(spec):
                plan = plan_table(spec, name)
                out = StagedTable(tmp / f"{name}.silver.parquet", tmp / f"{name}.quarantine.parquet", plan.primary_key)
                if clean_files:
                    bronze = BronzeFiles(verified.root, manifest.parts(name), verified.scans, manifest.columns(name))
                    done = clean_files(bronze, plan, staged, out, user, job, tmp)
                    verified.reconcile(name, "the Bronze reader's output", done.bronze_rows)
                else:
                    done = _clean_in_memory(con, storage, manifest, engine, plan, parent_keys, verified, out)
                verified.reconcile(name, "Silver + quarantine", done.silver_rows + done.quarantined_rows)
                staged[name] = out
                result.tables[name] = {"bronze_rows": done.bronze_rows, "silver_rows": done.silver_rows,
                                       "quarantined_rows": done.quarantined_rows,
                                       "silver_bytes": out.silver.stat().st_size, **verified.report(name)}
                result.rules.extend(done.stats.rows(name))
        finally:
            if con is not None:
                con.close()
        result.seconds = time.perf_counter() - started
        files = {(t, kind): getattr(s, kind) for t, s in staged.items() for kind in ("silver", "quarantine")}
        publish(storage, user, job, files, result.to_json(), engine.name)
    return result


def _clean_in_memory(con: duckdb.DuckDBPyConnection, storage: Storage, manifest: Manifest, engine: Engine,
                     plan: TablePlan, parent_keys: dict[str, ParentKeys], verified: BronzeCheck,
                     out: StagedTable) -> FilesResult:
    bronze = read_bronze(con, storage, manifest, plan.table, verified)
    verified.reconcile(plan.table, "the Bronze reader's output", bronze.num_rows)
    cleaned = engine.clean_table(bronze, plan, parent_keys)
    parent_keys[plan.table] = ParentKeys.of(cleaned, plan.primary_key)
    for data, path in ((cleaned.silver, out.silver), (explain(cleaned.quarantine, bronze), out.quarantine)):
        pq.write_table(with_partition(data, manifest.user, manifest.job), path, compression="zstd")
    return FilesResult(bronze.num_rows, cleaned.silver.num_rows, cleaned.quarantine.num_rows, cleaned.stats)


def read_silver(storage: Storage, table: str, user: str, job: str, quarantine: bool = False,
                current: SilverVersion | None = None) -> pa.Table:
    """One table of the published Silver; pass current (resolved once) to read several from the same version."""
    current = current or require_silver(storage, user, job)
    with storage.scratch() as tmp:
        return pq.read_table(storage.get_file(current.key(table, "quarantine" if quarantine else "silver"),
                                              tmp / "part.parquet"))
