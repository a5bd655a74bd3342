"""Bronze dropped in by hand: the manifest a drop needs (schema, validate), and Silver and its accuracy check
without a ledger (oracle checks only, never a synthetic truth)."""
import json
import logging
import shutil

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterInstance, materialize
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from orchestrator_assets.arrivals import _arrival
from orchestrator_assets.assets.bronze import bronze
from orchestrator_assets.assets.gold import dbt_resource, gold
from orchestrator_assets.assets.silver import silver
from orchestrator_assets.cleaning.engines import ENGINES
from orchestrator_assets.cleaning.publish import publish, require_silver
from orchestrator_assets.cleaning.run import clean_partition, read_silver
from orchestrator_assets.cleaning.verdict import NO_LEDGER, judge
from orchestrator_assets.cli import MANIFEST_SCHEMA_FILE, SCHEMA_FILE, main
from orchestrator_assets.generation import manifest as manifest_module
from orchestrator_assets.generation.bronze import count_rows, read_manifest, write_bronze
from orchestrator_assets.generation.generator import generate
from orchestrator_assets.generation.manifest import ManifestError, problems
from orchestrator_assets.io_managers import storage_resources
from orchestrator_assets.resources import (
    CleaningEngineResource,
    DatabricksResource,
    StorageResource,
    WarehouseResource,
)
from orchestrator_assets.settings import RouterSettings
from orchestrator_assets.storage.local import LocalStorage
from orchestrator_assets.summary import build_summary, render

USER, JOB = "dana", "import-1"
SPEC = {
    "name": "shop_import", "anchor": "orders",
    "tables": {
        "customers": {"rows": {"count": 4}, "primary_key": "customer_id", "columns": {
            "customer_id": {"type": "id", "source": {"kind": "sequence"}},
            "email": {"type": "email", "required": False,
                      "source": {"kind": "template", "template": "c{customer_id}@example.com"}},
            "phone": {"type": "phone", "required": False, "source": {"kind": "phone"}},
            "signed_up": {"type": "date", "min": "2020-01-01", "max": "2026-01-01",
                          "source": {"kind": "datetime_range", "start": "2021-01-01", "end": "2025-01-01"}},
            "age": {"type": "int", "required": False, "min": 13, "max": 120,
                    "source": {"kind": "int_range", "min": 18, "max": 90}},
        }},
        "orders": {"rows": {"count": 4}, "primary_key": "order_id", "columns": {
            "order_id": {"type": "id", "source": {"kind": "sequence"}},
            "customer_id": {"type": "id", "source": {"kind": "foreign_key", "table": "customers"}},
            "ordered_at": {"type": "timestamp", "min": "2020-01-01", "max": "2026-01-01",
                           "source": {"kind": "datetime_range", "start": "2021-01-01", "end": "2025-01-01"}},
            "amount": {"type": "float", "min": 0, "max": 10000,
                       "source": {"kind": "float_range", "min": 1, "max": 900}},
        }},
    },
}
# Values chosen by hand, each with the outcome written down first. Every value that reaches Silver is one the
# oracles accept: the phones are real (libphonenumber-valid) numbers, the e-mails plain addresses.
CUSTOMERS = [
    ('{"customer_id": "1", "email": " Ann.Lee@Example.com ", "phone": "+12015550123", "signed_up": "2024-03-05", '
    '"age": "34"}'),                       # e-mail trimmed and lower-cased
    ('{"customer_id": "2", "email": "bob@example.org", "phone": "(415) 555-2671", "signed_up": "2023-01-10", '
    '"age": "200"}'),                      # phone to +14155552671; age out of [13, 120] -> nulled (optional)
    '{"customer_id": "3", "email": "carol@example.net", "phone": null, "signed_up": "not a date", "age": "41"}',
    #                                       required date unparseable -> quarantined
    '{"customer_id": "4", "email": "", "phone": "+493012345678", "signed_up": "2022-07-01", "age": null}',
    #                                       blank e-mail -> null
    '{"customer_id": "5", broken',        # not JSON -> quarantined verbatim
]
ORDERS = [
    '{"order_id": "10", "customer_id": "1", "ordered_at": "2024-03-05 14:30:00", "amount": "12.50"}',
    '{"order_id": "11", "customer_id": "2", "ordered_at": "2024-03-06 09:00:00", "amount": "$1,234.50"}',
    '{"order_id": "12", "customer_id": "3", "ordered_at": "2024-03-07 10:00:00", "amount": "5"}',   # parent held
    '{"order_id": "13", "customer_id": "77", "ordered_at": "2024-03-07 11:00:00", "amount": "5"}',  # orphan
]


