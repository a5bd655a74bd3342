"""What can be known about Silver without a ledger: how many values pass independent oracles.

Each check counts the Silver values it looked at and those that fail it:
- valid_phone: phonenumbers.parse(v) is a valid number (is_valid_number) and v is its E.164 form;
- valid_email: email_validator.validate_email(v, check_deliverability=False) accepts v and v is its canonical
  form (the normalised address, lower-cased: docs/cleaning.md);
- required: a required column holds no null;
- in_range: numbers finite and inside [min, max], dates and timestamps inside [min, max), where the spec sets them;
- unique_key: the primary key is never null and never repeated;
- foreign_key: every non-null reference is a key of the parent's Silver.
The libraries run once per distinct value, streamed from DuckDB in batches; the rest is SQL over the Parquet files,
so a table is never held in memory. Used for every partition; for one without a ledger it is the whole verdict.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import phonenumbers
from email_validator import EmailNotValidError, validate_email

from ..generation.spec import Column, ColumnType, DatasetSpec, ForeignKey
from .parsers import email, phone

BATCH = 100_000
EXAMPLES = 5
_NUMBERS = {ColumnType.int, ColumnType.float}
_DATES = {ColumnType.date, ColumnType.timestamp}


@dataclass
class OracleCheck:
    table: str
    column: str
    check: str
    checked: int = 0
    invalid: int = 0
    examples: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"table": self.table, "column": self.column, "check": self.check, "checked": self.checked,
                "invalid": self.invalid, "valid_share": round(1 - self.invalid / self.checked, 6)
                if self.checked else 1.0, "examples": self.examples}


@dataclass
class OracleReport:
    checks: list[OracleCheck] = field(default_factory=list)

    @property
    def invalid(self) -> int:
        return sum(c.invalid for c in self.checks)

    @property
    def passed(self) -> bool:
        return self.invalid == 0

    def failures(self) -> list[str]:
        return [f"{c.table}.{c.column} {c.check}: {c.invalid:,} of {c.checked:,} invalid"
                + (f" (e.g. {', '.join(repr(e) for e in c.examples[:3])})" if c.examples else "")
                for c in self.checks if c.invalid]

    def to_json(self) -> dict:
        return {"passed": self.passed, "invalid": self.invalid, "failures": self.failures(),
                "checks": [c.to_json() for c in self.checks]}

    @classmethod
    def from_json(cls, data: dict) -> OracleReport:
        return cls([OracleCheck(c["table"], c["column"], c["check"], c["checked"], c["invalid"], list(c["examples"]))
                    for c in data["checks"]])


def phone_ok(value: str) -> bool:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return False
    return (phonenumbers.is_valid_number(number)
            and phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == value)


def email_ok(value: str) -> bool:
    try:
        found = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return found.normalized.lower() == value


LIBRARY_CHECKS: dict[ColumnType, tuple[str, Callable[[str], bool]]] = {
    ColumnType.phone: ("valid_phone", phone_ok), ColumnType.email: ("valid_email", email_ok)}


def check_silver(spec: DatasetSpec, files: dict[str, Path]) -> OracleReport:
    """The oracle checks over each table's Silver Parquet file (table -> local path); a table without a file
    (absent from this Silver) is skipped, and so are foreign keys into it."""
    report = OracleReport()
    with duckdb.connect() as con:
        for table, path in files.items():
            report.checks += _table_checks(con, spec, table, path, files)
    return report


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _source(path: Path) -> str:
    return "read_parquet('" + str(path).replace("'", "''") + "')"


def _table_checks(con: duckdb.DuckDBPyConnection, spec: DatasetSpec, table: str, path: Path,
                  files: dict[str, Path]) -> Iterator[OracleCheck]:
    src, spec_table = _source(path), spec.tables[table]
    rows = con.execute(f"SELECT count(*) FROM {src}").fetchall()[0][0]
    pk = spec_table.primary_key
    keys, distinct = con.execute(f"SELECT count({_q(pk)}), count(DISTINCT {_q(pk)}) FROM {src}").fetchall()[0]
    # A repeat counts once per extra row; a null key counts too.
    yield _with_examples(con, OracleCheck(table, pk, "unique_key", rows, (keys - distinct) + (rows - keys)),
                         f"SELECT {_q(pk)} FROM {src} GROUP BY 1 HAVING count(*) > 1")
    for name, col in spec_table.columns.items():
        if not col.emit or name == pk:
            continue
        c = _q(name)
        if col.required:
            missing = con.execute(f"SELECT count(*) FROM {src} WHERE {c} IS NULL").fetchall()[0][0]
            yield OracleCheck(table, name, "required", rows, missing)
        bad = _range_condition(col, c)
        if bad is not None:
            condition, params = bad
            yield _counted(con, OracleCheck(table, name, "in_range"), src, c, condition, params)
        if isinstance(col.source, ForeignKey) and col.source.table in files:
            parent = col.source.table
            ppk = _q(spec.tables[parent].primary_key)
            condition = f"{c} NOT IN (SELECT {ppk} FROM {_source(files[parent])} WHERE {ppk} IS NOT NULL)"
            yield _counted(con, OracleCheck(table, name, "foreign_key"), src, c, condition, [])
        if col.type in LIBRARY_CHECKS:
            check, ok = LIBRARY_CHECKS[col.type]
            region = (col.region or spec.default_phone_region).upper()
            known = phone.canonical_pattern(region) if col.type == ColumnType.phone else email.CANONICAL
            yield _library(con, OracleCheck(table, name, check), src, c, ok, known)


def _range_condition(col: Column, c: str) -> tuple[str, list] | None:
    """SQL that is true for a non-null value outside the column's bounds, with its parameters."""
    if col.type in _NUMBERS:
        parts, params = [f"NOT isfinite({c}::DOUBLE)"], []
        if col.min is not None:
            parts.append(f"{c} < ?")
            params.append(float(col.min))
        if col.max is not None:
            parts.append(f"{c} > ?")
            params.append(float(col.max))
        return " OR ".join(parts), params
    if col.type in _DATES and (col.min is not None or col.max is not None):
        parts, params = [], []
        if col.min is not None:
            parts.append(f"{c} < ?")
            params.append(_bound(col, col.min))
        if col.max is not None:
            parts.append(f"{c} >= ?")
            params.append(_bound(col, col.max))
        return " OR ".join(parts), params
    return None


