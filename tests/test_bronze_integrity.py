"""Bronze against its manifest: every line is a row (parsed or quarantined), and changed parts stop the Silver step."""
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pytest

from orchestrator_assets.cleaning import run as cleaning_run
from orchestrator_assets.cleaning.engines import ENGINES
from orchestrator_assets.cleaning.publish import current_silver
from orchestrator_assets.cleaning.run import clean_partition, read_silver
from orchestrator_assets.generation.bronze import Manifest, read_manifest
from orchestrator_assets.generation.integrity import (
    KEEP,
    LINE_LIMIT,
    BronzeIntegrityError,
    read_lines,
    scan_part,
)
from orchestrator_assets.generation.reseal import reseal_bronze
from orchestrator_assets.storage.base import CHUNK
from orchestrator_assets.storage.local import LocalStorage

MB = 1 << 20
# Spark reads the same Bronze table (read_bronze is shared) but needs minutes to start here; its handling of
# malformed rows is covered by test_damaged_bronze.
FAST_ENGINES = ["duckdb", "pandas"]


@pytest.fixture
def store(tmp_path, bronze_store):
    source, _ = bronze_store
    shutil.copytree(source.root / "bronze", tmp_path / "bronze")
    return LocalStorage(tmp_path)


def part_path(store, table: str) -> Path:
    return store.path(read_manifest(store, "alice", "job-1").tables[table]["parts"][0]["key"])


def silver_objects(store) -> dict[str, bytes]:
    return {k: store.get_bytes(k) for k in store.list("silver")}


def rows(table):
    return sorted(table.drop_columns(["pipeline_user", "pipeline_job"]).to_pylist(),
                  key=lambda r: json.dumps(r, sort_keys=True, default=str))


def insert_line(path: Path, at: int, line: bytes) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:at] + [line] + lines[at:]))


@pytest.mark.parametrize("engine", FAST_ENGINES)
def test_every_line_is_parsed_or_quarantined_big_blank_crlf_and_odd_ones_included(store, engine):
    clean_partition(store, read_manifest(store, "alice", "job-1"), ENGINES[engine]())
    untouched = ("categories", "locations", "products")
    baseline = {t: read_silver(store, t, "alice", "job-1") for t in ("reviews", *untouched)}

    reviews = part_path(store, "reviews")
    original = reviews.read_bytes().splitlines()
    ids = [json.loads(line)["review_id"] for line in original]
    one_mb_row = next(i for i in range(3, len(ids)) if ids.count(ids[i]) == 1)
    record = json.loads(original[one_mb_row])
    record["title"] = "A" * MB
    original[one_mb_row] = json.dumps(record).encode()
    junk_20mb = b"x" * (20 * MB)
    json_60mb = b'{"review_id": 999999, "title": "' + b"y" * (60 * MB) + b'"}'
    inserted = {10: b"", 20: b"   ", 30: b"null", 40: b"[1, 2, 3]", 50: b'"just text"', 60: b"42",
                70: junk_20mb, 80: json_60mb, 90: b'{"review_id": 5, "title": "caf\xe9"}'}
    with open(reviews, "wb") as out:
        for i, line in enumerate(original):
            if i in inserted:
                out.write(inserted[i] + b"\n")
            # CRLF on every seventh line; the last line without any line ending.
            out.write(line + (b"" if i == len(original) - 1 else b"\r\n" if i % 7 == 0 else b"\n"))
    total = len(original) + len(inserted)
    # Row numbers of the inserted lines: each comes before the original line of the same index.
    row_of = {i: i + sorted(inserted).index(i) for i in inserted}

    categories = part_path(store, "categories")
    categories.write_bytes(categories.read_bytes().replace(b"\n", b"\r\n").rstrip(b"\r\n"))
    # Lines the fast JSON reader gets wrong in an otherwise clean part: it reads `null` as a row of nulls
    # and skips a blank line.
    insert_line(part_path(store, "locations"), 5, b"null\n")
    insert_line(part_path(store, "products"), 7, b"\n")
    reseal_bronze(store, "alice", "job-1")
    manifest = read_manifest(store, "alice", "job-1")
    assert manifest.tables["reviews"]["parts"][0]["lines"] == manifest.rows("reviews") == total

    result = clean_partition(store, manifest, ENGINES[engine]())

    stats = result.tables["reviews"]
    assert stats["bronze_rows"] == stats["bronze_lines"] == total == stats["silver_rows"] + stats["quarantined_rows"]
    quarantine = read_silver(store, "reviews", "alice", "job-1", quarantine=True).to_pylist()
    malformed = {q["_bronze_row"]: q for q in quarantine if q["_rule"] == "malformed_record"}
    assert {r: q["_malformed"] for r, q in malformed.items()} == {
        row_of[10]: "", row_of[20]: "   ", row_of[30]: "null", row_of[40]: "[1, 2, 3]",
        row_of[50]: '"just text"', row_of[60]: "42",
        row_of[70]: "x" * KEEP, row_of[80]: json_60mb[:KEEP].decode(), row_of[90]: '{"review_id": 5, "title": "caf\\xe9"}'}
    for i, line in ((70, junk_20mb), (80, json_60mb)):
        reason = malformed[row_of[i]]["_reason"]
        assert f"{len(line):,} bytes" in reason and hashlib.sha256(line).hexdigest() in reason, reason
    assert "blank" in malformed[row_of[10]]["_reason"] and "blank" in malformed[row_of[20]]["_reason"]
    assert malformed[row_of[40]]["_reason"] == "line is not a JSON object"
    assert "is not UTF-8" in malformed[row_of[90]]["_reason"]

    # Every original line, CRLF or last without a newline, was parsed exactly as before.
    expected = baseline["reviews"].to_pylist()
    for row in expected:
        if row["review_id"] == ids[one_mb_row]:
            row["title"] = "A" * MB
    assert rows(read_silver(store, "reviews", "alice", "job-1")) == rows(pa.Table.from_pylist(expected))
    for table in untouched:
        assert rows(read_silver(store, table, "alice", "job-1")) == rows(baseline[table]), table
        stats = result.tables[table]
        assert stats["bronze_rows"] == manifest.rows(table) == stats["silver_rows"] + stats["quarantined_rows"]
    odd = {t: [(q["_bronze_row"], q["_malformed"]) for q in read_silver(store, t, "alice", "job-1", quarantine=True)
               .to_pylist() if q["_rule"] == "malformed_record"] for t in untouched}
    assert odd == {"categories": [], "locations": [(5, "null")], "products": [(7, "")]}


