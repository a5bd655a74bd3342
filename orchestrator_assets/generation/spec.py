"""The dataset specification: a typed, documented model of what the generator builds.

Specs are YAML or JSON. They are written by people today and by an LLM later, so every field carries
a description and `export_json_schema()` publishes the model as a JSON Schema file.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import conventions, limits
from .faker_names import LOCALES, PROVIDERS

NAME = r"^[a-z][a-z0-9_]{0,62}$"
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "specs"


class SpecError(ValueError):
    """A spec that cannot be used; the message names the offending place."""


class ColumnType(str, Enum):
    id = "id"
    int = "int"
    float = "float"
    string = "string"
    email = "email"
    phone = "phone"
    date = "date"
    timestamp = "timestamp"
    enum = "enum"


class ErrorKind(str, Enum):
    whitespace = "whitespace"
    wrong_case = "wrong_case"
    email_case = "email_case"
    invalid_email = "invalid_email"
    phone_format = "phone_format"
    malformed_phone = "malformed_phone"
    date_format = "date_format"
    unparseable_date = "unparseable_date"
    date_out_of_range = "date_out_of_range"
    out_of_range = "out_of_range"
    negative_amount = "negative_amount"
    number_as_string = "number_as_string"
    missing = "missing"
    empty_string = "empty_string"
    orphan_fk = "orphan_fk"
    locale_decimal = "locale_decimal"
    currency_code = "currency_code"
    trunk_prefix = "trunk_prefix"
    phone_extension = "phone_extension"
    iso_offset = "iso_offset"
    date_only = "date_only"
    named_month = "named_month"
    email_dots = "email_dots"
    idn_email = "idn_email"
    exact_duplicate = "exact_duplicate"
    near_duplicate = "near_duplicate"


_TEXT = {ColumnType.string, ColumnType.email, ColumnType.phone, ColumnType.enum}
_NUMERIC = {ColumnType.int, ColumnType.float}
_DATES = {ColumnType.date, ColumnType.timestamp}
_ANY_VALUE = _TEXT | _NUMERIC | _DATES
# Which column types each cell-level error kind can be injected into.
APPLICABLE: dict[ErrorKind, set[ColumnType]] = {
    ErrorKind.whitespace: _TEXT,
    ErrorKind.wrong_case: {ColumnType.string, ColumnType.enum},
    ErrorKind.email_case: {ColumnType.email},
    ErrorKind.invalid_email: {ColumnType.email},
    ErrorKind.phone_format: {ColumnType.phone},
    ErrorKind.malformed_phone: {ColumnType.phone},
    ErrorKind.date_format: _DATES,
    ErrorKind.unparseable_date: _DATES,
    ErrorKind.date_out_of_range: _DATES,
    ErrorKind.out_of_range: _NUMERIC,
    ErrorKind.negative_amount: _NUMERIC,
    ErrorKind.number_as_string: _NUMERIC,
    ErrorKind.missing: _ANY_VALUE,
    ErrorKind.empty_string: _TEXT,
    ErrorKind.orphan_fk: {ColumnType.id},
    ErrorKind.locale_decimal: {ColumnType.float},
    ErrorKind.currency_code: _NUMERIC,
    ErrorKind.trunk_prefix: {ColumnType.phone},
    ErrorKind.phone_extension: {ColumnType.phone},
    ErrorKind.iso_offset: {ColumnType.timestamp},
    ErrorKind.date_only: {ColumnType.timestamp},
    ErrorKind.named_month: _DATES,
    ErrorKind.email_dots: {ColumnType.email},
    ErrorKind.idn_email: {ColumnType.email},
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- value sources -------------------------------------------------------------------------------
class Sequence(_Model):
    kind: Literal["sequence"]
    start: int = Field(1, description="First key; keys are start, start+1, ... in row order.")


class FakerPool(_Model):
    kind: Literal["faker"]
    provider: str = Field(description="Faker provider, e.g. first_name, city, catch_phrase: one that takes "
                                      "no arguments and returns text or a number.")
    pool_size: int = Field(2000, ge=1, le=limits.MAX_POOL_SIZE,
                           description="Distinct values drawn from Faker once.")
    locale: str = Field("en_US", description="Faker locale, e.g. en_US, de_DE.")

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, name: str) -> str:
        if name.startswith("_"):
            raise ValueError(f"'{name}' is not a Faker provider (names starting with _ are Python internals)")
        if name not in PROVIDERS:
            raise ValueError(f"Faker provider '{name}' is not allowed: a provider must take no arguments and "
                             f"return text or a number{_did_you_mean(name, PROVIDERS)}")
        return name

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, name: str) -> str:
        if name not in LOCALES:
            raise ValueError(f"unknown Faker locale '{name}'{_did_you_mean(name, LOCALES)}")
        return name


def _did_you_mean(name: str, known) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.7)
    return f"; did you mean {', '.join(close)}?" if close else " (see docs/spec.md)"


class Choice(_Model):
    kind: Literal["choice"]
    values: list[str | int | float] = Field(min_length=1)
    weights: list[float] | None = Field(None, description="Relative weights, one per value.")

    @model_validator(mode="after")
    def _weights_match(self) -> Choice:
        if self.weights is not None and len(self.weights) != len(self.values):
            raise ValueError("weights must have one entry per value")
        return self


class IntRange(_Model):
    kind: Literal["int_range"]
    min: int
    max: int
    distribution: Literal["uniform", "normal"] = "uniform"
    mean: float | None = None
    sd: float | None = None


class FloatRange(_Model):
    kind: Literal["float_range"]
    min: float
    max: float
    decimals: int = Field(2, ge=0, le=6)
    distribution: Literal["uniform", "lognormal"] = "uniform"


class DatetimeRange(_Model):
    kind: Literal["datetime_range"]
    start: str = Field(description="ISO date or datetime, inclusive.")
    end: str = Field(description="ISO date or datetime, exclusive.")


class ForeignKey(_Model):
    kind: Literal["foreign_key"]
    table: str = Field(description="Parent table; its primary key must be a sequence.")
    distribution: Literal["uniform", "zipf"] = "uniform"
    zipf_a: float = Field(1.3, gt=1.0, description="Skew for zipf: a few parents get most children.")
    null_fraction: float = Field(0.0, ge=0, le=1, description="Share of rows with no parent (optional FK).")


class Lookup(_Model):
    kind: Literal["lookup"]
    via: str = Field(description="Foreign-key column of this table.")
    column: str = Field(description="Column of the parent table to copy.")


class After(_Model):
    kind: Literal["after"]
    column: str = Field(description="Date/timestamp column of this table to start from.")
    min_hours: float = 0
    max_hours: float = 72


class Expr(_Model):
    kind: Literal["expr"]
    expr: str = Field(description="Arithmetic over numeric columns of this table: + - * / ( ) round().")
    decimals: int = 2


class Aggregate(_Model):
    kind: Literal["aggregate"]
    table: str = Field(description="Child table to aggregate.")
    via: str = Field(description="Column of the child table that points at this table's key.")
    expr: str = Field("1", description="Arithmetic over the child's numeric columns.")
    agg: Literal["sum", "count", "max", "min"] = "sum"
    decimals: int = 2


class Template(_Model):
    kind: Literal["template"]
    template: str = Field(description="Text with {column} placeholders of this table's columns.")
    lower: bool = False


class Phone(_Model):
    kind: Literal["phone"]
    country_code: int = Field(1, description="Calling code. Numbers are valid numbers (libphonenumber) of the "
                              "column's region when it has this code, else of the code's main region, in E.164.")


Source = Annotated[
    Sequence | FakerPool | Choice | IntRange | FloatRange | DatetimeRange | ForeignKey | Lookup | After | Expr | Aggregate | Template | Phone,
    Field(discriminator="kind"),
]


class Column(_Model):
    type: ColumnType = Field(description="Silver type; decides which cleaning rules apply.")
    source: Source
    required: bool = Field(True, description="A row whose value is missing or unrepairable is quarantined.")
    min: float | str | None = Field(None, description="Lowest valid value (number or ISO date).")
    max: float | str | None = Field(None, description="Highest valid value (number or ISO date).")
    case: Literal["lower", "upper", "title", "proper", "keep"] = Field(
        "keep", description="Canonical letter case; 'proper' title-cases only ALL-UPPER or all-lower values.")
    emit: bool = Field(True, description="False for helper columns used only by templates/expressions.")
    errors: list[ErrorKind] = Field(default_factory=list, description="Cell errors injected here.")
    error_weight: float = Field(1.0, ge=0, description="Share of the table's dirty rows this column gets.")
    locale: str | None = Field(None, description="CLDR locale of this column's numbers and numeric dates "
                               "(decimal mark, grouping, day/month order); default: the dataset's locale.")
    currency: str | None = Field(None, description="ISO 4217 code of an amount column; a value in another "
                                 "currency is invalid. Default: the locale's currency.")
    region: str | None = Field(None, description="Region (ISO 3166 alpha-2) assumed for this phone column's "
                               "numbers without a country code; default: default_phone_region.")


class Rows(_Model):
    count: int | None = Field(None, ge=1, le=limits.MAX_TABLE_ROWS, description="Fixed row count.")
    per: str | None = Field(None, description="Scale with another table's row count...")
    ratio: float | None = Field(None, gt=0, le=limits.MAX_RATIO, description="...by this ratio.")
    children_of: str | None = Field(None, description="1..n rows for every row of this parent table...")
    via: str | None = Field(None, description="...linked by this foreign-key column of this table...")
    min_children: int = Field(1, ge=0, le=limits.MAX_CHILDREN)
    max_children: int = Field(4, ge=1, le=limits.MAX_CHILDREN)
    at_least: int = Field(1, ge=1, le=limits.MAX_TABLE_ROWS, description="Lower bound after scaling.")
    at_most: int | None = Field(None, ge=1, le=limits.MAX_TABLE_ROWS,
                                description="Upper bound after scaling.")

    @model_validator(mode="after")
    def _one_way(self) -> Rows:
        ways = [self.count is not None, self.per is not None, self.children_of is not None]
        if sum(ways) != 1:
            raise ValueError("rows needs exactly one of: count, per (+ratio), children_of (+via)")
        if self.per is not None and self.ratio is None:
            raise ValueError("rows.per needs a ratio")
        if self.children_of is not None and self.via is None:
            raise ValueError("rows.children_of needs via (the foreign-key column)")
        if self.max_children < self.min_children:
            raise ValueError("max_children is below min_children")
        return self


class Table(_Model):
    description: str = ""
    rows: Rows
    primary_key: str = Field(description="Business key column (type id, sequence source).")
    updated_at: str | None = Field(None, description="Column that orders versions: de-duplication keeps the latest.")
    error_rate: float | None = Field(None, ge=0, le=1, description="Overrides the dataset's error_rate.")
    row_errors: list[Literal["exact_duplicate", "near_duplicate"]] = Field(default_factory=list)
    columns: dict[str, Column]


class DatasetSpec(_Model):
    name: str = Field(pattern=NAME)
    description: str = ""
    anchor: str = Field(description="Table whose row count the user asks for (e.g. orders).")
    error_rate: float = Field(0.3, ge=0, le=1, description="Share of rows carrying one injected error.")
    default_phone_region: str = Field("US", description="Region assumed for phones without a country code.")
    locale: str = Field("en_US", description="CLDR locale of the data (e.g. en_US, de_DE): the decimal mark and "
                        "grouping of numbers, the default currency, and day/month order of numeric dates.")
    tables: dict[str, Table]

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSpec:
        problems = list(_cross_check(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def digest(self) -> str:
        # Column order shapes the output, so the digest keeps it (no sort_keys).
        text = json.dumps(self.model_dump(mode="json"), separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def emitted(self, table: str) -> list[str]:
        return [c for c, col in self.tables[table].columns.items() if col.emit]


_PLACEHOLDER = re.compile(r"{([a-z][a-z0-9_]*)}")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def expr_columns(expr: str) -> set[str]:
    return {name for name in _IDENT.findall(expr) if name != "round"}


def _cross_check(spec: DatasetSpec):
    tables = spec.tables
    yield from (f"locale: {p}" for p in conventions.locale_problems(spec.locale))
    yield from (f"default_phone_region: {p}" for p in conventions.region_problems(spec.default_phone_region))
    if spec.anchor not in tables:
        yield f"anchor '{spec.anchor}' is not a table"
    for tname, table in tables.items():
        where = f"tables.{tname}"
        if not re.fullmatch(NAME, tname):
            yield f"{where}: table names are lower_snake_case"
        cols = table.columns
        for cname, col in cols.items():
            if not re.fullmatch(NAME, cname):
                yield f"{where}.columns.{cname}: column names are lower_snake_case"
        pk = cols.get(table.primary_key)
        if pk is None:
            yield f"{where}.primary_key '{table.primary_key}' is not a column"
        elif not isinstance(pk.source, Sequence) or pk.type != ColumnType.id:
            yield f"{where}.primary_key '{table.primary_key}' must be type id with a sequence source"
        elif pk.errors:
            yield f"{where}.primary_key '{table.primary_key}' cannot carry errors (use row_errors)"
        if table.updated_at and table.updated_at not in cols:
            yield f"{where}.updated_at '{table.updated_at}' is not a column"
        if "near_duplicate" in table.row_errors and not table.updated_at:
            yield f"{where}: near_duplicate needs updated_at (the version that de-duplication keeps)"
        rows = table.rows
        for ref in (rows.per, rows.children_of):
            if ref is not None and ref not in tables:
                yield f"{where}.rows refers to unknown table '{ref}'"
        if rows.children_of is not None:
            via = cols.get(rows.via or "")
            if via is None or not isinstance(via.source, ForeignKey) or via.source.table != rows.children_of:
                yield f"{where}.rows.via must be a foreign_key column to '{rows.children_of}'"
        for cname, col in cols.items():
            at = f"{where}.columns.{cname}"
            yield from _check_column(spec, tname, cname, col, at)


def _check_column(spec: DatasetSpec, tname: str, cname: str, col: Column, at: str):
    tables, cols, src = spec.tables, spec.tables[tname].columns, col.source
    yield from _check_conventions(col, at)
    for kind in col.errors:
        allowed = APPLICABLE.get(kind, set())
        if col.type not in allowed:
            yield f"{at}: error '{kind.value}' does not apply to type '{col.type.value}'"
        if kind == ErrorKind.wrong_case and col.case == "keep":
            yield f"{at}: wrong_case needs a canonical case (lower, upper, title or proper)"
        if kind == ErrorKind.orphan_fk and not isinstance(src, ForeignKey):
            yield f"{at}: orphan_fk needs a foreign_key source"
        if kind in (ErrorKind.out_of_range, ErrorKind.negative_amount) and col.min is None:
            yield f"{at}: '{kind.value}' needs a min (the valid lower bound)"
        if kind == ErrorKind.date_out_of_range and (col.min is None or col.max is None):
            yield f"{at}: date_out_of_range needs min and max dates"
    if isinstance(src, ForeignKey):
        if src.table not in tables:
            yield f"{at}: foreign_key to unknown table '{src.table}'"
        elif col.type != ColumnType.id:
            yield f"{at}: a foreign_key column has type id"
    if isinstance(src, Lookup):
        via = cols.get(src.via)
        if via is None or not isinstance(via.source, ForeignKey):
            yield f"{at}: lookup.via '{src.via}' must be a foreign_key column of this table"
        elif src.column not in tables.get(via.source.table, Table.model_construct(columns={})).columns:
            yield f"{at}: lookup column '{src.column}' not found in '{via.source.table}'"
    if isinstance(src, After) and src.column not in cols:
        yield f"{at}: after.column '{src.column}' is not a column of this table"
    if isinstance(src, Expr):
        for name in expr_columns(src.expr) - set(cols):
            yield f"{at}: expr uses unknown column '{name}'"
    if isinstance(src, Template):
        for name in set(_PLACEHOLDER.findall(src.template)) - set(cols):
            yield f"{at}: template uses unknown column '{name}'"
    if isinstance(src, Aggregate):
        child = tables.get(src.table)
        if child is None:
            yield f"{at}: aggregate over unknown table '{src.table}'"
        else:
            for name in (expr_columns(src.expr) | {src.via}) - set(child.columns):
                yield f"{at}: aggregate uses unknown column '{src.table}.{name}'"
    if isinstance(src, Phone) and _phone_region(src.country_code) is None:
        yield f"{at}: calling code +{src.country_code} belongs to no region (e.g. 1 for US, 49 for DE)"
    if col.type == ColumnType.enum and not isinstance(src, (Choice, Lookup)):
        yield f"{at}: enum columns take a choice (or lookup) source"


def _phone_region(country_code: int) -> str | None:
    import phonenumbers

    region = phonenumbers.region_code_for_country_code(country_code)
    return region if region in phonenumbers.SUPPORTED_REGIONS else None


def references(spec: DatasetSpec, table: str, column: str) -> str | None:
    """The table a column points into: its foreign key, or the key a lookup copies from a parent."""
    seen = set()
    while (table, column) not in seen:
        seen.add((table, column))
        src = spec.tables[table].columns[column].source
        if isinstance(src, ForeignKey):
            return src.table
        if not isinstance(src, Lookup):
            return None
        via = spec.tables[table].columns[src.via].source
        table, column = via.table, src.column  # type: ignore[union-attr]
    return None


def _format_error(err: ValidationError, origin: str) -> str:
    lines = [f"invalid dataset spec ({origin}):"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        lines.append(f"  - {loc or '<root>'}: {e['msg']}")
    return "\n".join(lines)


def parse_spec(data: dict[str, Any], origin: str = "<dict>") -> DatasetSpec:
    """The spec, if well formed and within the limits for one anchor row (a job's rows are checked later)."""
    from .sizing import check_size  # sizing builds on this module's model

    try:
        spec = DatasetSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(_format_error(err, origin)) from None
    check_size(spec, 1, origin)
    return spec


def load_spec(path: str | Path | None = None) -> DatasetSpec:
    """Load a spec from YAML/JSON; None means the built-in e-commerce spec."""
    p = Path(path) if path else BUILTIN_DIR / "ecommerce.yaml"
    if not p.is_file():
        raise SpecError(f"spec file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        raise SpecError(f"spec {p} is not valid YAML/JSON: {err}") from None
    if not isinstance(data, dict):
        raise SpecError(f"spec {p} must be a mapping at the top level")
    return parse_spec(data, str(p))


def export_json_schema() -> dict[str, Any]:
    schema = DatasetSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Dataset spec for the synthetic dirty-data generator"
    return schema


def _check_conventions(col: Column, at: str):
    if col.locale is not None:
        if col.type not in _NUMERIC | _DATES:
            yield f"{at}: locale applies to number and date columns, not '{col.type.value}'"
        yield from (f"{at}.locale: {p}" for p in conventions.locale_problems(col.locale))
    if col.currency is not None:
        if col.type not in _NUMERIC:
            yield f"{at}: currency applies to number columns, not '{col.type.value}'"
        yield from (f"{at}.currency: {p}" for p in conventions.currency_problems(col.currency))
    if col.region is not None:
        if col.type != ColumnType.phone:
            yield f"{at}: region applies to phone columns, not '{col.type.value}'"
        yield from (f"{at}.region: {p}" for p in conventions.region_problems(col.region))