def _bound(col: Column, value: float | str) -> dt.date | dt.datetime:
    text = str(value)
    if col.type == ColumnType.date:
        return dt.date.fromisoformat(text[:10])
    moment = dt.datetime.fromisoformat(text)
    # Silver timestamps are naive UTC; a bound with an offset is moved to UTC first.
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _counted(con: duckdb.DuckDBPyConnection, check: OracleCheck, src: str, c: str, condition: str,
             params: list) -> OracleCheck:
    where = f"{c} IS NOT NULL AND ({condition})"
    check.checked = con.execute(f"SELECT count({c}) FROM {src}").fetchall()[0][0]
    check.invalid = con.execute(f"SELECT count(*) FROM {src} WHERE {where}", params).fetchall()[0][0]
    if check.invalid:
        found = con.execute(f"SELECT DISTINCT {c}::VARCHAR FROM {src} WHERE {where} ORDER BY 1 LIMIT {EXAMPLES}",
                            params).fetchall()
        check.examples = [r[0] for r in found]
    return check


def _with_examples(con: duckdb.DuckDBPyConnection, check: OracleCheck, sql: str) -> OracleCheck:
    if check.invalid:
        check.examples = [str(r[0]) for r in con.execute(f"{sql} ORDER BY 1 LIMIT {EXAMPLES}").fetchall()]
    return check


def _library(con: duckdb.DuckDBPyConnection, check: OracleCheck, src: str, c: str,
             ok: Callable[[str], bool], known: str) -> OracleCheck:
    """The library on each distinct value once, streamed in batches; failures weighted by how often they occur.

    known: the parsers' fast-path pattern, derived from the same library metadata and property-tested to match
    only values the library accepts unchanged; values it matches are counted valid without a library call.
    """
    fast = f"regexp_full_match({c}, ?)"
    check.checked += con.execute(f"SELECT count(*) FROM {src} WHERE {fast}", [known]).fetchall()[0][0]
    reader = con.sql(f"SELECT {c} AS v, count(*) AS n FROM {src} WHERE {c} IS NOT NULL AND NOT {fast} "
                     "GROUP BY 1 ORDER BY 1", params=[known]).to_arrow_reader(BATCH)
    for batch in reader:
        for value, n in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
            check.checked += n
            if not ok(value):
                check.invalid += n
                if len(check.examples) < EXAMPLES:
                    check.examples.append(value)
    return check
