"""The pandas engine: each rule's pandas implementation on Arrow-backed pandas columns (jobs up to ~1M rows).

Columns stay `ArrowDtype` throughout, so string work runs in Arrow's compute kernels rather than Python
objects; that is what keeps this engine near a hand-written DuckDB query.
"""
from __future__ import annotations

import pandas as pd
import pyarrow as pa

from .catalogue import ColumnPlan, TablePlan
from .engine import CleanResult, ParentKeys, RuleStats, quarantine_schema, silver_schema
from .frame import PandasTable
from .rules import CATALOGUE, implemented


def _clean_column(t: PandasTable, col: ColumnPlan) -> pd.Series:
    s = t.df[col.name]
    for step in col.steps:
        s = CATALOGUE[step.rule].pandas(t, col, step, s)
    if col.required:
        CATALOGUE["required"].pandas(t, col, s)
    return s


class PandasEngine:
    name = "pandas"

    @property
    def rules(self) -> frozenset[str]:
        return implemented("pandas")

    def clean_table(self, bronze: pa.Table, plan: TablePlan, parent_keys: dict[str, ParentKeys]) -> CleanResult:
        stats = RuleStats()
        raw = bronze.to_pandas(types_mapper=pd.ArrowDtype)
        t = PandasTable(raw, plan, stats, parent_keys)
        CATALOGUE["malformed_record"].pandas(t)
        cleaned = {col.name: _clean_column(t, col) for col in plan.columns}
        CATALOGUE["dedup_key"].pandas(t, cleaned, raw)
        keep = t.kept
        schema = silver_schema(plan)
        silver = pa.table(
            {c.name: pa.array(cleaned[c.name][keep], type=schema.field(c.name).type, from_pandas=True)
             for c in plan.columns}, schema=schema)
        q = pa.array(~keep)
        quarantine = pa.table({
            **{c.name: bronze.column(c.name).filter(q) for c in plan.columns},
            "_bronze_row": bronze.column("_bronze_row").filter(q),
            "_malformed": bronze.column("_malformed").filter(q),
            "_rule": pa.array(t.rule[~keep], pa.string()), "_column": pa.array(t.column[~keep], pa.string()),
            "_reason": pa.array(t.reason[~keep], pa.string()),
        }, schema=quarantine_schema(plan))
        return CleanResult(silver, quarantine, stats)
