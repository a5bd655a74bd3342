"""A demo job's Silver judged by independent oracles, not by our own ledger: every phone a valid number by
libphonenumber, every e-mail valid and canonical by email-validator, every timestamp a real instant in range,
every amount inside its bounds. The libraries are called here directly, not through the project's parsers."""
import datetime as dt

import email_validator
import phonenumbers
import pytest

from orchestrator_assets.cleaning.engines import get_engine
from orchestrator_assets.cleaning.run import clean_partition, read_silver
from orchestrator_assets.generation.bronze import write_bronze
from orchestrator_assets.generation.generator import generate
from orchestrator_assets.generation.spec import ColumnType, load_spec
from orchestrator_assets.storage.local import LocalStorage

ORDERS = 20_000


@pytest.fixture(scope="module")
def silver(tmp_path_factory):
    spec = load_spec()
    store = LocalStorage(tmp_path_factory.mktemp("demo"))
    manifest, _ = write_bronze(store, generate(spec, ORDERS, 3, "demo", "oracles"), "demo", "oracles", ORDERS)
    clean_partition(store, manifest, get_engine("duckdb"))
    return spec, {name: read_silver(store, name, "demo", "oracles") for name in spec.tables}


def _columns(spec, kind):
    return [(t, c, col) for t, table in spec.tables.items() for c, col in table.columns.items()
            if col.emit and col.type == kind]


def test_every_silver_phone_is_a_valid_number(silver):
    spec, tables = silver
    checked = 0
    for table, column, _ in _columns(spec, ColumnType.phone):
        for value in set(tables[table].column(column).drop_null().to_pylist()):
            number = phonenumbers.parse(value, None)
            assert phonenumbers.is_valid_number(number), value
            assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == value
            checked += 1
    assert checked > 1000


def test_every_silver_email_is_valid_and_canonical(silver):
    spec, tables = silver
    checked = 0
    for table, column, _ in _columns(spec, ColumnType.email):
        for value in set(tables[table].column(column).drop_null().to_pylist()):
            result = email_validator.validate_email(value, check_deliverability=False)
            assert result.normalized.lower() == value
            checked += 1
    assert checked > 1000


@pytest.mark.parametrize("kind", [ColumnType.timestamp, ColumnType.date, ColumnType.int, ColumnType.float])
def test_every_silver_value_is_inside_its_columns_bounds(silver, kind):
    spec, tables = silver
    for table, column, col in _columns(spec, kind):
        values = tables[table].column(column).drop_null().to_pylist()
        required = col.required or column == spec.tables[table].primary_key
        assert required is False or len(values) == tables[table].num_rows, (table, column)
        if kind in (ColumnType.timestamp, ColumnType.date):
            values = [v if isinstance(v, dt.datetime) else dt.datetime.combine(v, dt.time()) for v in values]
            low = dt.datetime.fromisoformat(col.min) if col.min is not None else None
            high = dt.datetime.fromisoformat(col.max) if col.max is not None else None
        else:
            low, high = col.min, col.max
        if values and low is not None:
            assert min(values) >= low, (table, column)
        if values and high is not None:
            assert (max(values) < high) if kind in (ColumnType.timestamp, ColumnType.date) else (max(values) <= high)
