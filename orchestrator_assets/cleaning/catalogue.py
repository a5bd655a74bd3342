"""Which rules clean which column: `plan_table` turns a table of the dataset spec into ordered steps.

The rules themselves (what each checks, repairs and does on failure, and how each engine family carries it
out) are units in `cleaning/rules`; a step names a rule and the parameters it takes from the spec.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..generation.conventions import number_convention
from ..generation.spec import Choice, ColumnType, DatasetSpec, references


@dataclass(frozen=True)
class Step:
    rule: str
    column: str
    params: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class ColumnPlan:
    name: str
    type: ColumnType
    required: bool
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class TablePlan:
    table: str
    primary_key: str
    updated_at: str | None
    columns: tuple[ColumnPlan, ...]
    foreign_keys: dict[str, str]  # column -> parent table

    @property
    def rule_ids(self) -> set[str]:
        base = {"malformed_record", "required", "dedup_exact", "dedup_key"}
        return base | {s.rule for c in self.columns for s in c.steps}


def _column_steps(spec: DatasetSpec, name: str, col, parent: str | None) -> list[Step]:
    t = col.type
    if t == ColumnType.id:
        steps = [Step("trim", name), Step("parse_id", name)]
        return steps + ([Step("foreign_key", name, {"parent": parent})] if parent else [])
    steps = [Step("trim", name), Step("blank_to_null", name)]
    if t in (ColumnType.string, ColumnType.enum) and col.case != "keep":
        steps.append(Step("case_fold", name, {"case": col.case}))
    if t == ColumnType.enum and isinstance(col.source, Choice):
        steps.append(Step("accepted_values", name, {"values": [str(v) for v in col.source.values]}))
    locale = col.locale or spec.locale
    if t == ColumnType.email:
        steps.append(Step("email", name))
    if t == ColumnType.phone:
        steps.append(Step("phone_e164", name, {"region": (col.region or spec.default_phone_region).upper()}))
    if t in (ColumnType.date, ColumnType.timestamp):
        steps.append(Step("parse_timestamp", name, {"date": t == ColumnType.date,
                                                    "day_first": number_convention(locale).day_first}))
        if col.min is not None or col.max is not None:
            steps.append(Step("date_range", name, {"min": col.min, "max": col.max}))
    if t in (ColumnType.int, ColumnType.float):
        currency = number_convention(locale, col.currency).currency
        steps.append(Step("parse_number", name, {"integer": t == ColumnType.int, "locale": locale,
                                                 "currency": currency}))
        if col.min is not None or col.max is not None:
            steps.append(Step("numeric_range", name, {"min": col.min, "max": col.max}))
    return steps


def plan_table(spec: DatasetSpec, table: str) -> TablePlan:
    t = spec.tables[table]
    columns, fks = [], {}
    for name in spec.emitted(table):
        col = t.columns[name]
        parent = references(spec, table, name) if col.type == ColumnType.id and name != t.primary_key else None
        if parent:
            fks[name] = parent
        columns.append(ColumnPlan(name, col.type, col.required or name == t.primary_key,
                                  tuple(_column_steps(spec, name, col, parent))))
    return TablePlan(table, t.primary_key, t.updated_at, tuple(columns), fks)


def table_order(spec: DatasetSpec) -> list[str]:
    """Parents before children, so foreign keys are checked against cleaned parents."""
    order: list[str] = []
    pending = dict.fromkeys(spec.tables)
    while pending:
        for name in list(pending):
            parents = {p for p in plan_table(spec, name).foreign_keys.values() if p != name}
            if parents <= set(order):
                order.append(name)
                del pending[name]
                break
        else:
            order.extend(pending)  # a cycle of foreign keys: check against whatever is cleaned so far
            break
    return order
