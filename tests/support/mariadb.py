"""A MySQL-compatible server on 127.0.0.1 for the tests, and a database of their own on it.

Uses the server on 127.0.0.1:3306 when one answers (root, empty password: how these machines come). Otherwise
it starts a private MariaDB on a free port with its own data directory, installing Debian's mariadb-server first
if it is missing, and stops it afterwards.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

from .local_services import HOST, answers, apt_install, free_port

DEFAULT_PORT = 3306


def _install() -> None:
    if not (shutil.which("mariadbd") or Path("/usr/sbin/mariadbd").exists()):
        apt_install("mariadb-server")


class MariaDB:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = DEFAULT_PORT
        self.process: subprocess.Popen | None = None

    def start(self, private: bool = False) -> MariaDB:
        if answers(DEFAULT_PORT) and not private:
            return self
        _install()
        data, self.port = self.workdir / "data", free_port()
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
                        "--skip-test-db", f"--user={os.environ.get('USER', 'root')}"],
                       check=True, capture_output=True)
        self._log = open(self.workdir / "mariadb.log", "wb")  # noqa: SIM115 - the server's lifetime, closed in stop()
        self.process = subprocess.Popen(
            ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={data}", f"--port={self.port}",
             f"--bind-address={HOST}", f"--socket={self.workdir / 'mysqld.sock'}", f"--pid-file={self.workdir / 'pid'}",
             *(["--user=root"] if os.geteuid() == 0 else [])],
            stdout=subprocess.DEVNULL, stderr=self._log)
        deadline = time.monotonic() + 60
        while not answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"MariaDB did not start; see {self.workdir / 'mariadb.log'}")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=60)
            self.process = None
            self._log.close()

    def connect(self, database: str | None = None):
        import mysql.connector

        return mysql.connector.connect(host=HOST, port=self.port, user="root", password="", database=database,
                                       autocommit=True)

    def create_database(self) -> str:
        name = f"test_gold_{secrets.token_hex(4)}"
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        return name

    def drop_database(self, name: str) -> None:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
