"""A PostgreSQL server on 127.0.0.1 for the tests, and a database of their own on it.

Uses the server on 127.0.0.1:5432 when one answers (user postgres, trust authentication: how these machines come).
Otherwise it starts a private cluster (initdb) on a free port, installing Debian's postgresql first if it is
missing, and stops it afterwards.
"""
from __future__ import annotations

import glob
import os
import secrets
import subprocess
import time
from pathlib import Path

from .local_services import HOST, answers, apt_install, free_port

DEFAULT_PORT = 5432
USER = "postgres"


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        apt_install("postgresql")
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent


class Postgres:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = DEFAULT_PORT
        self.data: Path | None = None

    def start(self, private: bool = False) -> Postgres:
        if answers(DEFAULT_PORT) and not private:
            return self
        bin_dir, self.data, self.port = _bin_dir(), self.workdir / "pgdata", free_port()
        # initdb and the server refuse to run as root: a root machine runs them as the postgres user.
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if as_user:
            subprocess.run(["chown", "-R", "postgres", str(self.workdir)], check=True)
        subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust"],
                       check=True, capture_output=True)
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.workdir / "pg.log"),
                        "-o", f"-h {HOST} -p {self.port} -k {self.workdir}", "-w", "start"], check=True,
                       capture_output=True)
        self._as_user, self._bin = as_user, bin_dir
        deadline = time.monotonic() + 60
        while not answers(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start; see {self.workdir / 'pg.log'}")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        if self.data is not None:
            subprocess.run([*self._as_user, str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"],
                           check=True, capture_output=True)
            self.data = None

    def connect(self, database: str = "postgres"):
        import psycopg2

        conn = psycopg2.connect(host=HOST, port=self.port, user=USER, dbname=database)
        conn.autocommit = True
        return conn

    def _admin(self, sql: str) -> None:
        # Not `with conn`: psycopg2 wraps that in a transaction, where CREATE/DROP DATABASE cannot run.
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def create_database(self) -> str:
        name = f"dagster_test_{secrets.token_hex(4)}"
        self._admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
