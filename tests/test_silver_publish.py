"""Silver is published all or nothing: a run killed mid-publish leaves the previous Silver whole, and the next
run removes what the dead one left (its half-written version, `.partial` files, `.tmp/build-*` folders).

Expected, written before the code: while a new version's objects go up, every reader sees the previous version
complete (each table's bytes match the pointer's SHA-256); after a kill the pointer is unchanged; the next run
publishes the new version, and the partition's Silver then holds exactly the objects its pointer names. Stale
work older than the grace period, or whose process is dead, is removed; a live run's scratch and a fresh
`.partial` stay.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pytest
from support.clouds import open_backend

from orchestrator_assets import layout
from orchestrator_assets.cleaning.pandas_engine import PandasEngine
from orchestrator_assets.cleaning.publish import NoSilver, current_silver, require_silver
from orchestrator_assets.cleaning.run import clean_partition, read_silver
from orchestrator_assets.storage.base import StorageError
from orchestrator_assets.storage.local import LocalStorage
from orchestrator_assets.summary import build_summary

USER, JOB = "alice", "job-1"
POINTER = layout.silver_pointer_key(USER, JOB)
HOUR = 3600


class ReversedRows(PandasEngine):
    """Yields a Silver that differs from the real one (the same rows in reverse order, so no line is lost), to
    stand for the previous run's version."""

    def clean_table(self, bronze, plan, parent_keys):
        cleaned = super().clean_table(bronze, plan, parent_keys)
        reverse = pa.array(range(cleaned.silver.num_rows - 1, -1, -1), pa.int64())
        return dataclasses.replace(cleaned, silver=cleaned.silver.take(reverse))


class Killed(BaseException):
    """Stands for the process dying: nothing below the publish catches it."""


def fresh_store(root: Path, bronze_store) -> LocalStorage:
    source, _ = bronze_store
    shutil.copytree(source.root / "bronze", root / "bronze")
    return LocalStorage(root)


def reader_view(store: LocalStorage) -> dict[str, str]:
    """What a reader gets, resolving the pointer once: SHA-256 per table, each checked against the pointer."""
    current = require_silver(store, USER, JOB)
    view = {}
    for name, entry in current.objects.items():
        digest = hashlib.sha256(store.get_bytes(entry["key"])).hexdigest()
        assert digest == entry["sha256"], f"{name}: a reader of {current.version} got other bytes"
        view[name] = digest
    return view


def partition_silver(store: LocalStorage) -> set[str]:
    return {k for k in store.list("silver") if f"/{USER}/{JOB}/" in k}


def age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_a_partition_without_a_pointer_has_no_silver(tmp_path, bronze_store):
    store = fresh_store(tmp_path, bronze_store)
    # Silver as the layout before versions wrote it: without a pointer it is not published Silver.
    store.put_bytes(f"silver/orders/{USER}/{JOB}/part-00000.parquet", b"pre-version layout")
    assert current_silver(store, USER, JOB) is None
    with pytest.raises(NoSilver, match=f"alice.job-1 has no published Silver \\(no {POINTER} in "):
        read_silver(store, "orders", USER, JOB)
    with pytest.raises(NoSilver, match="run its Silver step"):
        build_summary(store, tmp_path / "none.duckdb", USER, JOB)
    clean_partition(store, bronze_store[1], PandasEngine())
    assert partition_silver(store) == set(require_silver(store, USER, JOB).keys()) | {POINTER}
    store.put_bytes(POINTER, b'{"version": "v-../../etc"}')
    with pytest.raises(StorageError, match="current.json is not a readable Silver pointer .*re-run the Silver step"):
        read_silver(store, "orders", USER, JOB)


