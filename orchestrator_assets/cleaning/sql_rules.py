"""The rule catalogue compiled to SQL, once for every SQL engine (DuckDB, Spark SQL).

A table plan becomes one query over the Bronze rows (`bronze`) and the parents' keys. Each step of a column is
a projection that reads the previous step's value, so a rule's SQL implementation (in its unit, `cleaning/rules`)
is one small expression; the dialect only spells the few functions SQL engines name differently, and the Python
functions a rule needs (library normalisers, Arrow's title case) are registered by the engine as UDFs. The
semantics mirror the pandas implementations value for value: the parity tests hold both to the same Silver,
quarantine and rule counts.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from .catalogue import ColumnPlan, Step, TablePlan
from .engine import SILVER_TYPES, ParentKeys, RuleStats
from .rules import CATALOGUE

SQL_TYPES = {"int64": "BIGINT", "float64": "DOUBLE", "double": "DOUBLE", "string": "VARCHAR", "timestamp[us]": "TIMESTAMP",
             "date32[day]": "DATE"}


class Dialect:
    """DuckDB spellings; other engines override what differs."""

    name = "duckdb"
    types = SQL_TYPES

    def lit(self, value) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    def q(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def full_match(self, expr: str, pattern: str) -> str:
        return f"regexp_full_match({expr}, {self.lit(pattern)})"

    def replace_all(self, expr: str, pattern: str, replacement: str) -> str:
        return f"regexp_replace({expr}, {self.lit(pattern)}, {self.lit(replacement)}, 'g')"

    def strip(self, expr: str, chars: str) -> str:
        """expr without any of the characters at either end. The regex runs only where an end is one of them:
        a test of the two ends' code points costs a quarter of the regex, and DuckDB's trim(expr, chars) three
        times it (5M values)."""
        codes = ", ".join(str(ord(c)) for c in chars)
        return (f"CASE WHEN ord({expr}) IN ({codes}) OR ord({expr}[-1]) IN ({codes}) "
                f"THEN {self._strip_regex(expr, chars)} ELSE {expr} END")

    def _strip_regex(self, expr: str, chars: str) -> str:
        cls = "".join(f"\\x{{{ord(c):x}}}" for c in chars)
        return self.replace_all(expr, f"^[{cls}]+|[{cls}]+$", "")

    def cast(self, expr: str, arrow_type: str) -> str:
        return f"TRY_CAST({expr} AS {self.types[arrow_type]})"

    def record(self, fields: dict[str, str]) -> str:
        """One struct of the named values, compared as a whole (field by field, null equal to null, by IS NOT
        DISTINCT FROM)."""
        return "struct_pack(" + ", ".join(f"{name} := {expr}" for name, expr in fields.items()) + ")"

    def bucket(self, expr: str, parts: int) -> str:
        """Which of `parts` parts a value falls in, the same for equal values (a null too) within one engine."""
        return f"hash({expr}) % {int(parts)}"


@dataclass
class Compiled:
    """The query and, for every (rule, column, outcome) counted, the boolean column that flags it."""

    sql: str
    counters: list[tuple[str, str, str, str]] = field(default_factory=list)  # rule, column, outcome, flag
    # flag, rule, column, reason (an SQL expression)
    quarantine_checks: list[tuple[str, str, str | None, str]] = field(default_factory=list)
    # name -> (Arrow function, "text" or "parsed"): registered by the engine before the query runs
    udfs: dict[str, tuple[Callable, str]] = field(default_factory=dict)


class SqlBuilder:
    """The query being built for one table; the rules' SQL implementations add to it."""

    def __init__(self, plan: TablePlan, d: Dialect, parents: dict[str, str]):
        self.plan, self.d, self.parents = plan, d, parents
        self.stages: list[tuple[list[list[tuple[str, str]]], list[tuple[str, str]]]] = []
        self.layers: list[list[tuple[str, str]]] = []
        self.out = Compiled("")
        self.flags = 0

    def aux(self, level: int, expr: str) -> str:
        """A value computed once, in a projection before the step's own (level n may read level n-1)."""
        while len(self.layers) <= level:
            self.layers.append([])
        self.flags += 1
        name = f"_a{self.flags}"
        self.layers[level].append((name, expr))
        return name

    def flag(self, stage: list, expr: str) -> str:
        self.flags += 1
        name = f"_f{self.flags}"
        stage.append((name, f"coalesce({expr}, false)"))
        return name

    def udf(self, prefix: str, fn: Callable, returns: str) -> str:
        """The name under which the engine registers fn (once per query)."""
        for name, (known, _) in self.out.udfs.items():
            if known is fn:
                return name
        name = f"{prefix}_{len(self.out.udfs)}"
        self.out.udfs[name] = (fn, returns)
        return name

    def invalid(self, stage, col: ColumnPlan, step: Step, value: str, bad: str, reason: str | None,
                reason_sql: str | None = None) -> str:
        """Required column: the row is quarantined (value flows on); optional: the value is nulled."""
        flag = self.flag(stage, bad)
        if col.required:
            self.out.quarantine_checks.append((flag, step.rule, col.name, reason_sql or self.d.lit(reason)))
            return value
        self.out.counters.append((step.rule, col.name, "nulled", flag))
        return f"CASE WHEN coalesce({bad}, false) THEN NULL ELSE {value} END"

    def repaired(self, stage, rule: str, column: str, expr: str) -> None:
        self.out.counters.append((rule, column, "repaired", self.flag(stage, expr)))

    def changed(self, before: str, after: str) -> str:
        return f"{before} IS NOT NULL AND {after} IS NOT NULL AND {before} <> {after}"


