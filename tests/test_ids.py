"""Ids are checked exactly (the whole string), in one place, at every door: CLI, launchpad/GraphQL, sensor, paths."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from orchestrator_assets import layout
from orchestrator_assets.arrivals import bronze_partitions
from orchestrator_assets.ids import PartitionKeyError, check_id, split_key
from orchestrator_assets.storage.base import StorageError, check_key
from orchestrator_assets.storage.local import LocalStorage

BAD_IDS = [
    "alice\n",  # "$" in re.match accepts this one
    "\nalice",
    "ali\nce",
    "alice\t",
    "al\x00ice",
    "alice\r",
    "alice ",
    "\u0430lice",  # Cyrillic a
    "ａlice",  # fullwidth a
    "alice\u200b",  # zero-width space
    "alıce",  # dotless i
    "ALICE",
    "..",
    "../x",
    "a/b",
    "a\\b",
    "a.b",
    "",
    "-alice",
    "a" * 41,
]


@pytest.mark.parametrize("value", BAD_IDS)
def test_check_id_refuses_anything_but_the_exact_pattern(value):
    with pytest.raises(PartitionKeyError, match="invalid user id"):
        check_id(value, "user")


@pytest.mark.parametrize("value", BAD_IDS)
def test_a_partition_key_with_a_bad_part_is_refused_naming_the_key_as_typed(value):
    key = f"{value}.j1"
    with pytest.raises(PartitionKeyError) as err:
        split_key(key)
    assert repr(key) in str(err.value)


@pytest.mark.parametrize("segment", ["alice\n", "alice\t", "al\x00ice", "\u0430lice", "x\n"])
def test_storage_keys_refuse_control_and_lookalike_characters(segment):
    with pytest.raises(StorageError):
        check_key(f"bronze/orders/{segment}/j1/part-00000.jsonl")


def test_good_ids_pass():
    assert split_key("alice_1.2026-11-23-ab") == ("alice_1", "2026-11-23-ab")
    assert check_id("a" * 40, "job") == "a" * 40


def test_the_sensor_skips_hand_dropped_bronze_under_a_bad_id(tmp_path, caplog):
    store = LocalStorage(tmp_path)
    good = layout.manifest_key("alice", "j1")
    store.put_bytes(good, b"{}")
    for bad in ["alice\n", "Bad User", "\u0430lice"]:
        path = tmp_path / "bronze/_manifest" / bad / "j1" / "manifest.json"
        path.parent.mkdir(parents=True)
        path.write_text("{}")
    with caplog.at_level(logging.WARNING):
        found = bronze_partitions(store, logging.getLogger("test"))
    assert found == [("alice", "j1")]
    assert caplog.text.count("skipping") == 3


def test_the_first_step_refuses_a_bad_key_added_by_hand_before_any_write(tmp_path):
    from orchestrator_assets.assets.bronze import bronze
    from orchestrator_assets.io_managers import storage_resources
    from orchestrator_assets.resources import StorageResource

    instance = DagsterInstance.ephemeral()
    key = "alice\n.j1"
    instance.add_dynamic_partitions("jobs", [key])  # what the UI or addDynamicPartition lets through
    result = materialize([bronze], partition_key=key, instance=instance, raise_on_error=False,
                         resources={**storage_resources(StorageResource(root=str(tmp_path / "storage")))})
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert repr(key) in failure.step_failure_data.error.cause.message or \
        repr(key) in failure.step_failure_data.error.message
    assert not any(p.is_file() for p in (tmp_path / "storage").rglob("*"))


@pytest.mark.xdist_group("cli")
@pytest.mark.parametrize("user", ["alice\n", "\u0430lice"])
def test_the_cli_refuses_a_bad_user_id_and_writes_nothing(tmp_path, user):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "ORCHESTRATOR_DATA_DIR": str(tmp_path / "data")}
    cli = str(Path(sys.executable).with_name("orchestrator"))
    proc = subprocess.run([cli, "submit", "--user", user, "--job", "j1", "--rows", "10"], check=False, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "invalid user id" in proc.stderr and "Traceback" not in proc.stderr
    written = [p for p in (tmp_path / "data").rglob("*") if p.is_file()] if (tmp_path / "data").exists() else []
    assert written == []
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("*.db"))