def test_a_run_killed_mid_publish_leaves_the_previous_silver_and_the_next_run_cleans_up(tmp_path, bronze_store):
    store = fresh_store(tmp_path, bronze_store)
    manifest = bronze_store[1]
    clean_partition(store, manifest, ReversedRows())
    previous = require_silver(store, USER, JOB)
    previous_view, previous_pointer = reader_view(store), store.get_bytes(POINTER)

    seen = []

    class DiesOnTheFourthWrite(LocalStorage):
        def put_file(self, key, source):
            seen.append(reader_view(self))  # at every step of the publish, readers see the previous version
            if len(seen) == 4:
                raise Killed()
            return super().put_file(key, source)

    with pytest.raises(Killed):
        clean_partition(DiesOnTheFourthWrite(tmp_path), manifest, PandasEngine())
    assert seen == [previous_view] * 4
    assert store.get_bytes(POINTER) == previous_pointer and reader_view(store) == previous_view
    half_written = partition_silver(store) - set(previous.keys()) - {POINTER}
    assert len(half_written) == 3 and all("/v-" in k and previous.version not in k for k in half_written)

    # What other dead runs left behind, next to live work that must survive.
    folder = store.path(layout.silver_prefix("orders", USER, JOB))
    old_partial = folder / f".part-00000.parquet.{'a' * 32}.partial"
    old_partial.write_bytes(b"half")
    age(old_partial, 2 * HOUR)
    young_partial = folder / f".part-00000.parquet.{'b' * 32}.partial"
    young_partial.write_bytes(b"being written")
    dead_build = tmp_path / ".tmp" / "build-dead"
    dead_build.mkdir(parents=True)
    (dead_build / ".lock").write_bytes(b"")  # nobody holds it: its process is gone
    half_made = tmp_path / ".tmp" / "new-dead"  # killed before it could lock its folder
    half_made.mkdir()
    age(half_made, 2 * HOUR)
    legacy_build = tmp_path / ".tmp" / "build-legacy"  # left before build folders had locks
    legacy_build.mkdir()
    age(legacy_build, 2 * HOUR)
    young_unlocked = tmp_path / ".tmp" / "new-young"  # a run about to lock its folder
    young_unlocked.mkdir()

    with LocalStorage(tmp_path).scratch() as live:  # a concurrent run's build folder
        (live / "staged.parquet").write_bytes(b"in use")
        result = clean_partition(LocalStorage(tmp_path), manifest, PandasEngine())
        assert (live / "staged.parquet").exists()

    current = require_silver(store, USER, JOB)
    assert current.version != previous.version and current.engine == "pandas"
    assert partition_silver(store) == set(current.keys()) | {POINTER}
    assert not any(store.path(p).joinpath(previous.version).exists()
                   for p in layout.silver_version_parents(USER, JOB, list(manifest.tables)))
    assert not old_partial.exists() and young_partial.exists()
    assert not dead_build.exists() and not half_made.exists() and not legacy_build.exists()
    assert young_unlocked.exists()
    assert read_silver(store, "orders", USER, JOB).num_rows == result.tables["orders"]["silver_rows"]


CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from orchestrator_assets.cleaning.pandas_engine import PandasEngine
    from orchestrator_assets.cleaning.run import clean_partition
    from orchestrator_assets.generation.bronze import read_manifest
    from orchestrator_assets.storage.local import LocalStorage

    root, flag = Path(sys.argv[1]), Path(sys.argv[2])

    class StallsAfterThreeWrites(LocalStorage):
        writes = 0

        def put_file(self, key, source):
            size = super().put_file(key, source)
            self.writes += 1
            if self.writes == 3:
                flag.write_text(key)
                time.sleep(120)  # killed here
            return size

    store = StallsAfterThreeWrites(root)
    clean_partition(store, read_manifest(store, "alice", "job-1"), PandasEngine())
""")


def test_kill_9_during_publish(tmp_path, bronze_store):
    store = fresh_store(tmp_path / "store", bronze_store)
    manifest = bronze_store[1]
    clean_partition(store, manifest, ReversedRows())
    previous = require_silver(store, USER, JOB)
    previous_view, previous_pointer = reader_view(store), store.get_bytes(POINTER)

    flag = tmp_path / "three-written"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(store.root), str(flag)])
    try:
        deadline = time.monotonic() + 120
        while not flag.exists():
            assert child.poll() is None, "the child ended before it stalled"
            assert time.monotonic() < deadline, "the child never reached its third write"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    assert store.get_bytes(POINTER) == previous_pointer and reader_view(store) == previous_view
    assert len(partition_silver(store) - set(previous.keys()) - {POINTER}) == 3
    [dead] = list((store.root / ".tmp").glob("build-*"))  # its scratch, with the files it had not published
    assert len(list(dead.glob("*.parquet"))) == 2 * len(manifest.tables) - 3

    reopened = LocalStorage(store.root)  # the kernel released the dead process's lock: its folder goes
    assert not dead.exists()
    result = clean_partition(reopened, manifest, PandasEngine())
    current = require_silver(reopened, USER, JOB)
    assert current.version != previous.version
    assert partition_silver(reopened) == set(current.keys()) | {POINTER}
    assert read_silver(reopened, "orders", USER, JOB).num_rows == result.tables["orders"]["silver_rows"]
    assert list((store.root / ".tmp").iterdir()) == []


@pytest.mark.parametrize("backend", ["adls", "oss"])
def test_a_run_killed_mid_publish_on_an_object_store_leaves_the_previous_silver(clouds, tmp_path, bronze_store,
                                                                                 backend):
    source, manifest = bronze_store
    store, _ = open_backend(clouds, backend, tmp_path)
    for key in source.list("bronze"):
        store.put_file(key, source.path(key))
    clean_partition(store, manifest, ReversedRows())
    previous = require_silver(store, USER, JOB)
    previous_view, previous_pointer = reader_view(store), store.get_bytes(POINTER)

    real_put, seen = store.put_file, []

    def dies_on_the_fourth_write(key, path):
        seen.append(reader_view(store))
        if len(seen) == 4:
            raise Killed()
        return real_put(key, path)

    store.put_file = dies_on_the_fourth_write
    with pytest.raises(Killed):
        clean_partition(store, manifest, PandasEngine())
    store.put_file = real_put
    assert seen == [previous_view] * 4
    assert store.get_bytes(POINTER) == previous_pointer and reader_view(store) == previous_view
    assert len(partition_silver(store) - set(previous.keys()) - {POINTER}) == 3

    clean_partition(store, manifest, PandasEngine())
    current = require_silver(store, USER, JOB)
    assert current.version != previous.version
    assert partition_silver(store) == set(current.keys()) | {POINTER}
