"""Silver into MySQL/MariaDB: the staging tables dbt builds Gold from when WAREHOUSE=mysql.

MySQL cannot read Parquet in object storage, so a partition's Silver is copied into one table per Silver table
(`silver_<table>`, all partitions side by side, keyed by pipeline_user/pipeline_job). One transaction per
partition replaces that partition's rows in every table: a re-load never duplicates, a failed load leaves the
previous rows, and other partitions are untouched, so partitions load in parallel.

The Silver Parquet files are read one record batch at a time. Each batch goes in by `LOAD DATA LOCAL INFILE`
from a temporary file (warehouse/tsv.py) when the client setting and the server allow it, else by batched
INSERTs; the report says which, and why not the first.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..ids import check_id
from ..settings import MySQLSettings
from .tsv import write_batch

BATCH_ROWS = 5_000  # rows per INSERT on the batched path
CHUNK_ROWS = 50_000  # rows per LOAD DATA: one record batch, one temporary file, at a time
# Text columns by what they hold; ids are [a-z0-9_-]{1,40}. A longer value fails the load, naming the column.
TEXT_TYPES = {"enum": "VARCHAR(64)", "email": "VARCHAR(255)", "phone": "VARCHAR(32)", "string": "TEXT"}
ARROW_TYPES = {pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN", pa.date32(): "DATE",
               pa.timestamp("us"): "DATETIME(6)"}
PARTITION_COLUMNS = ("pipeline_user", "pipeline_job")
# Strict whatever the server default: a value that does not fit fails instead of being cut. No
# NO_BACKSLASH_ESCAPES: LOAD DATA's escape character is the backslash.
SQL_MODE = "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
SCRATCH_ROOT = Path(tempfile.gettempdir()) / "orchestrator-mysql-load"
# The server (or the client library) refusing LOAD DATA LOCAL: not the data's fault, so the batched path runs.
# ER_NOT_ALLOWED_COMMAND, CR_LOAD_DATA_LOCAL_INFILE_REJECTED, ER_CLIENT_LOCAL_FILES_DISABLED (MySQL 8),
# ER_LOAD_INFILE_CAPABILITY_DISABLED (MariaDB 10.4+).
REFUSALS = {1148, 2068, 3948, 4166}
# Where a server message names a column and a row: "for column 'email' at row 4" (MySQL) or
# "for column `db`.`t`.`email` at row 4" (MariaDB).
_COLUMN_AT_ROW = re.compile(r"for column (?:`[^`]*`\.)*[`']([^`']+)[`'] at row (\d+)")
_pools: dict[tuple, object] = {}
_pools_lock = threading.Lock()


class WarehouseError(RuntimeError):
    pass


@dataclass(frozen=True)
class LoadReport:
    rows: dict[str, int]
    seconds: float
    method: str  # "bulk" (LOAD DATA LOCAL INFILE) or "batched" (multi-row INSERTs)
    fallback_reason: str | None = None  # why a batched load did not go in bulk


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
    args = {"host": settings.host, "port": settings.port, "user": settings.user,
            "password": os.environ.get("MYSQL_PASSWORD", ""), "database": settings.database,
            "charset": "utf8mb4", "collation": "utf8mb4_bin", "autocommit": False, "sql_mode": SQL_MODE}
    if settings.local_infile:
        # Only files under the load's scratch folder: a server asking for any other file is refused.
        args["allow_local_infile_in_path"] = str(SCRATCH_ROOT)
    return args


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

    args = _connect_args(settings)
    key = tuple(sorted(args.items()))
    try:
        with _pools_lock:
            if key not in _pools:
                _pools[key] = pooling.MySQLConnectionPool(pool_name=f"gold{len(_pools)}", pool_size=4, **args)
            pool = _pools[key]
        conn = pool.get_connection()
    except mysql.connector.Error as err:
        raise _explain(err, settings) from None
    try:
        yield conn
    finally:
        conn.close()  # back to the pool


class _BulkRefused(Exception):
    pass


class _ValueRejected(Exception):
    """A LOAD DATA warning (or a row count short of the file's), failing the load as a strict INSERT would."""

    def __init__(self, msg: str):
        super().__init__(msg)
        self.msg = msg


class _EncodeFailed(_ValueRejected):
    """A value rejected while its batch was encoded, one batch ahead of the load: the batch comes along."""

    def __init__(self, msg: str, batch: pa.RecordBatch, first: int):
        super().__init__(msg)
        self.batch, self.first = batch, first


def bulk_refusal(settings: MySQLSettings, server_local_infile: int) -> str | None:
    """Why the load cannot use LOAD DATA LOCAL INFILE, from the client setting and the server's local_infile;
    None when it can."""
    if not settings.local_infile:
        return "MYSQL_LOCAL_INFILE=off"
    if not server_local_infile:
        return (f"the server {settings.host}:{settings.port} has local_infile=OFF "
                "(SET GLOBAL local_infile=1 allows bulk loads)")
    return None


def _check_partition_columns(name: str, batch: pa.RecordBatch, user: str, job: str) -> None:
    # The partition's delete touches only rows carrying its own user and job; a row naming another partition
    # would outlive every re-load of this one.
    for column, expected in zip(PARTITION_COLUMNS, (user, job), strict=True):
        if column not in batch.schema.names:
            raise WarehouseError(f"Silver table {name} has no {column} column")
        if batch.num_rows and set(batch.column(column).unique().to_pylist()) != {expected}:
            raise WarehouseError(f"Silver table {name} of {user}.{job} holds rows of another partition "
                                 f"(column {column})")


def _described(batch: pa.RecordBatch, column: str, index: int, first_row: int) -> str:
    value = repr(batch.column(column)[index].as_py())
    value = value if len(value) <= 80 else value[:77] + "..."
    return f"column {column}, value {value} (Silver row {first_row + index + 1})"


def _culprit(message: str, batch: pa.RecordBatch, first_row: int) -> str:
    """The value a server message points at (column and row of the statement), for the error."""
    found = _COLUMN_AT_ROW.search(message)
    if not found:
        return message
    column, row = found.group(1), int(found.group(2))
    if column not in batch.schema.names or not 1 <= row <= batch.num_rows:
        return message
    return f"{_described(batch, column, row - 1, first_row)}: {message}"


def _check_doubles(batch: pa.RecordBatch, first_row: int) -> None:
    # DOUBLE holds neither; the connector would send NaN as NULL, a silently wrong value.
    for name in batch.schema.names:
        if pa.types.is_floating(batch.schema.field(name).type):
            bad = pc.indices_nonzero(pc.fill_null(pc.invert(pc.is_finite(batch.column(name))), False))
            if len(bad):
                raise _ValueRejected(f"{_described(batch, name, bad[0].as_py(), first_row)}: "
                                     "MySQL has no NaN or infinite DOUBLE")


def _insert(cursor, target: str, batch: pa.RecordBatch) -> None:
    insert = (f"INSERT INTO `{target}` ({', '.join(f'`{c}`' for c in batch.schema.names)}) "
              f"VALUES ({', '.join(['%s'] * batch.num_columns)})")
    columns = [column.to_pylist() for column in batch.columns]
    cursor.executemany(insert, list(zip(*columns, strict=True)))


def _encoded(scratch: Path, target: str, name: str, path: Path, user: str, job: str
             ) -> Iterator[tuple[pa.RecordBatch, Path, int]]:
    """The file's record batches, each checked and written as a LOAD DATA file: (batch, file, first row).

    One batch ahead, in a thread, while the server loads the one before: Arrow's casts release the GIL, so on
    two cores the encoding of the next file costs no wall time. Two files take turns; the consumer deletes each
    once loaded.
    """
    batches = pq.ParquetFile(path).iter_batches(batch_size=CHUNK_ROWS)
    state = {"row": 0, "turn": 0}

    def encode():
        batch = next(batches, None)
        if batch is None:
            return None
        first, state["row"] = state["row"], state["row"] + batch.num_rows
        _check_partition_columns(name, batch, user, job)
        file = scratch / f"{target}-{state['turn']}.tsv"
        state["turn"] ^= 1
        try:
            _check_doubles(batch, first)
            with open(file, "wb") as out:
                write_batch(batch, out)
        except _ValueRejected as err:
            raise _EncodeFailed(err.msg, batch, first) from None
        return batch, file, first

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tsv") as pool:
        ahead = pool.submit(encode)
        while (got := ahead.result()) is not None:
            ahead = pool.submit(encode)
            yield got


def _load_data(cursor, target: str, columns: list[str], file: Path, rows: int) -> None:
    import mysql.connector

    try:
        cursor.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE `{target}` CHARACTER SET utf8mb4 "
                       "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
                       f"({', '.join(f'`{c}`' for c in columns)})", (str(file),))
    except mysql.connector.Error as err:
        if err.errno in REFUSALS or "LOAD DATA LOCAL INFILE file request rejected" in str(err.msg):
            raise _BulkRefused(f"the server refused LOAD DATA LOCAL INFILE: {err.msg}") from None
        raise
    finally:
        file.unlink(missing_ok=True)
    # With LOCAL the server cannot stop the file half-way, so it treats errors as IGNORE would: a value that
    # does not fit, or a duplicate key, is only a warning (and a skipped or altered row). Any warning fails.
    if cursor.warning_count:
        cursor.execute("SHOW WARNINGS LIMIT 1")
        level, code, message = cursor.fetchone()
        cursor.fetchall()
        raise _ValueRejected(f"{level} {code}: {message}")
    if cursor.rowcount != rows:
        raise _ValueRejected(f"the server took {cursor.rowcount} of {rows} rows")