def test_a_line_over_the_limit_is_read_in_bounded_memory(tmp_path):
    part = tmp_path / "part.jsonl"
    huge = b'{"a": "' + b"z" * (60 * MB) + b'"}'
    part.write_bytes(b'{"a": 1}\n' + huge + b'\n{"a": 2}\n')
    tracemalloc.start()
    try:
        batches = list(read_lines(part, "bronze/t/u/j/part-00000.jsonl"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    texts = [t for batch, _ in batches for t in batch]
    assert texts == ['{"a": 1}', huge[:KEEP].decode(), '{"a": 2}']
    assert peak < LINE_LIMIT + 4 * CHUNK, f"peak {peak:,} bytes"  # the 60 MB line is never whole in memory


def test_gzip_parts_are_scanned_and_read_line_by_line(tmp_path):
    store = LocalStorage(tmp_path)
    key = "bronze/t/u/j/part-00000.jsonl.gz"
    big = b"q" * (LINE_LIMIT + 1)
    body = b'{"a": 1}\n' + big + b'\n\n{"a": 2}'
    store.put_bytes(key, gzip.compress(body, 1))
    scan = scan_part(store, key)
    assert (scan.lines, scan.long_lines) == (4, 1)
    assert scan.sha256 == hashlib.sha256(store.path(key).read_bytes()).hexdigest()
    [(texts, reasons)] = list(read_lines(store.path(key), key))
    assert texts == ['{"a": 1}', "q" * KEEP, "", '{"a": 2}'] and sorted(reasons) == [1, 2]
    store.put_bytes(key, gzip.compress(body, 1)[:-200])
    with pytest.raises(BronzeIntegrityError, match="middle of its gzip stream"):
        scan_part(store, key)


def _fails_and_keeps_previous_silver(store, damaged_key, *found):
    manifest = read_manifest(store, "alice", "job-1")
    before = silver_objects(store)
    with pytest.raises(BronzeIntegrityError) as err:
        clean_partition(store, manifest, ENGINES["pandas"]())
    part = next(p for t in manifest.tables.values() for p in t["parts"] if p["key"] == damaged_key)
    message = str(err.value)
    for text in (damaged_key, f"{part['bytes']:,} bytes", part["sha256"], *found,
                 "orchestrator bronze reseal --user alice --job job-1"):
        assert text in message, message
    assert silver_objects(store) == before
    return manifest


def test_an_edited_value_fails_the_silver_step_naming_the_part(store):
    clean_partition(store, read_manifest(store, "alice", "job-1"), ENGINES["pandas"]())
    path = part_path(store, "orders")
    data = path.read_bytes()
    edited = data.replace(b'"order_id":7,', b'"order_id":8,', 1)
    assert edited != data and len(edited) == len(data)
    path.write_bytes(edited)
    key = read_manifest(store, "alice", "job-1").tables["orders"]["parts"][0]["key"]
    _fails_and_keeps_previous_silver(store, key, hashlib.sha256(edited).hexdigest())


def test_a_truncated_part_fails_the_silver_step_and_reseal_lets_it_run_again(store):
    clean_partition(store, read_manifest(store, "alice", "job-1"), ENGINES["pandas"]())
    path = part_path(store, "users")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    key = read_manifest(store, "alice", "job-1").tables["users"]["parts"][0]["key"]
    old = _fails_and_keeps_previous_silver(store, key, f"{len(data) // 2:,} bytes")

    report = reseal_bronze(store, "alice", "job-1")
    assert [c["key"] for c in report["changed"]] == [key]
    manifest = read_manifest(store, "alice", "job-1")
    [record] = manifest.data["resealed"]
    assert record["at"] == report["resealed_at"] and record["changes"][0]["before"]["sha256"] == \
        old.tables["users"]["parts"][0]["sha256"]
    lines = data[: len(data) // 2].count(b"\n") + 1  # the cut-off last line counts, and is quarantined
    assert manifest.rows("users") == manifest.tables["users"]["parts"][0]["lines"] == lines
    result = clean_partition(store, manifest, ENGINES["pandas"]())
    stats = result.tables["users"]
    assert stats["bronze_rows"] == lines == stats["silver_rows"] + stats["quarantined_rows"]
    quarantine = read_silver(store, "users", "alice", "job-1", quarantine=True).to_pylist()
    assert [q["_bronze_row"] for q in quarantine if q["_rule"] == "malformed_record"] == [lines - 1]
    # Resealing again finds nothing to change and records nothing.
    assert reseal_bronze(store, "alice", "job-1")["changed"] == []
    assert len(read_manifest(store, "alice", "job-1").data["resealed"]) == 1


def test_old_and_hand_written_manifests(store):
    manifest = read_manifest(store, "alice", "job-1")
    old = json.loads(json.dumps(manifest.data))
    for info in old["tables"].values():
        for part in info["parts"]:
            del part["lines"]
    # Before per-part line counts, the table's row count is the reference.
    assert clean_partition(store, Manifest(old), ENGINES["pandas"]()).tables["orders"]["bronze_lines"] == \
        manifest.rows("orders")
    old["tables"]["orders"]["rows"] += 1
    with pytest.raises(BronzeIntegrityError, match="orders: the manifest records"):
        clean_partition(store, Manifest(old), ENGINES["pandas"]())

    # Dropped in by hand without hashes: cleaned, and the report says which parts could not be verified.
    hand = json.loads(json.dumps(manifest.data))
    del hand["tables"]["reviews"]["parts"][0]["sha256"]
    result = clean_partition(store, Manifest(hand), ENGINES["pandas"]())
    report = json.loads(store.get_bytes(current_silver(store, "alice", "job-1").cleaning_report))
    key = manifest.tables["reviews"]["parts"][0]["key"]
    assert report["tables"]["reviews"]["bronze_unverified_parts"] == [key]
    assert "bronze_unverified_parts" not in result.tables["orders"]
    hand["tables"]["reviews"]["parts"][0]["bytes"] += 1  # the size, when given, is still checked
    with pytest.raises(BronzeIntegrityError, match=key):
        clean_partition(store, Manifest(hand), ENGINES["pandas"]())


def test_a_reader_that_loses_a_line_fails_the_silver_step(store, monkeypatch):
    real = cleaning_run.read_bronze
    monkeypatch.setattr(cleaning_run, "read_bronze", lambda *a: real(*a).slice(1))  # how the old fallback lost rows
    before = silver_objects(store)
    with pytest.raises(BronzeIntegrityError, match="the Bronze reader's output is"):
        clean_partition(store, read_manifest(store, "alice", "job-1"), ENGINES["pandas"]())
    assert silver_objects(store) == before


def test_cli_reseal(store, tmp_path):
    env = {**os.environ, "ORCHESTRATOR_DATA_DIR": str(tmp_path / "data"), "STORAGE_BACKEND": "local"}
    root = tmp_path / "data" / "storage"
    shutil.copytree(store.root / "bronze", root / "bronze")
    part = next((root / "bronze" / "reviews").rglob("part-*.jsonl"))
    part.write_bytes(part.read_bytes() + b"[]\n")
    cli = [str(Path(sys.executable).with_name("orchestrator")), "bronze", "reseal", "--user", "alice"]
    done = subprocess.run([*cli, "--job", "job-1"], check=False, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    changed = json.loads(done.stdout)["changed"]
    assert [c["key"] for c in changed] == [part.relative_to(root).as_posix()]
    assert changed[0]["after"]["lines"] == changed[0]["before"]["lines"] + 1
    missing = subprocess.run([*cli, "--job", "nope"], check=False, env=env, capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 2 and "no Bronze manifest for alice.nope" in missing.stderr


def test_parts_are_read_one_by_one_when_one_of_them_is_odd(tmp_path, spec, monkeypatch):
    from orchestrator_assets.generation import bronze
    from orchestrator_assets.generation.generator import generate

    monkeypatch.setattr(bronze, "ROWS_PER_PART", 150)
    store = LocalStorage(tmp_path)
    manifest, _ = bronze.write_bronze(store, generate(spec, 300, 3, "alice", "job-1"), "alice", "job-1", 300)
    parts = manifest.tables["web_events"]["parts"]
    assert len(parts) >= 3 and [p["lines"] for p in parts[:-1]] == [150] * (len(parts) - 1)
    clean_partition(store, manifest, ENGINES["duckdb"]())
    baseline = read_silver(store, "web_events", "alice", "job-1")
    insert_line(store.path(parts[1]["key"]), 4, b"null\n")
    insert_line(store.path(parts[1]["key"]), 9, b"\r\n")
    reseal_bronze(store, "alice", "job-1")

    result = clean_partition(store, read_manifest(store, "alice", "job-1"), ENGINES["duckdb"]())

    assert result.tables["web_events"]["bronze_rows"] == manifest.rows("web_events") + 2
    quarantine = read_silver(store, "web_events", "alice", "job-1", quarantine=True).to_pylist()
    assert sorted((q["_bronze_row"], q["_malformed"]) for q in quarantine if q["_rule"] == "malformed_record") == \
        [(150 + 4, "null"), (150 + 9, "")]
    assert rows(read_silver(store, "web_events", "alice", "job-1")) == rows(baseline)


def test_a_missing_part_fails_the_silver_step_naming_it(store):
    clean_partition(store, read_manifest(store, "alice", "job-1"), ENGINES["pandas"]())
    before = silver_objects(store)
    key = read_manifest(store, "alice", "job-1").tables["payments"]["parts"][0]["key"]
    store.delete(key)
    with pytest.raises(BronzeIntegrityError, match=f"Bronze part {key} is listed in the manifest but missing"):
        clean_partition(store, read_manifest(store, "alice", "job-1"), ENGINES["pandas"]())
    assert silver_objects(store) == before


def test_the_clean_job_fails_tampered_bronze_at_once_without_retries(store):
    from dagster import DagsterEventType, DagsterInstance, Definitions

    from orchestrator_assets.assets.bronze import bronze
    from orchestrator_assets.assets.gold import dbt_resource, gold
    from orchestrator_assets.assets.silver import silver
    from orchestrator_assets.io_managers import storage_resources
    from orchestrator_assets.jobs import clean_small_job
    from orchestrator_assets.resources import (
        CleaningEngineResource,
        DatabricksResource,
        StorageResource,
        WarehouseResource,
    )

    path = part_path(store, "orders")
    path.write_bytes(path.read_bytes().replace(b'"paid"', b'"PAID"', 1))
    defs = Definitions(assets=[bronze, silver, gold], jobs=[clean_small_job], resources={
        **storage_resources(StorageResource(root=str(store.root))), "cleaning": CleaningEngineResource(engine="pandas"),
        "databricks": DatabricksResource(), "warehouse": WarehouseResource(duckdb_path=str(store.root / "w.duckdb")),
        "dbt": dbt_resource()})
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("jobs", ["alice.job-1"])
    result = defs.resolve_job_def("clean_small_job").execute_in_process(
        partition_key="alice.job-1", instance=instance, raise_on_error=False)
    assert not result.success
    assert not [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "silver"
    assert str(path.relative_to(store.root)) in failure.step_failure_data.error.message
    assert store.list("silver") == []
