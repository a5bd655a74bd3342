"""Silver into MySQL/MariaDB: the staging tables dbt builds Gold from when WAREHOUSE=mysql.

MySQL cannot read Parquet in object storage, so a partition's Silver is copied into one table per Silver table
(`silver_<table>`, all partitions side by side, keyed by pipeline_user/pipeline_job). One transaction per
partition replaces that partition's rows in every table: a re-load never duplicates, a failed load leaves the
previous rows, and other partitions are untouched, so partitions load in parallel.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa

from ..ids import check_id
from ..settings import MySQLSettings

BATCH_ROWS = 5_000
# Text columns by what they hold; ids are [a-z0-9_-]{1,40}. A longer value fails the load, naming the column.
TEXT_TYPES = {"enum": "VARCHAR(64)", "email": "VARCHAR(255)", "phone": "VARCHAR(32)", "string": "TEXT"}
ARROW_TYPES = {pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN", pa.date32(): "DATE",
               pa.timestamp("us"): "DATETIME(6)"}
PARTITION_COLUMNS = ("pipeline_user", "pipeline_job")
_pools: dict[tuple, object] = {}
_pools_lock = threading.Lock()


class WarehouseError(RuntimeError):
    pass


@dataclass(frozen=True)
class LoadReport:
    rows: dict[str, int]
    seconds: float


@dataclass(frozen=True)
class Layout:
    """What the spec says about a staging table: column types (which size text columns) and keys (indexes)."""

    kinds: Mapping[str, str]
    primary_key: str
    foreign_keys: tuple[str, ...]


def layouts(spec) -> dict[str, Layout]:
    from ..cleaning.catalogue import plan_table

    out = {}
    for name in spec.tables:
        plan = plan_table(spec, name)
        out[name] = Layout({c.name: c.type.value for c in plan.columns}, plan.primary_key,
                           tuple(sorted(plan.foreign_keys)))
    return out


def staging_table(table: str) -> str:
    check_id(table, "table")
    return f"silver_{table}"


def column_type(field: pa.Field, kind: str | None) -> str:
    if field.name in PARTITION_COLUMNS:
        return "VARCHAR(40) NOT NULL"
    if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
        return TEXT_TYPES.get(kind or "string", "TEXT")
    try:
        return ARROW_TYPES[field.type]
    except KeyError:
        raise WarehouseError(f"column {field.name!r} has type {field.type}, which has no MySQL column type here") \
            from None


def create_sql(table: str, schema: pa.Schema, layout: Layout) -> str:
    columns = [f"`{f.name}` {column_type(f, layout.kinds.get(f.name))}" for f in schema]
    # Every index leads with the partition: a partition's delete and re-insert touch only its own rows, so two
    # partitions load at once without waiting on each other, and dbt's joins on keys stay index lookups.
    part = "`pipeline_user`, `pipeline_job`"
    keys = [f"PRIMARY KEY ({part}, `{layout.primary_key}`)"]
    keys += [f"KEY `fk_{fk}` ({part}, `{fk}`)" for fk in layout.foreign_keys]
    # utf8mb4_bin: strings compare byte for byte, as in DuckDB.
    return (f"CREATE TABLE IF NOT EXISTS `{staging_table(table)}` ({', '.join(columns + keys)}) "
            "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")


def _connect_args(settings: MySQLSettings) -> dict:
    return {"host": settings.host, "port": settings.port, "user": settings.user,
            "password": os.environ.get("MYSQL_PASSWORD", ""), "database": settings.database,
            "charset": "utf8mb4", "collation": "utf8mb4_bin", "autocommit": False,
            # Strict whatever the server default: a value that does not fit fails instead of being cut.
            "sql_mode": "STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION"}


def _explain(err, settings: MySQLSettings) -> WarehouseError:
    """A connector error as a message for a person; never with the password."""
    from mysql.connector import errorcode

    if err.errno == errorcode.ER_ACCESS_DENIED_ERROR:
        return WarehouseError(f"MySQL refused the login {settings.describe()}: check MYSQL_USER and MYSQL_PASSWORD")
    if err.errno == errorcode.ER_BAD_DB_ERROR:
        return WarehouseError(f"MySQL database {settings.database!r} does not exist at {settings.host}:"
                              f"{settings.port}: create it or set MYSQL_DATABASE")
    if err.errno in (errorcode.CR_CONN_HOST_ERROR, errorcode.CR_CONNECTION_ERROR):
        return WarehouseError(f"cannot reach MySQL at {settings.host}:{settings.port} (MYSQL_HOST, MYSQL_PORT)")
    return WarehouseError(f"MySQL error {err.errno}: {err.msg}")


@contextmanager
def connection(settings: MySQLSettings) -> Iterator:
    """A pooled connection (one pool per server, user and database in this process)."""
    import mysql.connector
    from mysql.connector import pooling

    key = (settings, os.environ.get("MYSQL_PASSWORD", ""))
    try:
        with _pools_lock:
            if key not in _pools:
                _pools[key] = pooling.MySQLConnectionPool(pool_name=f"gold{len(_pools)}", pool_size=4,
                                                          **_connect_args(settings))
            pool = _pools[key]
        conn = pool.get_connection()
    except mysql.connector.Error as err:
        raise _explain(err, settings) from None
    try:
        yield conn
    finally:
        conn.close()  # back to the pool


def _check_partition_columns(name: str, data: pa.Table, user: str, job: str) -> None:
    # The partition's delete touches only rows carrying its own user and job; a row naming another partition
    # would outlive every re-load of this one.
    for column, expected in zip(PARTITION_COLUMNS, (user, job), strict=True):
        if column not in data.column_names:
            raise WarehouseError(f"Silver table {name} has no {column} column")
        if data.num_rows and set(data.column(column).unique().to_pylist()) != {expected}:
            raise WarehouseError(f"Silver table {name} of {user}.{job} holds rows of another partition "
                                 f"(column {column})")


def _rows(table: pa.Table) -> list[tuple]:
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return list(zip(*columns, strict=True))


def load_partition(settings: MySQLSettings, user: str, job: str, tables: Mapping[str, pa.Table],
                   table_layouts: Mapping[str, Layout]) -> LoadReport:
    """Replace (user, job)'s rows in every staging table, all or nothing."""
    import mysql.connector

    check_id(user, "user"), check_id(job, "job")
    for name, data in tables.items():
        _check_partition_columns(name, data, user, job)
    started = time.perf_counter()
    counts, current = {}, None
    with connection(settings) as conn:
        cursor = conn.cursor()
        try:
            for name, data in tables.items():  # DDL commits by itself in MySQL, so it comes first
                cursor.execute(create_sql(name, data.schema, table_layouts[name]))
            conn.start_transaction(isolation_level="READ COMMITTED")
            for name, data in tables.items():
                current = name
                target = staging_table(name)
                cursor.execute(f"DELETE FROM `{target}` WHERE pipeline_user = %s AND pipeline_job = %s", (user, job))
                insert = (f"INSERT INTO `{target}` ({', '.join(f'`{c}`' for c in data.column_names)}) "
                          f"VALUES ({', '.join(['%s'] * data.num_columns)})")
                for batch in data.to_batches(BATCH_ROWS):
                    cursor.executemany(insert, _rows(pa.Table.from_batches([batch], data.schema)))
                counts[name] = data.num_rows
            conn.commit()
        except mysql.connector.Error as err:
            conn.rollback()
            where = f" into {staging_table(current)}" if current else ""
            raise WarehouseError(f"loading {user}.{job}{where} failed, nothing was changed: "
                                 f"{_explain(err, settings)}") from None
        finally:
            cursor.close()
    return LoadReport(counts, time.perf_counter() - started)
