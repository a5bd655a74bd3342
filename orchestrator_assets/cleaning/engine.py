"""What every cleaning engine takes and returns; engines differ only in mechanics."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..generation.integrity import PartScan
from ..generation.spec import ColumnType
from .catalogue import TablePlan

SILVER_TYPES: dict[ColumnType, pa.DataType] = {
    ColumnType.id: pa.int64(), ColumnType.int: pa.int64(), ColumnType.float: pa.float64(),
    ColumnType.string: pa.string(), ColumnType.email: pa.string(), ColumnType.phone: pa.string(),
    ColumnType.enum: pa.string(), ColumnType.timestamp: pa.timestamp("us"), ColumnType.date: pa.date32(),
}
OUTCOMES = ("repaired", "nulled", "quarantined")
QUARANTINE_FIELDS = [("_bronze_row", pa.int64()), ("_malformed", pa.string()), ("_rule", pa.string()),
                     ("_column", pa.string()), ("_reason", pa.string())]


def silver_schema(plan: TablePlan) -> pa.Schema:
    return pa.schema([(c.name, SILVER_TYPES[c.type]) for c in plan.columns])


def quarantine_schema(plan: TablePlan) -> pa.Schema:
    return pa.schema([(c.name, pa.string()) for c in plan.columns] + QUARANTINE_FIELDS)


PARTITION_FIELDS = ("pipeline_user", "pipeline_job")


def staged_schema(schema: pa.Schema) -> pa.Schema:
    """A Silver or quarantine schema as staged and published: the partition columns last, all nullable."""
    return pa.schema([*schema, *((name, pa.string()) for name in PARTITION_FIELDS)])


def with_partition(data: pa.Table, user: str, job: str) -> pa.Table:
    n = data.num_rows
    for name, value in zip(PARTITION_FIELDS, (user, job), strict=True):
        data = data.append_column(name, pa.array([value] * n, pa.string()))
    return data


@dataclass
class RuleStats:
    """Per rule and column: values changed into a valid form, values nulled, rows quarantined."""

    counts: dict[tuple[str, str], dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(OUTCOMES, 0)))

    def add(self, rule: str, column: str, outcome: str, n: int) -> None:
        if n:
            self.counts[(rule, column)][outcome] += int(n)

    def by_rule(self) -> dict[str, dict[str, int]]:
        return sum_by_rule(self.rows(""))

    def rows(self, table: str) -> list[dict]:
        return [{"table": table, "rule": r, "column": c, **v} for (r, c), v in sorted(self.counts.items())]


def sum_by_rule(rows) -> dict[str, dict[str, int]]:
    """Outcome counts per rule, summed over columns (and tables)."""
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        agg = out.setdefault(row["rule"], dict.fromkeys(OUTCOMES, 0))
        for k in OUTCOMES:
            agg[k] += row[k]
    return out


@dataclass(frozen=True)
class ParentKeys:
    """Keys of an already cleaned parent table: kept in Silver, and quarantined."""

    silver: np.ndarray
    quarantined: np.ndarray

    @classmethod
    def empty(cls) -> ParentKeys:
        return cls(np.empty(0, np.int64), np.empty(0, np.int64))

    @classmethod
    def of(cls, result: CleanResult, primary_key: str) -> ParentKeys:
        silver = result.silver.column(primary_key).to_numpy()
        return cls(silver, np.setdiff1d(valid_ints(result.quarantine.column(primary_key)), silver))


def valid_ints(text: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The values of a raw key column that read as keys (quarantined rows keep their Bronze text)."""
    trimmed = pc.utf8_trim_whitespace(text)
    ok = pc.fill_null(pc.match_substring_regex(trimmed, r"^\d{1,18}$"), False)
    return pc.cast(trimmed.filter(ok), pa.int64()).to_numpy()


@dataclass
class CleanResult:
    silver: pa.Table
    quarantine: pa.Table
    stats: RuleStats


@dataclass(frozen=True)
class BronzeFiles:
    """Where one table's verified Bronze parts lie (root/<key>), and their scans (integrity.verified_bronze)."""

    root: Path
    keys: list[str]
    scans: dict[str, PartScan]
    columns: list[str]


@dataclass(frozen=True)
class StagedTable:
    """A cleaned table's staged Silver and quarantine Parquet files (partition columns included)."""

    silver: Path
    quarantine: Path
    primary_key: str | None = None

    def quarantined_keys(self) -> np.ndarray:
        """The quarantine's readable keys, batch by batch (the quarantine is the small side)."""
        batches = pq.ParquetFile(self.quarantine).iter_batches(columns=[self.primary_key])
        found = [valid_ints(b.column(0)) for b in batches]
        return np.concatenate(found) if found else np.empty(0, np.int64)


@dataclass
class FilesResult:
    """What the cleaning of one table staged: row counts (taken where the data is) and rule counts."""

    bronze_rows: int
    silver_rows: int
    quarantined_rows: int
    stats: RuleStats


class Engine(Protocol):
    """Every engine cleans an Arrow table (`clean_table`). One that can also read Bronze and write Silver itself
    has `clean_files(bronze: BronzeFiles, plan, parents: dict[str, StagedTable], out: StagedTable, user, job,
    scratch: Path) -> FilesResult`, which cleaning/run.py then prefers: the table never passes through Python."""

    name: str
    rules: frozenset[str]  # rule ids this engine carries out; must equal the catalogue

    def clean_table(self, bronze: pa.Table, plan: TablePlan, parent_keys: dict[str, ParentKeys]) -> CleanResult:
        """bronze: text columns + _bronze_row + _malformed. parent_keys: parent table -> Silver keys."""
        ...
