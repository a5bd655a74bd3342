"""Gold published only after its dbt tests pass.

A Gold build gives dbt a stage name (var gold_stage, dbt_project/macros/stage.sql): each mart is built as a
table `<mart>__<stage>` holding the partition's new rows, and every dbt test reads those tables. Only when the
whole build passed does `publish` replace the partition's rows in the real marts with the staged ones, in one
transaction; a failed test leaves the real marts, every partition of them, exactly as they were. The staged
tables are dropped after every build, and what a killed build left is dropped by a later one once stale.

On MySQL, DDL commits by itself, so what publishing needs of it (a mart's first creation, a column a model
gained: dbt's append_new_columns) runs before the transaction; it adds no rows, and the copy itself (delete
the partition's rows, insert the staged ones, every mart) is one transaction.
"""
from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..ids import check_id
from ..settings import MySQLSettings
from .mysql import connection

STAGE = re.compile(r"stage_(\d{10})_[0-9a-f]{6}")
STAGED_TABLE = re.compile(r"(.+)__(stage_(\d{10})_[0-9a-f]{6})")
# A stage older than this belongs to a build that died before dropping it (a build takes minutes).
STALE_STAGE_SECONDS = 3600


def new_stage(now: float | None = None) -> str:
    """A stage name: its creation time (to recognise stale ones) and a random part (two builds never share)."""
    return f"stage_{int(now if now is not None else time.time()):010d}_{secrets.token_hex(3)}"


def staged_name(mart: str, stage: str) -> str:
    if not STAGE.fullmatch(stage):
        raise ValueError(f"{stage!r} is not a stage name (stage_<unix seconds>_<6 hex digits>)")
    return f"{mart}__{stage}"


@dataclass(frozen=True)
class _Dialect:
    quote: str
    param: str
    schema: str  # the SQL expression naming the connection's schema
    column_type: str  # the information_schema.columns column holding a column's full type


DUCKDB = _Dialect('"', "?", "current_schema()", "data_type")
MYSQL = _Dialect("`", "%s", "database()", "column_type")


@dataclass(frozen=True)
class GoldWarehouse:
    """Where the marts live: a DuckDB file, or the MySQL database of `mysql`."""

    duckdb_path: Path | None = None
    mysql: MySQLSettings | None = None

    def __post_init__(self):
        if (self.duckdb_path is None) == (self.mysql is None):
            raise ValueError("a Gold warehouse is either a DuckDB file or a MySQL database")

    @property
    def dialect(self) -> _Dialect:
        return MYSQL if self.mysql else DUCKDB

    @contextmanager
    def _cursor(self) -> Iterator[tuple]:
        """(connection, cursor), in no transaction yet."""
        if self.mysql:
            with connection(self.mysql) as conn:
                cursor = conn.cursor()
                try:
                    yield conn, cursor
                finally:
                    cursor.close()
        else:
            with duckdb.connect(str(self.duckdb_path)) as con:
                yield con, con

    def publish(self, marts: Sequence[str], stage: str, user: str, job: str) -> dict[str, int]:
        """Replace (user, job)'s rows in every mart by the staged ones, all or nothing; rows copied per mart."""
        check_id(user, "user"), check_id(job, "job")
        d = self.dialect
        with self._cursor() as (conn, cur):
            if self.mysql:  # DDL commits by itself: done, and harmless, before the copy's transaction
                for mart in marts:
                    self._prepare(cur, mart, staged_name(mart, stage))
                conn.commit()
            try:
                if self.mysql:
                    conn.start_transaction(isolation_level="READ COMMITTED")
                else:
                    conn.begin()
                copied = {}
                for mart in marts:
                    staged = staged_name(mart, stage)
                    if not self.mysql:
                        self._prepare(cur, mart, staged)
                    names = ", ".join(self._q(c) for c in self._columns(cur, staged))
                    # The partition's rows only, though the stage holds no other (dbt's partition_columns_match_vars):
                    # a stray row would otherwise land in another partition and outlive its rebuilds.
                    where = f"WHERE pipeline_user = {d.param} AND pipeline_job = {d.param}"
                    cur.execute(f"DELETE FROM {self._q(mart)} {where}", (user, job))
                    cur.execute(f"INSERT INTO {self._q(mart)} ({names}) SELECT {names} FROM {self._q(staged)} {where}",
                                (user, job))
                    cur.execute(f"SELECT count(*) FROM {self._q(mart)} {where}", (user, job))
                    copied[mart] = cur.fetchone()[0]
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        return copied

    def drop_stage(self, stage: str) -> list[str]:
        """Drop the tables of one stage; the names dropped."""
        staged_name("", stage)  # refuses anything but a stage name
        return self._drop(lambda found: found == stage)

    def drop_stale_stages(self, now: float | None = None) -> list[str]:
        """Drop the staged tables of builds that died before dropping their own."""
        limit = (now if now is not None else time.time()) - STALE_STAGE_SECONDS
        return self._drop(lambda found: int(STAGE.fullmatch(found).group(1)) < limit)

    def _drop(self, wanted) -> list[str]:
        if self.duckdb_path is not None and not Path(self.duckdb_path).exists():
            return []  # no warehouse yet: nothing staged, and no empty file made here
        dropped = []
        with self._cursor() as (conn, cur):
            for table in self._tables(cur):
                match = STAGED_TABLE.fullmatch(table)
                if match and wanted(match.group(2)):
                    cur.execute(f"DROP TABLE IF EXISTS {self._q(table)}")
                    dropped.append(table)
            conn.commit()
        return dropped

    def _prepare(self, cur, mart: str, staged: str) -> None:
        """The mart exists and has every staged column (new ones nullable, as dbt's append_new_columns)."""
        if mart not in self._tables(cur):
            like = f"LIKE {self._q(staged)}" if self.mysql else f"AS SELECT * FROM {self._q(staged)} LIMIT 0"
            cur.execute(f"CREATE TABLE {self._q(mart)} {like}")
            return
        have = self._columns(cur, mart)
        for name, kind in self._columns(cur, staged).items():
            if name not in have:
                cur.execute(f"ALTER TABLE {self._q(mart)} ADD COLUMN {self._q(name)} {kind}")

    def _tables(self, cur) -> set[str]:
        cur.execute(f"SELECT table_name FROM information_schema.tables WHERE table_schema = {self.dialect.schema}")
        return {_text(r[0]) for r in cur.fetchall()}

    def _columns(self, cur, table: str) -> dict[str, str]:
        d = self.dialect
        cur.execute(f"SELECT column_name, {d.column_type} FROM information_schema.columns "
                    f"WHERE table_schema = {d.schema} AND table_name = {d.param} ORDER BY ordinal_position", (table,))
        return {_text(r[0]): _text(r[1]) for r in cur.fetchall()}

    def _q(self, name: str) -> str:
        q = self.dialect.quote
        if q in name:
            raise ValueError(f"refusing the table or column name {name!r}")
        return f"{q}{name}{q}"


def _text(value) -> str:
    # MariaDB's information_schema returns some text columns as bytes through mysql-connector.
    return value.decode() if isinstance(value, bytes | bytearray) else value
