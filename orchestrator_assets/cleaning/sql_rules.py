"""The rule catalogue compiled to SQL, written once for every SQL engine (DuckDB today, Spark SQL next).

A table plan becomes one query over the Bronze rows (`bronze`) and the parents' keys (`parent_keys`). Each step
of a column is a projection that reads the previous step's value, so a rule is one small expression; the
dialect only spells the few functions SQL engines name differently. The semantics mirror the pandas engine
value for value: the parity test holds both to the same Silver, quarantine and rule counts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from .catalogue import ColumnPlan, Step, TablePlan
from .engine import SILVER_TYPES, ParentKeys, RuleStats
from .pandas_engine import EMAIL, NUMBER, NUMBER_DECORATION

CANONICAL_TEXT = r"\d{4}-\d\d-\d\d( \d\d:\d\d:\d\d)?"
# Unicode's White_Space characters: what Arrow's utf8_trim_whitespace (the pandas engine's trim) strips.
WHITESPACE = r"\t\n\x0b\x0c\r \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"


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

    def starts_with(self, expr: str, prefix: str) -> str:
        return f"starts_with({expr}, {self.lit(prefix)})"

    def full_match(self, expr: str, pattern: str) -> str:
        return f"regexp_full_match({expr}, {self.lit(pattern)})"

    def replace_all(self, expr: str, pattern: str, replacement: str) -> str:
        return f"regexp_replace({expr}, {self.lit(pattern)}, {self.lit(replacement)}, 'g')"

    def trim(self, expr: str) -> str:
        return self.replace_all(expr, f"^[{WHITESPACE}]+|[{WHITESPACE}]+$", "")

    def parse_timestamp(self, expr: str, fmt: str) -> str:
        return f"try_strptime({expr}, {self.lit(fmt)})"

    def title(self, expr: str) -> str:
        return f"title_case({expr})"  # Arrow's utf8_title, registered by the engine: SQL has no exact twin

    def cast(self, expr: str, arrow_type: str) -> str:
        return f"TRY_CAST({expr} AS {self.types[arrow_type]})"


@dataclass
class Compiled:
    """The query and, for every (rule, column, outcome) counted, the boolean column that flags it."""

    sql: str
    counters: list[tuple[str, str, str, str]] = field(default_factory=list)  # rule, column, outcome, flag
    quarantine_checks: list[tuple[str, str, str | None, str]] = field(default_factory=list)


class _Builder:
    def __init__(self, plan: TablePlan, d: Dialect):
        self.plan, self.d = plan, d
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

    def invalid(self, stage, col: ColumnPlan, step: Step, value: str, bad: str, reason: str) -> str:
        """Required column: the row is quarantined (value flows on); optional: the value is nulled."""
        flag = self.flag(stage, bad)
        if col.required:
            self.out.quarantine_checks.append((flag, step.rule, col.name, reason))
            return value
        self.out.counters.append((step.rule, col.name, "nulled", flag))
        return f"CASE WHEN coalesce({bad}, false) THEN NULL ELSE {value} END"

    def repaired(self, stage, rule: str, column: str, expr: str) -> None:
        self.out.counters.append((rule, column, "repaired", self.flag(stage, expr)))

    def changed(self, before: str, after: str) -> str:
        return f"{before} IS NOT NULL AND {after} IS NOT NULL AND {before} <> {after}"


def _step(b: _Builder, col: ColumnPlan, step: Step, s: str, stage: list, parents: dict[str, str]) -> str:
    """Add one step of a column; returns the expression of its output, which reads `s`, the previous value."""
    d, p, rule, name = b.d, step.params, step.rule, col.name
    if rule == "trim":
        new = b.aux(0, d.trim(s))
        b.repaired(stage, rule, name, b.changed(s, new))
        return new
    if rule == "blank_to_null":
        b.repaired(stage, rule, name, f"{s} = ''")
        return f"CASE WHEN {s} = '' THEN NULL ELSE {s} END"
    if rule == "case_fold":
        if p["case"] == "proper":
            new = f"CASE WHEN {s} = upper({s}) OR {s} = lower({s}) THEN {d.title(s)} ELSE {s} END"
        else:
            new = d.title(s) if p["case"] == "title" else f"{p['case']}({s})"
        new = b.aux(0, new)
        b.repaired(stage, rule, name, b.changed(s, new))
        return new
    if rule == "accepted_values":
        values = ", ".join(d.lit(v) for v in p["values"])
        return b.invalid(stage, col, step, s, f"{s} IS NOT NULL AND {s} NOT IN ({values})",
                         f"{name} is not one of {p['values']}")
    if rule == "email":
        lowered = b.aux(0, f"lower({s})")
        b.repaired(stage, rule, name, b.changed(s, lowered))
        return b.invalid(stage, col, step, lowered, f"{lowered} IS NOT NULL AND NOT {d.full_match(lowered, EMAIL)}",
                         f"{name} is not a valid e-mail address")
    if rule == "phone_e164":
        return _phone(b, col, step, s, stage)
    if rule == "parse_timestamp":
        formats = b.plan.date_formats if p["date"] else b.plan.timestamp_formats
        parsed = b.aux(0, "coalesce(" + ", ".join(d.parse_timestamp(s, f) for f in formats) + ")")
        b.repaired(stage, rule, name, f"{s} IS NOT NULL AND NOT {d.full_match(s, CANONICAL_TEXT)} "
                                      f"AND {parsed} IS NOT NULL")
        new = b.invalid(stage, col, step, parsed, f"{s} IS NOT NULL AND {parsed} IS NULL",
                        f"{name} is not a date in a known format")
        return f"date_trunc('day', {new})" if p["date"] else new
    if rule == "date_range":
        ts = d.types["timestamp[us]"]
        bad = " OR ".join(([f"{s} < CAST({d.lit(p['min'])} AS {ts})"] if p["min"] is not None else [])
                          + ([f"{s} >= CAST({d.lit(p['max'])} AS {ts})"] if p["max"] is not None else []))
        return b.invalid(stage, col, step, s, bad, f"{name} outside [{p['min']}, {p['max']})")
    if rule == "parse_number":
        stripped = b.aux(0, d.replace_all(s, NUMBER_DECORATION, ""))
        number = b.aux(1, f"CASE WHEN {d.full_match(stripped, NUMBER)} THEN {d.cast(stripped, 'float64')} END")
        if p["integer"]:
            number = b.aux(2, f"CASE WHEN {number} = round({number}) THEN {number} END")
        b.repaired(stage, rule, name, f"{s} IS NOT NULL AND {s} <> {stripped} AND {number} IS NOT NULL")
        new = b.invalid(stage, col, step, number, f"{s} IS NOT NULL AND {number} IS NULL",
                        f"{name} is not a number")
        return d.cast(new, "int64") if p["integer"] else new
    if rule == "numeric_range":
        bad = " OR ".join(([f"{s} < {float(p['min'])!r}"] if p["min"] is not None else [])
                          + ([f"{s} > {float(p['max'])!r}"] if p["max"] is not None else []))
        return b.invalid(stage, col, step, s, bad, f"{name} outside [{p['min']}, {p['max']}]")
    if rule == "parse_id":
        whole = b.aux(0, d.full_match(s, r"\d+"))
        return b.invalid(stage, col, step, f"CASE WHEN {whole} THEN {d.cast(s, 'int64')} END",
                         f"{s} IS NOT NULL AND NOT {whole}", f"{name} is not a whole-number key")
    if rule == "foreign_key":
        # 1: the parent row is in Silver; 0: it was quarantined; null: there is none.
        # Spark accepts a correlated scalar subquery only as an aggregate; keys are unique, so max is the one.
        parent = b.aux(0, f"(SELECT max(kept) FROM {parents[p['parent']]} WHERE k = {s})")
        held = f"{s} IS NOT NULL AND {parent} = 0"
        # Two outcomes of one rule, in the pandas engine's order: quarantined parent first, then no parent.
        value = b.invalid(stage, col, step, s, held, f"{name}: the {p['parent']} row is quarantined")
        return b.invalid(stage, col, step, value, f"{s} IS NOT NULL AND {parent} IS NULL",
                         f"{name} has no matching {p['parent']} row")
    raise NotImplementedError(rule)


def _phone(b: _Builder, col: ColumnPlan, step: Step, s: str, stage: list) -> str:
    d, code = b.d, b.plan.default_calling_code
    digits = b.aux(0, d.replace_all(s, r"\D", ""))
    n = f"length({digits})"
    plus = d.starts_with(s, "+")
    new = b.aux(1, f"CASE WHEN {plus} AND {n} BETWEEN 8 AND 15 THEN '+' || {digits} "
                   f"WHEN NOT {plus} AND {n} = 10 THEN '+{code}' || {digits} "
                   f"WHEN NOT {plus} AND {n} = {10 + len(code)} AND {d.starts_with(digits, code)} "
                   f"THEN '+' || {digits} END")
    b.repaired(stage, step.rule, col.name, b.changed(s, new))
    return b.invalid(stage, col, step, new, f"{s} IS NOT NULL AND {new} IS NULL", f"{col.name} is not a phone number")


def compile_plan(plan: TablePlan, dialect: Dialect, parents: dict[str, str]) -> Compiled:
    """parents: parent table -> relation with columns (k BIGINT, kept BOOLEAN)."""
    b = _Builder(plan, dialect)
    malformed = "_malformed IS NOT NULL"
    b.out.quarantine_checks.append((malformed, "malformed_record", None, "line is not a JSON object"))
    current = {c.name: dialect.q(c.name) for c in plan.columns}
    depth = max(len(c.steps) for c in plan.columns)
    for i in range(depth + 1):
        stage: list[tuple[str, str]] = []
        b.layers = []
        for col in plan.columns:
            value = f"_v{i}_{len(stage)}"
            if i < len(col.steps):
                expr = _step(b, col, col.steps[i], current[col.name], stage, parents)
                stage.append((value, expr))
                current[col.name] = value
            elif i == len(col.steps) and col.required:
                flag = b.flag(stage, f"{current[col.name]} IS NULL")
                b.out.quarantine_checks.append((flag, "required", col.name, f"{col.name} is missing"))
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
    reason = " ".join(f"WHEN {flag} THEN {dialect.lit(r)}" for flag, _, _, r in when)
    checked = (f"SELECT *, {silver}, CASE {rule} END AS _rule1, CASE {column} END AS _column1, "
               f"CASE {reason} END AS _reason1 FROM ({sql})")
    b.out.sql = _dedup(plan, dialect, checked)
    return b.out


def _dedup(plan: TablePlan, d: Dialect, checked: str) -> str:
    """Among rows not yet held back, keep the latest version of each key; tell exact copies from older versions."""
    pk, ts = d.q("_s_" + plan.primary_key), plan.updated_at
    order = (f"{d.q('_s_' + ts)} DESC NULLS LAST, " if ts else "") + "_bronze_row DESC"
    window = f"(PARTITION BY _rule1 IS NULL, {pk} ORDER BY {order})"
    same = " AND ".join(f"{d.q(c.name)} IS NOT DISTINCT FROM first_value({d.q(c.name)}) OVER {window}"
                        for c in plan.columns)
    ranked = f"SELECT *, row_number() OVER {window} AS _rank, {same} AS _same FROM ({checked})"
    return f"""SELECT *,
        CASE WHEN _rule1 IS NOT NULL THEN _rule1 WHEN _rank > 1 AND _same THEN 'dedup_exact'
             WHEN _rank > 1 THEN 'dedup_key' END AS _rule,
        CASE WHEN _rule1 IS NOT NULL THEN _column1 WHEN _rank > 1 AND NOT _same THEN {d.lit(plan.primary_key)}
             END AS _column,
        CASE WHEN _rule1 IS NOT NULL THEN _reason1 WHEN _rank > 1 AND _same THEN 'exact duplicate of a kept row'
             WHEN _rank > 1 THEN 'older version of a kept row' END AS _reason
        FROM ({ranked})"""


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
