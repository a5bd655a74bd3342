"""The baselines the project is measured against: a per-row Faker generator and hand-written DuckDB SQL."""
from __future__ import annotations

import random
from collections import OrderedDict
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

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


ORDER_COLUMNS = ["order_id", "user_id", "shipping_location_id", "status", "channel", "currency", "ordered_at",
                 "total_amount", "updated_at"]
USER_COLUMNS = ["user_id", "first_name", "last_name", "email", "phone", "age", "gender", "location_id", "signup_at",
                "updated_at"]
# The 'before' rules' regexes (commit 1582a21, cleaning/pandas_engine.py), written out as a user would.
EMAIL = r"[a-z0-9._%+'-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}"
NUMBER = r"[-+]?\d+(\.\d+)?"
NUMBER_DECORATION = r"^\$|\s*USD$|,|\s"


def _orders_parsed(src: str, user_keys: str) -> str:
    """src: a relation of the Bronze text columns and _bronze_row; user_keys: a relation of user_id."""
    return f"""
        WITH typed AS (
            SELECT src.*,
                {_id('order_id')} AS c_order_id, {_id('user_id')} AS c_user_id,
                {_id('shipping_location_id')} AS c_shipping_location_id,
                lower({_txt('status')}) AS c_status, lower({_txt('channel')}) AS c_channel_raw,
                upper({_txt('currency')}) AS c_currency, {_ts('ordered_at')} AS c_ordered_at,
                {_num('total_amount')} AS c_total_amount, {_ts('updated_at')} AS c_updated_at
            FROM {src} src
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
        FROM typed t LEFT JOIN {user_keys} u ON u.user_id = t.c_user_id"""


def _ranked(key: str) -> str:
    return f"""
        CREATE TEMP TABLE ranked AS
        SELECT *, row_number() OVER (PARTITION BY c_{key} ORDER BY c_updated_at DESC, _bronze_row DESC) AS _rank
        FROM parsed WHERE _column IS NULL"""


def _silver(columns: list[str]) -> str:
    return f"SELECT {', '.join(f'c_{c} AS {c}' for c in columns)} FROM ranked WHERE _rank = 1 ORDER BY _bronze_row"


def _quarantine(columns: list[str], key: str) -> str:
    raw = ", ".join(columns)
    return f"""SELECT {raw}, _bronze_row, _column FROM parsed WHERE _column IS NOT NULL
        UNION ALL SELECT {raw}, _bronze_row, '{key}' FROM ranked WHERE _rank > 1"""


def duckdb_clean_orders(files: list[str], user_keys_parquet: str, silver_out: str, quarantine_out: str) -> int:
    """The orders rules of the catalogue written by hand as one DuckDB query, JSONL in, Parquet out; Silver rows."""
    typed = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in ORDER_COLUMNS) + "}"
    src = (f"(SELECT *, row_number() OVER () - 1 AS _bronze_row "
           f"FROM read_json({files!r}, format='newline_delimited', columns={typed}))")
    con = duckdb.connect()
    con.execute(f"CREATE TEMP TABLE parsed AS {_orders_parsed(src, f'read_parquet({user_keys_parquet!r})')}")
    con.execute(_ranked("order_id"))
    con.execute(f"COPY ({_silver(ORDER_COLUMNS)}) TO '{silver_out}' (FORMAT PARQUET, COMPRESSION ZSTD)")
    con.execute(f"COPY ({_quarantine(ORDER_COLUMNS, 'order_id')}) TO '{quarantine_out}' "
                "(FORMAT PARQUET, COMPRESSION ZSTD)")
    rows = con.execute("SELECT count(*) FROM ranked WHERE _rank = 1").fetchone()[0]
    con.close()
    return rows


