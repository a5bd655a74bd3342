"""The oracle checks over Silver Parquet: each check counts exactly the values the libraries or the bounds reject."""
import datetime as dt
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestrator_assets.cleaning.oracles import check_silver, email_ok, phone_ok
from orchestrator_assets.generation.spec import parse_spec

SPEC = parse_spec({
    "name": "oracle_shop", "anchor": "orders",
    "tables": {
        "customers": {"rows": {"count": 5}, "primary_key": "customer_id", "columns": {
            "customer_id": {"type": "id", "source": {"kind": "sequence"}},
            "email": {"type": "email", "required": False,
                      "source": {"kind": "template", "template": "c{customer_id}@example.com"}},
            "phone": {"type": "phone", "required": False, "source": {"kind": "phone"}},
            "signed_up": {"type": "date", "min": "2020-01-01", "max": "2026-01-01",
                          "source": {"kind": "datetime_range", "start": "2021-01-01", "end": "2025-01-01"}},
        }},
        "orders": {"rows": {"count": 5}, "primary_key": "order_id", "columns": {
            "order_id": {"type": "id", "source": {"kind": "sequence"}},
            "customer_id": {"type": "id", "source": {"kind": "foreign_key", "table": "customers"}},
            "ordered_at": {"type": "timestamp", "min": "2020-01-01", "max": "2026-01-01",
                           "source": {"kind": "datetime_range", "start": "2021-01-01", "end": "2025-01-01"}},
            "amount": {"type": "float", "min": 0, "max": 1000,
                       "source": {"kind": "float_range", "min": 1, "max": 900}},
        }},
    },
})


@pytest.mark.parametrize("value, ok", [
    ("+12015550123", True),        # libphonenumber's example US number, in E.164
    ("+14155552671", True),
    ("+493012345678", True),
    ("+15550100000", False),       # area code 555 is not assigned
    ("+1 201 555 0123", False),    # valid number, but not its E.164 form
    ("2015550123", False),         # no country code: not E.164
    ("+441632960000", False),      # Ofcom's drama range: not a valid number
    ("not a phone", False),
])
def test_phone_oracle(value, ok):
    assert phone_ok(value) is ok


@pytest.mark.parametrize("value, ok", [
    ("ann.lee@example.com", True),
    ("user@bücher.de", True),            # IDN domain in Unicode form: canonical
    ("ann.lee@Example.com", False),      # valid, but not lower-cased
    ("user@xn--bcher-kva.de", False),    # valid, but the canonical form is Unicode
    ("john..doe@example.com", False),    # dot rule
    ("ann@localhost", False),            # no TLD
    ("ann at example dot com", False),
])
def test_email_oracle(value, ok):
    assert email_ok(value) is ok


def _write(path, table):
    pq.write_table(table, path)
    return path


def test_each_check_counts_what_it_rejects(tmp_path):
    d = dt.date
    customers = pa.table({
        "customer_id": pa.array([1, 2, 3, 3, 5], pa.int64()),                       # 3 twice: 1 duplicate
        "email": ["a@example.com", "B@example.com", None, "user@bücher.de", "x..y@example.com"],  # 2 invalid
        "phone": ["+12015550123", "+12015550123", "+15550100000", None, "+15550100000"],  # 2 invalid, 1 distinct
        "signed_up": pa.array([d(2021, 1, 1), d(2019, 12, 31), d(2026, 1, 1), d(2025, 12, 31), None],
                              pa.date32()),  # 2 outside [min, max), 1 missing although required
    })
    ts = dt.datetime
    orders = pa.table({
        "order_id": pa.array([10, 11, 12, 13, None], pa.int64()),                  # a null key
        "customer_id": pa.array([1, 2, 99, None, 5], pa.int64()),                  # 99 dangles; null = missing
        "ordered_at": pa.array([ts(2024, 3, 5, 14, 30), ts(2026, 1, 1), ts(2020, 1, 1), ts(2025, 12, 31, 23, 59),
                                ts(2022, 1, 1)], pa.timestamp("us")),              # 2026-01-01 is out ([min, max))
        "amount": pa.array([0.0, 1000.0, 1000.01, math.nan, -5.0], pa.float64()),  # 3 invalid: >max, NaN, <min
    })
    files = {"customers": _write(tmp_path / "c.parquet", customers), "orders": _write(tmp_path / "o.parquet", orders)}
    report = check_silver(SPEC, files)
    got = {(c.table, c.column, c.check): (c.checked, c.invalid) for c in report.checks}
    assert got == {
        ("customers", "customer_id", "unique_key"): (5, 1),
        ("customers", "email", "valid_email"): (4, 2),
        ("customers", "phone", "valid_phone"): (4, 2),
        ("customers", "signed_up", "required"): (5, 1),
        ("customers", "signed_up", "in_range"): (4, 2),
        ("orders", "order_id", "unique_key"): (5, 1),
        ("orders", "customer_id", "required"): (5, 1),
        ("orders", "customer_id", "foreign_key"): (4, 1),
        ("orders", "ordered_at", "required"): (5, 0),
        ("orders", "ordered_at", "in_range"): (5, 1),
        ("orders", "amount", "required"): (5, 0),
        ("orders", "amount", "in_range"): (5, 3),
    }
    examples = {(c.table, c.column, c.check): c.examples for c in report.checks}
    assert examples["customers", "phone", "valid_phone"] == ["+15550100000"]
    assert sorted(examples["customers", "email", "valid_email"]) == ["B@example.com", "x..y@example.com"]
    assert examples["orders", "customer_id", "foreign_key"] == ["99"]
    assert report.invalid == 15 and not report.passed
    assert "customers.phone valid_phone: 2 of 4 invalid (e.g. '+15550100000')" in report.failures()


def test_clean_silver_passes_and_a_missing_parent_is_skipped(tmp_path):
    orders = pa.table({
        "order_id": pa.array([1, 2], pa.int64()), "customer_id": pa.array([7, 8], pa.int64()),
        "ordered_at": pa.array([dt.datetime(2024, 1, 1), dt.datetime(2025, 12, 31, 23, 59, 59)], pa.timestamp("us")),
        "amount": pa.array([0.0, 1000.0], pa.float64()),
    })
    report = check_silver(SPEC, {"orders": _write(tmp_path / "o.parquet", orders)})
    assert report.passed and report.invalid == 0
    assert {c.check for c in report.checks} == {"unique_key", "required", "in_range"}  # no parent: no FK check
    assert report.to_json()["checks"][0]["valid_share"] == 1.0
