from __future__ import annotations

import pytest

from orchestrator_assets.generation.bronze import write_bronze
from orchestrator_assets.generation.generator import generate
from orchestrator_assets.generation.spec import load_spec
from orchestrator_assets.storage.local import LocalStorage


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