def compile_plan(plan: TablePlan, dialect: Dialect, parents: dict[str, str]) -> Compiled:
    """parents: parent table -> relation with columns (k BIGINT, kept BOOLEAN)."""
    b = SqlBuilder(plan, dialect, parents)
    CATALOGUE["malformed_record"].sql(b)
    current = {c.name: dialect.q(c.name) for c in plan.columns}
    depth = max(len(c.steps) for c in plan.columns)
    for i in range(depth + 1):
        stage: list[tuple[str, str]] = []
        b.layers = []
        for col in plan.columns:
            value = f"_v{i}_{len(stage)}"
            if i < len(col.steps):
                expr = CATALOGUE[col.steps[i].rule].sql(b, col, col.steps[i], current[col.name], stage)
                stage.append((value, expr))
                current[col.name] = value
            elif i == len(col.steps) and col.required:
                CATALOGUE["required"].sql(b, col, current[col.name], stage)
        b.stages.append((b.layers, stage))
    # The checks were collected column by column within each stage; the pandas engine reports the first
    # failure in column order, then step order, so sort them that way.
    order = {c.name: i for i, c in enumerate(plan.columns)}
    checks = b.out.quarantine_checks
    b.out.quarantine_checks = checks[:1] + sorted(checks[1:], key=lambda c: (order[c[2]], int(c[0][2:])))
    sql = "SELECT * FROM bronze"
    for layers, stage in b.stages:
        for projection in [*layers, stage]:
            if projection:
                sql = f"SELECT *, {', '.join(f'{e} AS {n}' for n, e in projection)} FROM ({sql})"
    silver = ", ".join(f"{_typed(dialect, current[c.name], c)} AS {dialect.q('_s_' + c.name)}" for c in plan.columns)
    when = b.out.quarantine_checks
    rule = " ".join(f"WHEN {flag} THEN {dialect.lit(r)}" for flag, r, _, _ in when)
    column = " ".join(f"WHEN {flag} THEN {dialect.lit(c) if c else 'NULL'}" for flag, _, c, _ in when)
    reason = " ".join(f"WHEN {flag} THEN {r}" for flag, _, _, r in when)
    # Only what is read after this point goes on: the window of the dedup rules materialises its input.
    carried = ", ".join([*(dialect.q(c.name) for c in plan.columns), *(flag for *_, flag in b.out.counters),
                         "_bronze_row", "_malformed"])
    checked = (f"SELECT {carried}, {silver}, CASE {rule} END AS _rule1, CASE {column} END AS _column1, "
               f"CASE {reason} END AS _reason1 FROM ({sql})")
    b.out.sql = CATALOGUE["dedup_key"].sql(plan, dialect, checked)
    return b.out


def _typed(d: Dialect, value: str, col: ColumnPlan) -> str:
    return f"CAST({value} AS {d.types[str(SILVER_TYPES[col.type])]})"


def parent_table(keys: ParentKeys) -> pa.Table:
    """A parent's keys for the foreign-key lookup: kept = 1 for Silver rows, 0 for quarantined ones."""
    return pa.table({"k": np.concatenate([keys.silver, keys.quarantined]).astype(np.int64),
                     "kept": np.concatenate([np.ones(len(keys.silver), np.int8),
                                             np.zeros(len(keys.quarantined), np.int8)])})


def collect_stats(stats: RuleStats, counters, counts: dict, quarantined: list[tuple]) -> RuleStats:
    """Turn the compiled query's flag sums and quarantine groups into the engines' common rule counts."""
    for rule, column, outcome, flag in counters:
        stats.add(rule, column, outcome, counts[flag])
    for rule, column, n in quarantined:
        stats.add(rule, column or "*", "quarantined", n)
    return stats
