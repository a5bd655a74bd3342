from __future__ import annotations

import pytest

from orchestrator_assets.generation.bronze import write_bronze
from orchestrator_assets.generation.generator import generate
from orchestrator_assets.generation.spec import load_spec
from orchestrator_assets.storage.local import LocalStorage


def pytest_configure(config):
    """dbt's manifest for a clean clone, before any test module loads assets/gold.py; xdist's workers find it
    made. `make test` also remakes it when the dbt project changed (`make manifest`)."""
    if hasattr(config, "workerinput"):
        return
    from orchestrator_assets.dbt_project import dbt_project

    if not dbt_project.manifest_path.exists():
        dbt_project.preparer.prepare(dbt_project)


@pytest.fixture(scope="session")
def spec():
    return load_spec()


@pytest.fixture(scope="session")
def small_dataset(spec):
    return generate(spec, 3000, 11, "alice", "job-1")


@pytest.fixture(scope="session")
def bronze_store(tmp_path_factory, small_dataset):
    store = LocalStorage(tmp_path_factory.mktemp("store"))
    manifest, _ = write_bronze(store, small_dataset, "alice", "job-1", 3000)
    return store, manifest


@pytest.fixture(scope="session")
def clouds(tmp_path_factory):
    """Azurite and moto + the OSS dialect layer on 127.0.0.1, started once per test process."""
    from support.clouds import Clouds

    started = Clouds(tmp_path_factory.mktemp("clouds")).start()
    yield started
    started.stop()


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory):
    """A MySQL-compatible server on 127.0.0.1: the machine's own on 3306, else a private MariaDB."""
    from support.mariadb import MariaDB

    server = MariaDB(tmp_path_factory.mktemp("mariadb")).start()
    yield server
    server.stop()


@pytest.fixture
def gold_db(mariadb, monkeypatch):
    """A database of the test's own, dropped afterwards, named by the MYSQL_ variables a deployment sets."""
    name = mariadb.create_database()
    for var, value in {"MYSQL_HOST": "127.0.0.1", "MYSQL_PORT": str(mariadb.port), "MYSQL_USER": "root",
                       "MYSQL_PASSWORD": "", "MYSQL_DATABASE": name}.items():
        monkeypatch.setenv(var, value)
    yield name
    mariadb.drop_database(name)


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server on 127.0.0.1: the machine's own on 5432, else a private cluster."""
    import shutil
    import tempfile
    from pathlib import Path

    from support.postgres import Postgres

    # Under /tmp itself: a private cluster runs as the postgres user, which cannot enter pytest's root-only dirs.
    workdir = Path(tempfile.mkdtemp(prefix="orchestrator-pg-"))
    server = Postgres(workdir).start()
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)
