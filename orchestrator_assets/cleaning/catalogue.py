"""The catalogue of cleaning rules, declared once for every engine.

A rule says what it checks, how it repairs and what happens when repair is impossible. `plan_table`
turns a table of the dataset spec into the ordered steps an engine must carry out; engines only
supply the mechanics of each rule id (see `ENGINES`' coverage test).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..generation.dirty import DIRTY_DATE_FORMATS, DIRTY_TIMESTAMP_FORMATS
from ..generation.spec import Choice, ColumnType, DatasetSpec, references

# Invalid value in a required column: the row is quarantined; in an optional column: the value is nulled.
NULL_OR_QUARANTINE = "null the value if the column is optional, else quarantine the row"


@dataclass(frozen=True)
class Rule:
    id: str
    checks: str
    repair: str
    on_failure: str


CATALOGUE: dict[str, Rule] = {r.id: r for r in [
    Rule("malformed_record", "the Bronze line is a JSON object", "none", "quarantine the line as it was"),
    Rule("trim", "no leading/trailing whitespace (space, tab, newline)", "strip it", "never fails"),
    Rule("blank_to_null", "text is not empty", "empty or blank text becomes null", "never fails"),
    Rule("case_fold", "letter case matches the column's canonical case",
         "lower/upper/title-case; 'proper' title-cases only ALL-UPPER or all-lower text", "never fails"),
    Rule("accepted_values", "value is one of the spec's choices (after case folding)", "none", NULL_OR_QUARANTINE),
    Rule("email", "address matches local@domain.tld", "trim and lower-case", NULL_OR_QUARANTINE),
    Rule("phone_e164", "number has 10 national digits (default region) or a country code",
         "strip punctuation, add the default region's calling code, format as E.164", NULL_OR_QUARANTINE),
    Rule("parse_timestamp", "text parses with the canonical or a known alternative format",
         "re-format as canonical", NULL_OR_QUARANTINE),
    Rule("date_range", "date within the column's [min, max)", "none", NULL_OR_QUARANTINE),
    Rule("parse_number", "text is a number, optionally with '$', 'USD', thousands commas or spaces",
         "strip the decoration and cast; integers must be whole", NULL_OR_QUARANTINE),
    Rule("numeric_range", "number within the column's [min, max] (negative amounts fail a min of 0)",
         "none", NULL_OR_QUARANTINE),
    Rule("parse_id", "key is a whole number", "cast", NULL_OR_QUARANTINE),
    Rule("required", "required column has a value after cleaning", "none", "quarantine the row"),
    Rule("dedup_exact", "no Bronze line repeats another exactly", "keep the first copy",
         "later copies are quarantined as duplicates"),
    Rule("dedup_key", "one row per primary key", "keep the latest version (updated_at, then Bronze order)",
         "older versions are quarantined as superseded"),
    Rule("foreign_key", "the referenced row exists in the parent's Silver table", "none", NULL_OR_QUARANTINE),
]}


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
    timestamp_formats: tuple[str, ...]
    date_formats: tuple[str, ...]
    default_calling_code: str

    @property
    def rule_ids(self) -> set[str]:
        base = {"malformed_record", "required", "dedup_exact", "dedup_key"}
        return base | {s.rule for c in self.columns for s in c.steps}


CANONICAL_TIMESTAMP = "%Y-%m-%d %H:%M:%S"
CANONICAL_DATE = "%Y-%m-%d"
CALLING_CODES = {"US": "1", "CA": "1", "GB": "44", "DE": "49", "FR": "33", "CN": "86", "IN": "91", "AU": "61"}


def _column_steps(name: str, col, parent: str | None) -> list[Step]:
    t = col.type
    if t == ColumnType.id:
        steps = [Step("trim", name), Step("parse_id", name)]
        return steps + ([Step("foreign_key", name, {"parent": parent})] if parent else [])
    steps = [Step("trim", name), Step("blank_to_null", name)]
    if t in (ColumnType.string, ColumnType.enum) and col.case != "keep":
        steps.append(Step("case_fold", name, {"case": col.case}))
    if t == ColumnType.enum and isinstance(col.source, Choice):
        steps.append(Step("accepted_values", name, {"values": [str(v) for v in col.source.values]}))
    if t == ColumnType.email:
        steps.append(Step("email", name))
    if t == ColumnType.phone:
        steps.append(Step("phone_e164", name))
    if t in (ColumnType.date, ColumnType.timestamp):
        steps.append(Step("parse_timestamp", name, {"date": t == ColumnType.date}))
        if col.min is not None or col.max is not None:
            steps.append(Step("date_range", name, {"min": col.min, "max": col.max}))
    if t in (ColumnType.int, ColumnType.float):
        steps.append(Step("parse_number", name, {"integer": t == ColumnType.int}))
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
                                  tuple(_column_steps(name, col, parent))))
    return TablePlan(
        table, t.primary_key, t.updated_at, tuple(columns), fks,
        (CANONICAL_TIMESTAMP, *DIRTY_TIMESTAMP_FORMATS), (CANONICAL_DATE, *DIRTY_DATE_FORMATS),
        CALLING_CODES.get(spec.default_phone_region.upper(), "1"),
    )


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