def _replace(conn, cursor, user: str, job: str, tables: Mapping[str, Path], bulk: bool) -> dict[str, int]:
    """Replace (user, job)'s rows in every table in one transaction, by LOAD DATA (bulk) or by INSERTs."""
    counts: dict[str, int] = {}
    scratch = None
    try:
        if bulk:
            SCRATCH_ROOT.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix="load-", dir=SCRATCH_ROOT))
        conn.start_transaction(isolation_level="READ COMMITTED")
        for name, path in tables.items():
            target = staging_table(name)
            cursor.execute(f"DELETE FROM `{target}` WHERE pipeline_user = %s AND pipeline_job = %s", (user, job))
            counts[name] = _bulk(cursor, scratch, target, name, path, user, job) if bulk \
                else _batched(cursor, target, name, path, user, job)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return counts


def _failed(user: str, job: str, target: str, message: str, batch: pa.RecordBatch, first: int) -> WarehouseError:
    return WarehouseError(f"loading {user}.{job} into {target} failed, nothing was changed: "
                          f"{_culprit(message, batch, first)}")


def _bulk(cursor, scratch: Path, target: str, name: str, path: Path, user: str, job: str) -> int:
    import mysql.connector

    rows = 0
    try:
        for batch, file, first in _encoded(scratch, target, name, path, user, job):
            try:
                _load_data(cursor, target, batch.schema.names, file, batch.num_rows)
            except (mysql.connector.Error, _ValueRejected) as err:
                raise _failed(user, job, target, str(err.msg), batch, first) from None
            rows += batch.num_rows
    except _EncodeFailed as err:
        raise _failed(user, job, target, err.msg, err.batch, err.first) from None
    return rows