def duckdb_clean_orders_memory(bronze: pa.Table, user_keys: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The same orders query, Bronze (text columns, _bronze_row) in memory as Arrow, Silver and quarantine out."""
    return _in_memory(bronze, {"user_keys": user_keys}, _orders_parsed("bronze", "user_keys"), "order_id",
                      ORDER_COLUMNS)


def _users_parsed(src: str, location_keys: str) -> str:
    """The users rules as the catalogue had them before library-backed rules: regex phone and e-mail."""
    phone = _txt("phone")
    digits = f"regexp_replace({phone}, '\\D', '', 'g')"
    age = f"regexp_replace({_txt('age')}, '{NUMBER_DECORATION}', '', 'g')"
    return f"""
        WITH texts AS (
            SELECT src.*, {_id('user_id')} AS c_user_id, {_id('location_id')} AS c_location_id_raw,
                {_txt('first_name')} AS t_first_name, {_txt('last_name')} AS t_last_name,
                lower({_txt('email')}) AS t_email, starts_with({phone}, '+') AS t_plus, {digits} AS t_digits,
                {age} AS t_age, lower({_txt('gender')}) AS t_gender,
                {_ts('signup_at')} AS t_signup_at, {_ts('updated_at')} AS c_updated_at
            FROM {src} src
        ), typed AS (
            SELECT t.*,
                CASE WHEN t_first_name = upper(t_first_name) OR t_first_name = lower(t_first_name)
                     THEN title_case(t_first_name) ELSE t_first_name END AS c_first_name,
                CASE WHEN t_last_name = upper(t_last_name) OR t_last_name = lower(t_last_name)
                     THEN title_case(t_last_name) ELSE t_last_name END AS c_last_name,
                CASE WHEN regexp_full_match(t_email, '{EMAIL.replace("'", "''")}') THEN t_email END AS c_email,
                CASE WHEN t_plus AND length(t_digits) BETWEEN 8 AND 15 THEN '+' || t_digits
                     WHEN NOT t_plus AND length(t_digits) = 10 THEN '+1' || t_digits
                     WHEN NOT t_plus AND length(t_digits) = 11 AND starts_with(t_digits, '1') THEN '+' || t_digits
                END AS c_phone,
                CASE WHEN regexp_full_match(t_age, '{NUMBER}') AND TRY_CAST(t_age AS DOUBLE) BETWEEN 13 AND 120
                          AND TRY_CAST(t_age AS DOUBLE) = round(TRY_CAST(t_age AS DOUBLE))
                     THEN CAST(TRY_CAST(t_age AS DOUBLE) AS BIGINT) END AS c_age,
                CASE WHEN t_gender IN ('female', 'male', 'nonbinary', 'unknown') THEN t_gender END AS c_gender,
                CASE WHEN l.location_id IS NOT NULL THEN t.c_location_id_raw END AS c_location_id,
                CASE WHEN t_signup_at >= TIMESTAMP '2018-01-01' AND t_signup_at < TIMESTAMP '2026-01-01'
                     THEN t_signup_at END AS c_signup_at
            FROM texts t LEFT JOIN {location_keys} l ON l.location_id = t.c_location_id_raw
        )
        SELECT *,
            CASE
                WHEN c_user_id IS NULL THEN 'user_id'
                WHEN c_first_name IS NULL THEN 'first_name'
                WHEN c_last_name IS NULL THEN 'last_name'
                WHEN c_updated_at IS NULL THEN 'updated_at'
            END AS _column
        FROM typed"""


def duckdb_clean_users_memory(bronze: pa.Table, location_keys: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The users rules by hand, phone and e-mail as the regex rules were (1582a21); Arrow in, Arrow out.

    Optional columns (e-mail, phone, age, gender, location, signup) are nulled when invalid, required ones
    (id, names, updated_at) quarantine the row, the latest version of each user_id is kept. Names are
    title-cased with Arrow's utf8_title as a DuckDB Arrow UDF, as the 'before' DuckDB engine did: SQL has no twin.
    """
    return _in_memory(bronze, {"location_keys": location_keys}, _users_parsed("bronze", "location_keys"), "user_id",
                      USER_COLUMNS)


def _in_memory(bronze: pa.Table, relations: dict[str, pa.Table], parsed: str, key: str,
               columns: list[str]) -> tuple[pa.Table, pa.Table]:
    con = duckdb.connect()
    try:
        con.create_function("title_case", lambda s: pc.utf8_title(s), ["VARCHAR"], "VARCHAR", type="arrow")
        con.register("bronze", bronze)
        for name, table in relations.items():
            con.register(name, table)
        con.execute(f"CREATE TEMP TABLE parsed AS {parsed}")
        con.execute(_ranked(key))
        return con.sql(_silver(columns)).to_arrow_table(), con.sql(_quarantine(columns, key)).to_arrow_table()
    finally:
        con.close()