def part_key(table: str) -> str:
    return f"bronze/{table}/{USER}/{JOB}/part-00000.jsonl"


def minimal_manifest() -> dict:
    return {"spec": SPEC, "tables": {t: {"parts": [{"key": part_key(t)}]} for t in ("customers", "orders")}}


@pytest.fixture
def drop(tmp_path):
    """A hand drop in local storage: two JSON Lines parts and a manifest with only the required fields."""
    store = LocalStorage(tmp_path / "storage")
    for table, lines in (("customers", CUSTOMERS), ("orders", ORDERS)):
        store.put_bytes(part_key(table), ("\n".join(lines) + "\n").encode())
    store.put_bytes(f"bronze/_manifest/{USER}/{JOB}/manifest.json", json.dumps(minimal_manifest()).encode())
    return store


def schema_validator() -> Draft202012Validator:
    registry = Registry().with_resources([
        (name, Resource.from_contents(json.loads(path.read_text())))
        for name, path in (("dataset-spec.schema.json", SCHEMA_FILE),
                           ("bronze-manifest.schema.json", MANIFEST_SCHEMA_FILE))])
    return Draft202012Validator(json.loads(MANIFEST_SCHEMA_FILE.read_text()), registry=registry)


def test_the_schema_file_is_current_and_generator_manifests_validate_against_it(tmp_path, small_dataset):
    assert json.loads(MANIFEST_SCHEMA_FILE.read_text()) == manifest_module.export_json_schema()
    store = LocalStorage(tmp_path)
    generated, _ = write_bronze(store, small_dataset, "alice", "job-1", 3000, compression="gzip")
    validator = schema_validator()
    assert list(validator.iter_errors(generated.data)) == []
    assert problems(generated.data, "alice", "job-1") == []
    assert list(validator.iter_errors(minimal_manifest())) == []
    # The JSON Schema rejects what the model rejects: a misspelt field, a bad hash, a spec that is no spec.
    bad = minimal_manifest() | {"ledgr": {}}
    bad["tables"]["orders"]["parts"][0]["sha256"] = "abc"
    bad["spec"] = {**SPEC, "anchor": 3}
    messages = " | ".join(e.message for e in validator.iter_errors(bad))
    assert "ledgr" in messages and "abc" in messages and "3 is not of type 'string'" in messages


