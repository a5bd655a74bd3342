"""The DuckDB engine: the SQL-compiled rule catalogue on DuckDB, for jobs that fit one machine.

`clean_files` is its own path: DuckDB reads the Bronze parts and the parents' staged Silver where they lie,
cleans within a memory limit (spilling past it, settings.duckdb_limits) and streams Silver and quarantine into
Parquet, so no table is held in Python. `clean_table` runs the same query on an Arrow table.
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..generation.bronze import load_bronze
from ..generation.integrity import with_line_reasons
from ..settings import duckdb_limits
from .catalogue import TablePlan
from .engine import (
    BronzeFiles,
    CleanResult,
    FilesResult,
    ParentKeys,
    RuleStats,
    StagedTable,
    quarantine_schema,
    silver_schema,
    staged_schema,
    with_partition,
)
from .rules import implemented
from .sql_rules import Dialect, collect_stats, compile_plan, parent_table

RETURNS = {"text": "VARCHAR", "parsed": "STRUCT(value VARCHAR, problem VARCHAR)"}
# Rows per streamed batch, and so per Parquet row group.
BATCH_ROWS = 256 * 1024


def _arrow_udf(fn):
    # DuckDB hands a vector's rows over as a chunked array.
    return lambda values: fn(values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values)


class DuckDBEngine:
    name = "duckdb"

    @property
    def rules(self) -> frozenset[str]:
        return implemented("sql")

    def __init__(self, threads: int | None = None):
        self.threads = threads

    def _connect(self, config: dict[str, str] | None = None) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(config=config or {})
        if self.threads:
            con.execute(f"SET threads = {int(self.threads)}")
        return con

    def clean_table(self, bronze: pa.Table, plan: TablePlan, parent_keys: dict[str, ParentKeys]) -> CleanResult:
        parents = _relations(plan)
        con = self._connect()
        try:
            con.register("bronze", bronze)
            for parent, relation in parents.items():
                con.register(relation, parent_table(parent_keys.get(parent, ParentKeys.empty())))
            stats, _ = _clean(con, plan, parents)
            silver = con.sql(_silver_sql(plan)).to_arrow_table()
            quarantine = con.sql(_quarantine_sql(plan)).to_arrow_table()
        finally:
            con.close()
        return CleanResult(silver.cast(silver_schema(plan)), quarantine.cast(quarantine_schema(plan)), stats)

    def clean_files(self, bronze: BronzeFiles, plan: TablePlan, parents: dict[str, StagedTable], out: StagedTable,
                    user: str, job: str, scratch: Path) -> FilesResult:
        """Bronze parts in, staged Silver and quarantine Parquet out (with the partition columns)."""
        relations = _relations(plan)
        con = self._connect(duckdb_limits(scratch))
        try:
            reasons = load_bronze(con, bronze.root, bronze.keys, bronze.scans, bronze.columns, "bronze")
            for parent, relation in relations.items():
                _load_parent(con, relation, parents.get(parent))
            stats, (bronze_rows, silver_rows, quarantined_rows) = _clean(con, plan, relations)
            con.execute("DROP TABLE bronze")
            written = (_write(con, _silver_sql(plan), silver_schema(plan), out.silver, user, job),
                       _write(con, _quarantine_sql(plan), quarantine_schema(plan), out.quarantine, user, job,
                              reasons))
        finally:
            con.close()
        if written != (silver_rows, quarantined_rows):
            raise RuntimeError(f"{plan.table}: wrote {written} Silver and quarantine rows, counted "
                               f"{(silver_rows, quarantined_rows)}")
        return FilesResult(bronze_rows, silver_rows, quarantined_rows, stats)


def _relations(plan: TablePlan) -> dict[str, str]:
    return {p: f"parent_{i}" for i, p in enumerate(sorted(set(plan.foreign_keys.values())))}


def _clean(con: duckdb.DuckDBPyConnection, plan: TablePlan, parents: dict[str, str]) -> tuple[RuleStats, tuple]:
    """The compiled query over `bronze` into the table `cleaned` (only the columns read after); the rule
    counts and (Bronze, Silver, quarantine) row counts, from SQL."""
    dialect = Dialect()
    compiled = compile_plan(plan, dialect, parents)
    q = dialect.q
    for name, (fn, returns) in compiled.udfs.items():
        con.create_function(name, _arrow_udf(fn), ["VARCHAR"], duckdb.sqltype(RETURNS[returns]), type="arrow")
    flags = [flag for *_, flag in compiled.counters]
    kept = [*(q(c.name) for c in plan.columns), *(q("_s_" + c.name) for c in plan.columns), *flags,
            "_bronze_row", "_malformed", "_rule", "_column", "_reason"]
    con.execute(f"CREATE TEMP TABLE cleaned AS SELECT {', '.join(kept)} FROM ({compiled.sql})")
    *sums, rows, held = con.execute("SELECT " + "".join(f"count_if({f}), " for f in flags)
                                    + "count(*), count_if(_rule IS NOT NULL) FROM cleaned").fetchall()[0]
    quarantined = con.execute("SELECT _rule, _column, count(*) FROM cleaned WHERE _rule IS NOT NULL "
                              "GROUP BY ALL").fetchall()
    stats = collect_stats(RuleStats(), compiled.counters, dict(zip(flags, sums, strict=True)), quarantined)
    return stats, (rows, rows - held, held)


def _silver_sql(plan: TablePlan) -> str:
    q = Dialect().q
    columns = ", ".join(f"{q('_s_' + c.name)} AS {q(c.name)}" for c in plan.columns)
    return f"SELECT {columns} FROM cleaned WHERE _rule IS NULL ORDER BY _bronze_row"


def _quarantine_sql(plan: TablePlan) -> str:
    raw = ", ".join(Dialect().q(c.name) for c in plan.columns)
    return (f"SELECT {raw}, _bronze_row, _malformed, _rule, _column, _reason FROM cleaned "
            "WHERE _rule IS NOT NULL ORDER BY _bronze_row")


def _load_parent(con: duckdb.DuckDBPyConnection, relation: str, staged: StagedTable | None) -> None:
    """The parent's keys for the foreign-key lookup (k, kept), its Silver read from the staged Parquet."""
    if staged is None:
        con.register(relation, parent_table(ParentKeys.empty()))
        return
    # A key both kept and quarantined counts as kept: the lookup takes max(kept).
    d = Dialect()
    con.register(f"{relation}_held", pa.table({"k": staged.quarantined_keys()}))
    con.execute(f"CREATE TEMP TABLE {relation} AS SELECT {d.q(staged.primary_key)}::BIGINT AS k, 1::TINYINT AS kept "
                f"FROM read_parquet({d.lit(staged.silver)}) UNION ALL SELECT k, 0::TINYINT FROM {relation}_held")
    con.unregister(f"{relation}_held")


def _write(con: duckdb.DuckDBPyConnection, sql: str, schema: pa.Schema, path: Path, user: str, job: str,
           reasons: dict[int, str] | None = None) -> int:
    """The query's rows into a Parquet file of exactly the staged schema, batch by batch; returns the row count.

    Written by Arrow, not DuckDB's COPY, which would mark columns required and type the partition columns as
    constants: the file's footer must be the contract (assets/silver.py checks it)."""
    rows = 0
    with pq.ParquetWriter(path, staged_schema(schema), compression="zstd") as writer:
        for batch in con.sql(sql).to_arrow_reader(BATCH_ROWS):
            table = pa.Table.from_batches([batch]).cast(schema)
            writer.write_table(with_partition(with_line_reasons(table, reasons or {}), user, job))
            rows += batch.num_rows
    return rows
