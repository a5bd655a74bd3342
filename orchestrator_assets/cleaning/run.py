"""Clean one (user, job) partition from Bronze into Silver and quarantine, table by table."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..generation.bronze import Manifest, read_bronze
from ..generation.integrity import explain, verified_bronze
from ..storage.base import Storage
from .catalogue import plan_table, table_order
from .engine import Engine, ParentKeys, sum_by_rule
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


def _with_partition(table: pa.Table, user: str, job: str) -> pa.Table:
    n = table.num_rows
    return table.append_column("pipeline_user", pa.array([user] * n, pa.string())).append_column(
        "pipeline_job", pa.array([job] * n, pa.string()))


def _stage(tmp: Path, table: str, kind: str, data: pa.Table) -> Path:
    local = tmp / f"{table}.{kind}.parquet"
    pq.write_table(data, local, compression="zstd")
    return local


def clean_partition(storage: Storage, manifest: Manifest, engine: Engine) -> PartitionResult:
    """Clean every table, then publish them as one new Silver version: an engine that fails part-way, or a run
    killed while publishing, leaves the previous Silver as it was."""
    user, job = manifest.user, manifest.job
    spec = manifest.spec
    started = time.perf_counter()
    result = PartitionResult(engine.name)
    parent_keys: dict[str, ParentKeys] = {}
    # Before anything is cleaned: Bronze must be what its manifest says.
    with storage.scratch() as tmp, verified_bronze(storage, manifest) as verified:
        con = duckdb.connect()
        staged: dict[tuple[str, str], Path] = {}
        try:
            for name in table_order(spec):
                plan = plan_table(spec, name)
                bronze = read_bronze(con, storage, manifest, name, verified)
                verified.reconcile(name, "the Bronze reader's output", bronze.num_rows)
                cleaned = engine.clean_table(bronze, plan, parent_keys)
                verified.reconcile(name, "Silver + quarantine", cleaned.silver.num_rows + cleaned.quarantine.num_rows)
                parent_keys[name] = ParentKeys.of(cleaned, plan.primary_key)
                quarantine = explain(cleaned.quarantine, bronze)
                for kind, data in (("silver", cleaned.silver), ("quarantine", quarantine)):
                    staged[name, kind] = _stage(tmp, name, kind, _with_partition(data, user, job))
                result.tables[name] = {"bronze_rows": bronze.num_rows, "silver_rows": cleaned.silver.num_rows,
                                       "quarantined_rows": cleaned.quarantine.num_rows,
                                       "silver_bytes": staged[name, "silver"].stat().st_size,
                                       **verified.report(name)}
                result.rules.extend(cleaned.stats.rows(name))
        finally:
            con.close()
        result.seconds = time.perf_counter() - started
        publish(storage, user, job, staged, result.to_json(), engine.name)
    return result


def read_silver(storage: Storage, table: str, user: str, job: str, quarantine: bool = False,
                current: SilverVersion | None = None) -> pa.Table:
    """One table of the published Silver; pass current (resolved once) to read several from the same version."""
    current = current or require_silver(storage, user, job)
    with storage.scratch() as tmp:
        return pq.read_table(storage.get_file(current.key(table, "quarantine" if quarantine else "silver"),
                                              tmp / "part.parquet"))