def test_every_problem_names_its_field():
    data = minimal_manifest()
    data["ledgr"] = {"key": "x"}
    data["tables"]["orders"]["parts"][0]["lines"] = -1
    assert problems(data, USER, JOB) == [
        "tables.orders.parts.0.lines: Input should be greater than or equal to 0",
        "ledgr: Extra inputs are not permitted"]

    data = minimal_manifest()
    del data["tables"]["orders"]
    data["tables"]["refunds"] = {"parts": [{"key": f"bronze/refunds/{USER}/{JOB}/part-00000.jsonl"}]}
    data["tables"]["customers"] = {"rows": 9, "columns": ["customer_id", "email", "nickname"], "parts": [
        {"key": f"bronze/customers/{USER}/other/part-00000.jsonl", "lines": 5},
        {"key": "../outside.jsonl"}, {"key": f"bronze/customers/{USER}/{JOB}/part-00001.csv", "lines": 1}]}
    data["user"] = "erin"
    data["ledger"] = {"key": "bronze/_ledger/x/ledger.parquet", "rows": 3}
    found = problems(data, USER, JOB)
    assert found == [
        "user: 'erin', but the manifest's path says 'dana'",
        "tables: lacks 'orders', a table of the spec (every spec table needs Bronze parts)",
        ("tables.customers.columns: must be the columns the spec emits (customer_id, email, phone, signed_up, age); "
        "not in the spec: nickname; missing: age, phone, signed_up"),
        (f"tables.customers.parts.0.key: 'bronze/customers/{USER}/other/part-00000.jsonl' must lie under "
        f"bronze/customers/{USER}/{JOB}/ (the layout every reader and sync follows)"),
        "tables.customers.parts.1.key: '../outside.jsonl' must be a plain path relative to the storage root",
        (f"tables.customers.parts.2.key: 'bronze/customers/{USER}/{JOB}/part-00001.csv' must end in .jsonl or "
        ".jsonl.gz"),
        "tables.refunds: not a table of the spec (it has customers, orders)",
        ("ledger: needs seed and anchor_rows (a ledger describes the Bronze the generator made from them); Bronze not "
        "written by the generator has no ledger"),
    ]
    data = minimal_manifest() | {"spec": {**SPEC, "anchor": "nope"}}
    assert problems(data, USER, JOB) == ["spec: <root>: Value error, anchor 'nope' is not a table"]
    assert problems(minimal_manifest()) == [
        "user: missing, and the manifest's path does not say it (bronze/_manifest/<user>/<job>/manifest.json)",
        "job: missing, and the manifest's path does not say it (bronze/_manifest/<user>/<job>/manifest.json)"]
    with_rows = minimal_manifest()
    with_rows["tables"]["orders"] |= {"rows": 5, "parts": [{"key": part_key("orders"), "lines": 4}]}
    assert problems(with_rows, USER, JOB) == ["tables.orders.rows: 5, but the parts' lines add up to 4"]