def _batched(cursor, target: str, name: str, path: Path, user: str, job: str) -> int:
    import mysql.connector

    rows = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
        _check_partition_columns(name, batch, user, job)
        try:
            _check_doubles(batch, rows)
            _insert(cursor, target, batch)
        except (mysql.connector.Error, _ValueRejected) as err:
            raise _failed(user, job, target, str(err.msg), batch, rows) from None
        rows += batch.num_rows
    return rows


def load_partition(settings: MySQLSettings, user: str, job: str, tables: Mapping[str, Path],
                   table_layouts: Mapping[str, Layout]) -> LoadReport:
    """Replace (user, job)'s rows in every staging table, all or nothing, from one Parquet file per table."""
    import mysql.connector

    check_id(user, "user"), check_id(job, "job")
    started = time.perf_counter()
    with connection(settings) as conn:
        cursor = conn.cursor()
        try:
            cursor.execute(f"SET SESSION sql_mode = '{SQL_MODE}'")  # a pooled session may have been reset
            for name, path in tables.items():  # DDL commits by itself in MySQL, so it comes first
                cursor.execute(create_sql(name, pq.read_schema(path), table_layouts[name]))
            cursor.execute("SELECT @@GLOBAL.local_infile")
            reason = bulk_refusal(settings, int(cursor.fetchone()[0]))
            if reason is None:
                try:
                    counts = _replace(conn, cursor, user, job, tables, bulk=True)
                    return LoadReport(counts, time.perf_counter() - started, "bulk")
                except _BulkRefused as refused:  # rolled back: the whole partition goes again, batched
                    reason = str(refused)
            counts = _replace(conn, cursor, user, job, tables, bulk=False)
            return LoadReport(counts, time.perf_counter() - started, "batched", reason)
        except mysql.connector.Error as err:
            raise WarehouseError(f"loading {user}.{job} failed, nothing was changed: "
                                 f"{_explain(err, settings)}") from None
        finally:
            cursor.close()
