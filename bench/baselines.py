"""The baselines the project is measured against: a per-row Faker generator and hand-written DuckDB SQL."""
from __future__ import annotations

import random
from collections import OrderedDict
from datetime import datetime, timedelta

import duckdb

STATUSES = ["placed", "paid", "shipped", "delivered", "cancelled", "returned"]
STATUS_WEIGHTS = OrderedDict(zip(STATUSES, [0.05, 0.10, 0.15, 0.60, 0.06, 0.04]))
CHANNELS = ["web", "mobile_app", "marketplace"]
ERRORS = [("user_id", "orphan_fk"), ("status", "wrong_case"), ("status", "whitespace"), ("status", "missing"),
          ("channel", "wrong_case"), ("currency", "wrong_case"), ("ordered_at", "date_format"),
          ("ordered_at", "unparseable_date"), ("ordered_at", "date_out_of_range"), ("total_amount", "negative_amount"),
          ("total_amount", "number_as_string"), ("total_amount", "missing"), ("*", "exact_duplicate"),
          ("*", "near_duplicate")]


def faker_orders(n: int, seed: int = 1):
    """The orders schema one Faker call per cell, errors injected row by row, ledger as dicts."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rnd = random.Random(seed)
    users = max(1, n // 5)
    rows, ledger, extra = [], [], []
    start, end = datetime(2024, 1, 1), datetime(2025, 1, 1)
    for i in range(1, n + 1):
        ordered = fake.date_time_between(start_date=start, end_date=end)
        row = {
            "order_id": i, "user_id": fake.random_int(1, users),
            "status": fake.random_element(STATUS_WEIGHTS),
            "channel": fake.random_element(CHANNELS), "currency": "USD",
            "ordered_at": ordered.strftime("%Y-%m-%d %H:%M:%S"),
            "total_amount": round(fake.pyfloat(min_value=5, max_value=2000), 2),
            "updated_at": (ordered + timedelta(hours=fake.random_int(0, 240))).strftime("%Y-%m-%d %H:%M:%S"),
        }
        if rnd.random() < 0.3:
            column, kind = rnd.choice(ERRORS)
            clean = row.get(column)
            if kind == "orphan_fk":
                row[column] = users + rnd.randint(1, 10**6)
            elif kind == "wrong_case":
                row[column] = str(clean).upper() if column != "currency" else "usd"
            elif kind == "whitespace":
                row[column] = f"  {clean} "
            elif kind == "missing":
                row[column] = None
            elif kind == "date_format":
                row[column] = ordered.strftime(rnd.choice(["%Y/%m/%d %H:%M:%S", "%m/%d/%Y %H:%M:%S"]))
            elif kind == "unparseable_date":
                row[column] = "not a date"
            elif kind == "date_out_of_range":
                row[column] = "1970-01-01 00:00:00"
            elif kind == "negative_amount":
                row[column] = -clean
            elif kind == "number_as_string":
                row[column] = f"${clean}"
            else:
                extra.append(dict(row))
            ledger.append({"table": "orders", "row_key": i, "column": column, "error_kind": kind,
                           "clean_value": None if clean is None else str(clean), "dirty_value": str(row.get(column))})
        rows.append(row)
    return rows + extra, ledger


WS = "' \t\n\r'"


def _txt(c: str) -> str:
    return f"nullif(trim({c}, {WS}), '')"


def _ts(c: str) -> str:
    formats = ["%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d %b %Y %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"]
    return "coalesce(" + ", ".join(f"try_strptime({_txt(c)}, '{f}')" for f in formats) + ")"


def _num(c: str) -> str:
    stripped = f"regexp_replace({_txt(c)}, '^\\$|\\s*USD$|,|\\s', '', 'g')"
    return f"CASE WHEN regexp_full_match({stripped}, '[-+]?\\d+(\\.\\d+)?') THEN CAST({stripped} AS DOUBLE) END"


def _id(c: str) -> str:
    return f"CASE WHEN regexp_full_match({_txt(c)}, '\\d+') THEN CAST({_txt(c)} AS BIGINT) END"


def duckdb_clean_orders(files: list[str], user_keys_parquet: str, silver_out: str, quarantine_out: str) -> int:
    """The orders rules of the catalogue written by hand as one DuckDB query; returns Silver rows."""
    cols = ["order_id", "user_id", "shipping_location_id", "status", "channel", "currency", "ordered_at",
            "total_amount", "updated_at"]
    typed = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in cols) + "}"
    con = duckdb.connect()
    con.execute(f"""
        CREATE TEMP TABLE parsed AS
        WITH src AS (
            SELECT *, row_number() OVER () - 1 AS _bronze_row
            FROM read_json({files!r}, format='newline_delimited', columns={typed})
        ), typed AS (
            SELECT src.*,
                {_id('order_id')} AS c_order_id, {_id('user_id')} AS c_user_id,
                {_id('shipping_location_id')} AS c_shipping_location_id,
                lower({_txt('status')}) AS c_status, lower({_txt('channel')}) AS c_channel_raw,
                upper({_txt('currency')}) AS c_currency, {_ts('ordered_at')} AS c_ordered_at,
                {_num('total_amount')} AS c_total_amount, {_ts('updated_at')} AS c_updated_at
            FROM src
        )
        SELECT t.*,
            CASE WHEN c_channel_raw IN ('web', 'mobile_app', 'marketplace') THEN c_channel_raw END AS c_channel,
            CASE
                WHEN c_order_id IS NULL THEN 'order_id'
                WHEN c_user_id IS NULL OR u.user_id IS NULL THEN 'user_id'
                WHEN c_shipping_location_id IS NULL THEN 'shipping_location_id'
                WHEN c_status IS NULL OR c_status NOT IN ('placed','paid','shipped','delivered','cancelled','returned')
                    THEN 'status'
                WHEN c_currency IS NULL OR c_currency <> 'USD' THEN 'currency'
                WHEN c_ordered_at IS NULL OR c_ordered_at < TIMESTAMP '2023-01-01'
                     OR c_ordered_at >= TIMESTAMP '2026-01-01' THEN 'ordered_at'
                WHEN c_total_amount IS NULL OR c_total_amount < 0 THEN 'total_amount'
                WHEN c_updated_at IS NULL THEN 'updated_at'
            END AS _column
        FROM typed t LEFT JOIN read_parquet('{user_keys_parquet}') u ON u.user_id = t.c_user_id
    """)
    con.execute("""
        CREATE TEMP TABLE ranked AS
        SELECT *, row_number() OVER (PARTITION BY c_order_id ORDER BY c_updated_at DESC, _bronze_row DESC) AS _rank
        FROM parsed WHERE _column IS NULL
    """)
    con.execute(f"""COPY (
        SELECT c_order_id AS order_id, c_user_id AS user_id, c_shipping_location_id AS shipping_location_id,
               c_status AS status, c_channel AS channel, c_currency AS currency, c_ordered_at AS ordered_at,
               c_total_amount AS total_amount, c_updated_at AS updated_at
        FROM ranked WHERE _rank = 1 ORDER BY _bronze_row) TO '{silver_out}' (FORMAT PARQUET, COMPRESSION ZSTD)""")
    con.execute(f"""COPY (
        SELECT order_id, user_id, shipping_location_id, status, channel, currency, ordered_at, total_amount,
               updated_at, _bronze_row, _column FROM parsed WHERE _column IS NOT NULL
        UNION ALL
        SELECT order_id, user_id, shipping_location_id, status, channel, currency, ordered_at, total_amount,
               updated_at, _bronze_row, 'order_id' FROM ranked WHERE _rank > 1
    ) TO '{quarantine_out}' (FORMAT PARQUET, COMPRESSION ZSTD)""")
    rows = con.execute("SELECT count(*) FROM ranked WHERE _rank = 1").fetchone()[0]
    con.close()
    return rows