def test_validate_manifest_cli(drop, tmp_path, capsys):
    path = drop.path(f"bronze/_manifest/{USER}/{JOB}/manifest.json")
    assert main(["validate", "--manifest", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"ok: {path} (2 tables, no ledger; its parts checked in ")

    data = minimal_manifest()
    data["tables"]["orders"]["parts"][0] |= {"lines": 3, "bytes": 7}
    data["tables"]["customers"]["parts"].append({"key": f"bronze/customers/{USER}/{JOB}/part-00001.jsonl"})
    path.write_text(json.dumps(data))
    assert main(["validate", "--manifest", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        (f"{path}: tables.customers.parts.1: Bronze part bronze/customers/{USER}/{JOB}/part-00001.jsonl is listed "
        "in the manifest but missing from storage"),
        (f"{path}: tables.orders.parts.0.bytes: the manifest records 7, {part_key('orders')} has "
        f"{len(chr(10).join(ORDERS)) + 1}"),
        f"{path}: tables.orders.parts.0.lines: the manifest records 3, {part_key('orders')} has 4"]

    # Outside a storage layout: the manifest alone, and user/job must be in it.
    loose = tmp_path / "manifest.json"
    loose.write_text(json.dumps(minimal_manifest()))
    assert main(["validate", "--manifest", str(loose)]) == 1
    assert "user: missing" in capsys.readouterr().out
    loose.write_text(json.dumps(minimal_manifest() | {"user": USER, "job": JOB}))
    assert main(["validate", "--manifest", str(loose)]) == 0
    assert "parts not checked (no --root)" in capsys.readouterr().out
    assert main(["validate", "--manifest", str(loose), "--root", str(drop.root)]) == 0
    loose.write_text("{not json")
    assert main(["validate", "--manifest", str(loose)]) == 1


def test_an_invalid_manifest_fails_reading_naming_the_field(drop):
    bad = minimal_manifest()
    bad["tables"]["orders"]["parts"] = []
    drop.put_bytes(f"bronze/_manifest/{USER}/{JOB}/manifest.json", json.dumps(bad).encode())
    with pytest.raises(ManifestError, match=r"tables\.orders\.parts: List should have at least 1 item"):
        read_manifest(drop, USER, JOB)


def test_rows_are_counted_when_the_manifest_does_not_record_them(drop):
    manifest = read_manifest(drop, USER, JOB)
    assert manifest.user == USER and manifest.ledger is None and manifest.rows("orders") is None
    assert manifest.total_rows == 0 and count_rows(drop, manifest) == len(CUSTOMERS) + len(ORDERS)
    # 9 lines, over a small limit of 5: routed by the counted lines, not by the 0 the manifest records.
    arrival = _arrival(drop, USER, JOB, RouterSettings(5, 100, ""), logging.getLogger("test"))
    assert arrival.records == 9 and arrival.route.engine == "duckdb"


def resources(tmp_path, root):
    return {**storage_resources(StorageResource(root=str(root))), "cleaning": CleaningEngineResource(engine="pandas"),
            "databricks": DatabricksResource(),
            "warehouse": WarehouseResource(duckdb_path=str(tmp_path / "w.duckdb")), "dbt": dbt_resource()}


def test_a_minimal_hand_drop_runs_through_silver_with_oracle_checks_only(drop, tmp_path):
    (tmp_path / "home").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "home"))
    instance.add_dynamic_partitions("jobs", [f"{USER}.{JOB}"])
    result = materialize([*bronze.specs, silver], partition_key=f"{USER}.{JOB}", instance=instance,
                         resources=resources(tmp_path, drop.root))
    assert result.success
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "cleaning_accuracy"]
    assert check.passed and check.description.startswith(NO_LEDGER)
    assert check.metadata["invalid/customers.phone/valid_phone"].value == 0
    assert check.metadata["checked/customers.phone/valid_phone"].value == 3
    assert check.metadata["checked/customers.email/valid_email"].value == 2
    assert check.metadata["ledger"].value is False

    current = require_silver(drop, USER, JOB)
    customers = read_silver(drop, "customers", USER, JOB, current=current)
    assert sorted(customers.column("customer_id").to_pylist()) == [1, 2, 4]
    by_id = {r["customer_id"]: r for r in customers.to_pylist()}
    assert by_id[1]["email"] == "ann.lee@example.com" and by_id[2]["phone"] == "+14155552671"
    assert by_id[2]["age"] is None and by_id[4]["email"] is None
    assert read_silver(drop, "orders", USER, JOB, current=current).column("order_id").to_pylist() == [10, 11]

    report = json.loads(drop.get_bytes(current.accuracy_report))
    assert report["ledger"] is False and report["note"] == NO_LEDGER and report["passed"] is True
    assert report["kinds"] == {} and "wrongly_changed" not in report  # nothing compared with a rebuilt truth
    assert sum(r["quarantined"] for r in report["rules"].values()) == 4
    assert report["rules"]["malformed_record"]["quarantined"] == 1
    assert report["rules"]["foreign_key"]["quarantined"] == 2
    assert report["rules"]["numeric_range"]["nulled"] == 1
    assert {c["check"] for c in report["oracles"]["checks"]} >= {"valid_phone", "valid_email", "foreign_key",
                                                                  "in_range", "unique_key", "required"}
    cleaning = json.loads(drop.get_bytes(current.cleaning_report))
    assert cleaning["tables"]["orders"]["bronze_unverified_parts"] == [part_key("orders")]

    summary = render(build_summary(drop, tmp_path / "none.duckdb", USER, JOB))
    assert f"{NO_LEDGER}:" in summary and "accuracy check PASSED" in summary
    assert "customers.phone valid_phone" in summary
    instance.dispose()


def test_without_a_ledger_the_check_fails_on_any_invalid_silver_value(drop, tmp_path):
    manifest = read_manifest(drop, USER, JOB)
    result = clean_partition(drop, manifest, ENGINES["pandas"]())
    current = require_silver(drop, USER, JOB)
    silver_tables = {t: read_silver(drop, t, USER, JOB, current=current) for t in manifest.tables}
    quarantine = {t: read_silver(drop, t, USER, JOB, quarantine=True, current=current) for t in manifest.tables}
    # Silver as a faulty rule might have written it: one unassigned number, one address breaking the dot rule.
    customers = silver_tables["customers"]
    phones = customers.column("phone").to_pylist()
    emails = customers.column("email").to_pylist()
    phones[0], emails[1] = "+15550100000", "bob..x@example.org"
    customers = customers.set_column(customers.schema.get_field_index("phone"), "phone", pa.array(phones))
    customers = customers.set_column(customers.schema.get_field_index("email"), "email", pa.array(emails))
    staged = {}
    for table, kind, data in [("customers", "silver", customers), ("orders", "silver", silver_tables["orders"])] + [
            (t, "quarantine", q) for t, q in quarantine.items()]:
        staged[table, kind] = tmp_path / f"{table}.{kind}.parquet"
        pq.write_table(data, staged[table, kind])
    faulty = publish(drop, USER, JOB, staged, result.to_json(), "pandas")

    verdict = judge(drop, manifest, faulty, result.rules)
    assert not verdict.passed and verdict.ledger is None
    assert verdict.description.startswith(f"{NO_LEDGER}: ")
    assert "customers.phone valid_phone: 1 of 3 invalid (e.g. '+15550100000')" in verdict.description
    assert "customers.email valid_email: 1 of 2 invalid (e.g. 'bob..x@example.org')" in verdict.description
    assert verdict.report["oracles"]["invalid"] == 2


