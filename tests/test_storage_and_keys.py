from pathlib import Path

import pytest

from orchestrator_assets import layout
from orchestrator_assets.ids import PartitionKeyError, partition_key, split_key
from orchestrator_assets.requests import JobRequest, RequestError, build_request, load_request, save_request
from orchestrator_assets.storage.base import StorageError
from orchestrator_assets.storage.local import LocalStorage


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/abs/path", "a//b", "a/./b", "", "a\\b", "a/b c"])
def test_keys_that_could_escape_the_root_are_rejected(tmp_path, key):
    store = LocalStorage(tmp_path / "root")
    with pytest.raises(StorageError):
        store.put_bytes(key, b"x")
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize("user, job", [("../etc", "j"), ("alice", "j/../../x"), ("Alice", "j"), ("a", "j;drop"),
                                       ("", "j"), ("a" * 41, "j"), ("alice", "j.1"), ("al'ice", "j")])
def test_user_and_job_ids_are_validated_before_reaching_paths(user, job):
    with pytest.raises(PartitionKeyError):
        partition_key(user, job)
    with pytest.raises(PartitionKeyError):
        layout.silver_key("orders", user, job, "v-0123456789abcdef")


@pytest.mark.parametrize("version", ["v-../../x", "0123456789abcdef", "v-0123456789ABCDEF", "v-01234", None])
def test_silver_version_ids_are_validated_before_reaching_paths(version):
    with pytest.raises(ValueError, match="not a Silver version id"):
        layout.silver_key("orders", "alice", "j1", version)


def test_partition_keys_round_trip():
    assert split_key(partition_key("alice_1", "2026-11-23-ab")) == ("alice_1", "2026-11-23-ab")
    with pytest.raises(PartitionKeyError):
        split_key("no-separator")


def test_put_is_atomic_when_the_copy_fails(tmp_path, monkeypatch):
    store = LocalStorage(tmp_path / "root")
    store.put_bytes("silver/t/u/j/part-00000.parquet", b"old")
    import shutil

    def broken(src, dst):
        Path(dst).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(shutil, "copyfile", broken)
    src = tmp_path / "new"
    src.write_bytes(b"new data")
    with pytest.raises(OSError):
        store.put_file("silver/t/u/j/part-00000.parquet", src)
    monkeypatch.undo()
    assert store.get_bytes("silver/t/u/j/part-00000.parquet") == b"old"
    leftovers = [p.name for p in (tmp_path / "root" / "silver/t/u/j").iterdir()]
    assert leftovers == ["part-00000.parquet"]


def test_replace_prefix_removes_only_stale_objects(tmp_path):
    store = LocalStorage(tmp_path)
    for i in range(3):
        store.put_bytes(f"bronze/t/u/j/part-{i:05d}.jsonl", b"x")
    assert store.replace_prefix("bronze/t/u/j", ["bronze/t/u/j/part-00000.jsonl"]) == 2
    assert store.list("bronze/t") == ["bronze/t/u/j/part-00000.jsonl"]


def test_requests_are_immutable(tmp_path):
    store = LocalStorage(tmp_path)
    request = build_request("alice", "j1", 100, 7)
    assert save_request(store, request) is True
    assert save_request(store, build_request("alice", "j1", 100, 7)) is False
    assert load_request(store, "alice", "j1").same_as(request)
    with pytest.raises(RequestError, match="new job id"):
        save_request(store, build_request("alice", "j1", 200, 7))
    with pytest.raises(RequestError, match="rows"):
        JobRequest("alice", "j2", 0, 1, request.spec)
    assert build_request("alice", None, 10, 1).job != build_request("alice", None, 10, 1).job
