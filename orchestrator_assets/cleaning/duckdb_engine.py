"""The DuckDB engine: the SQL-compiled rule catalogue on DuckDB, for jobs that fit one machine."""
from __future__ import annotations

import duckdb
import pyarrow as pa

from .catalogue import TablePlan
from .engine import CleanResult, ParentKeys, RuleStats, quarantine_schema, silver_schema
from .rules import implemented
from .sql_rules import Dialect, collect_stats, compile_plan, parent_table

RETURNS = {"text": "VARCHAR", "parsed": "STRUCT(value VARCHAR, problem VARCHAR)"}


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

    def clean_table(self, bronze: pa.Table, plan: TablePlan, parent_keys: dict[str, ParentKeys]) -> CleanResult:
        parents = {p: f"parent_{i}" for i, p in enumerate(sorted(set(plan.foreign_keys.values())))}
        dialect = Dialect()
        compiled = compile_plan(plan, dialect, parents)
        q = dialect.q
        con = duckdb.connect()
        try:
            if self.threads:
                con.execute(f"SET threads = {int(self.threads)}")
            for name, (fn, returns) in compiled.udfs.items():
                con.create_function(name, _arrow_udf(fn), ["VARCHAR"], duckdb.sqltype(RETURNS[returns]), type="arrow")
            con.register("bronze", bronze)
            for parent, relation in parents.items():
                con.register(relation, parent_table(parent_keys.get(parent, ParentKeys.empty())))
            con.execute(f"CREATE TEMP TABLE cleaned AS {compiled.sql}")
            flags = [flag for *_, flag in compiled.counters]
            sums = con.execute("SELECT " + (", ".join(f"count_if({f})" for f in flags) or "1")
                               + " FROM cleaned").fetchall()[0]
            quarantined = con.execute("SELECT _rule, _column, count(*) FROM cleaned WHERE _rule IS NOT NULL "
                                      "GROUP BY ALL").fetchall()
            silver_cols = ", ".join(f"{q('_s_' + c.name)} AS {q(c.name)}" for c in plan.columns)
            silver = con.sql(f"SELECT {silver_cols} FROM cleaned WHERE _rule IS NULL ORDER BY _bronze_row"
                                 ).to_arrow_table()
            raw = ", ".join(q(c.name) for c in plan.columns)
            quarantine = con.sql(f"SELECT {raw}, _bronze_row, _malformed, _rule, _column, _reason FROM cleaned "
                                     "WHERE _rule IS NOT NULL ORDER BY _bronze_row").to_arrow_table()
        finally:
            con.close()
        stats = collect_stats(RuleStats(), compiled.counters, dict(zip(flags, sums, strict=False)), quarantined)
        return CleanResult(silver.cast(silver_schema(plan)), quarantine.cast(quarantine_schema(plan)), stats)