def test_with_a_ledger_the_verdict_is_the_ledgers_and_the_oracles_are_reported(tmp_path, bronze_store):
    source, _ = bronze_store
    store = LocalStorage(tmp_path)
    shutil.copytree(source.root / "bronze", tmp_path / "bronze")
    manifest = read_manifest(store, "alice", "job-1")
    result = clean_partition(store, manifest, ENGINES["pandas"]())
    current = require_silver(store, "alice", "job-1")
    verdict = judge(store, manifest, current, result.rules)
    assert verdict.ledger is not None and verdict.report["ledger"] is True
    assert verdict.passed == (not verdict.ledger.failures()) and verdict.report["kinds"]
    checks = {(c["table"], c["column"], c["check"]) for c in verdict.report["oracles"]["checks"]}
    assert ("users", "phone", "valid_phone") in checks and ("orders", "user_id", "foreign_key") in checks


def test_a_hand_drop_of_the_built_in_spec_runs_through_gold(tmp_path, spec):
    """Generator output re-dropped by hand: no ledger, no seed, no counts or hashes; Bronze to Gold all the same."""
    store = LocalStorage(tmp_path / "storage")
    user, job = "erin", "drop-1"
    generated, _ = write_bronze(store, generate(spec, 300, 4, user, job), user, job, 300)
    store.delete_prefix("bronze/_ledger")
    minimal = {"spec": generated.data["spec"],
               "tables": {t: {"parts": [{"key": p["key"]} for p in info["parts"]]}
                          for t, info in generated.tables.items()}}
    store.put_bytes(f"bronze/_manifest/{user}/{job}/manifest.json", json.dumps(minimal).encode())
    (tmp_path / "home").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "home"))
    instance.add_dynamic_partitions("jobs", [f"{user}.{job}"])
    result = materialize([*bronze.specs, silver, gold], partition_key=f"{user}.{job}", instance=instance,
                         resources=resources(tmp_path, store.root))
    assert result.success
    done = {m.asset_key for m in result.get_asset_materialization_events()}
    assert AssetKey(["gold", "fact_orders"]) in done
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        orders = con.execute("SELECT count(*) FROM fact_orders WHERE pipeline_user = ? AND pipeline_job = ?",
                             [user, job]).fetchall()[0][0]
    assert orders == read_silver(store, "orders", user, job).num_rows > 0
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "cleaning_accuracy"]
    assert check.description.startswith(NO_LEDGER)
    instance.dispose()


def test_a_manifest_with_problems_fails_the_clean_job_at_once_naming_the_field(drop, tmp_path):
    from dagster import DagsterEventType, Definitions

    from orchestrator_assets.jobs import clean_small_job

    bad = minimal_manifest()
    bad["tables"]["orders"]["parts"][0]["key"] = f"bronze/orders/{USER}/{JOB}/part-00000.csv"
    drop.put_bytes(f"bronze/_manifest/{USER}/{JOB}/manifest.json", json.dumps(bad).encode())
    defs = Definitions(assets=[*bronze.specs, silver, gold], jobs=[clean_small_job], resources=resources(tmp_path, drop.root))
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("jobs", [f"{USER}.{JOB}"])
    result = defs.resolve_job_def("clean_small_job").execute_in_process(
        partition_key=f"{USER}.{JOB}", instance=instance, raise_on_error=False)
    assert not result.success
    assert not [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "silver"
    assert "tables.orders.parts.0.key" in failure.step_failure_data.error.message
    assert drop.list("silver") == []
