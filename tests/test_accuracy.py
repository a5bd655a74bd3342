"""Accuracy as SQL over the ledger, the Bronze lines and the published files, held field by field to the
in-memory comparison it replaced (support/accuracy_oracle.py) over a regenerated dataset."""
from dataclasses import fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from audit_partitions import NoTrimEngine, corrupted_users, raised_error_rate
from support.accuracy_oracle import evaluate
from test_custom_spec import SPEC as LIBRARY

from orchestrator_assets.cleaning.accuracy import AccuracyReport
from orchestrator_assets.cleaning.duckdb_engine import DuckDBEngine
from orchestrator_assets.cleaning.pandas_engine import PandasEngine
from orchestrator_assets.cleaning.publish import require_silver
from orchestrator_assets.cleaning.run import clean_partition, read_silver
from orchestrator_assets.cleaning.verdict import accuracy_of_files, ledger_accuracy
from orchestrator_assets.generation.bronze import write_bronze
from orchestrator_assets.generation.generator import generate
from orchestrator_assets.generation.spec import parse_spec
from orchestrator_assets.storage.local import LocalStorage


def assert_same(old: AccuracyReport, new: AccuracyReport) -> None:
    for f in fields(AccuracyReport):
        if f.name == "examples":
            # The oracle lists them in generation order of the tables, the SQL in spec order.
            key = lambda e: (e["table"], e["column"], e["key"])
            assert sorted(old.examples, key=key) == sorted(new.examples, key=key)
        else:
            assert getattr(old, f.name) == getattr(new, f.name), f.name


def sql_report(store, manifest, tmp_path, silver: dict, quarantine: dict) -> AccuracyReport:
    """The SQL accuracy of Silver and quarantine tables as given (written to Parquet here), against the
    partition's ledger and Bronze."""
    paths = {}
    tmp_path.mkdir(parents=True, exist_ok=True)
    for kind, tables in (("silver", silver), ("quarantine", quarantine)):
        for t, data in tables.items():
            paths[t, kind] = tmp_path / f"{t}.{kind}.parquet"
            pq.write_table(data, paths[t, kind])
    spill = tmp_path / "spill"
    spill.mkdir(exist_ok=True)
    root = store.root
    return accuracy_of_files(manifest, root / manifest.ledger["key"],
                             {t: [root / k for k in manifest.parts(t)] for t in manifest.tables},
                             {t: paths[t, "silver"] for t in manifest.tables},
                             {t: paths[t, "quarantine"] for t in manifest.tables}, spill)


def miscleaned(silver: dict) -> dict:
    """Silver with clean values changed (users' first names upper-cased) and 30 orders duplicated, so that every
    kind of counter and the examples are exercised."""
    users = silver["users"]
    return {**silver, "orders": pa.concat_tables([silver["orders"], silver["orders"].slice(0, 30)]),
            "users": users.set_column(users.schema.get_field_index("first_name"), "first_name",
                                      pc.utf8_upper(users.column("first_name")))}


@pytest.fixture(scope="module")
def cleaned(bronze_store):
    store, manifest = bronze_store
    result = clean_partition(store, manifest, PandasEngine())
    silver = {t: read_silver(store, t, "alice", "job-1") for t in manifest.tables}
    quarantine = {t: read_silver(store, t, "alice", "job-1", quarantine=True) for t in manifest.tables}
    return result, silver, quarantine


def test_pandas_engine_meets_the_accuracy_bar(small_dataset, bronze_store, cleaned):
    store, manifest = bronze_store
    report = ledger_accuracy(store, manifest, require_silver(store, "alice", "job-1"))
    assert_same(evaluate(small_dataset, *cleaned[1:]), report)
    assert report.failures() == []
    assert sum(k["injected"] for k in report.kinds.values()) == small_dataset.ledger.num_rows
    assert report.kinds["whitespace"]["repaired"] > 0.9 * report.kinds["whitespace"]["injected"]
    assert report.kinds["orphan_fk"]["missed"] == 0
    assert report.wrongly_changed == 0 and report.wrongly_quarantined == 0


def test_rows_reconcile(cleaned):
    result, silver, quarantine = cleaned
    for table, stats in result.tables.items():
        assert stats["bronze_rows"] == silver[table].num_rows + quarantine[table].num_rows


def test_sabotaged_silver_is_caught(small_dataset, bronze_store, cleaned, tmp_path):
    _, silver, quarantine = cleaned
    users = silver["users"]
    # Undo the case repair of first names and change one clean value: both must be reported.
    broken = users.set_column(users.schema.get_field_index("first_name"), "first_name",
                              pc.utf8_upper(users.column("first_name")))
    report = sql_report(*bronze_store, tmp_path, {**silver, "users": broken}, quarantine)
    assert_same(evaluate(small_dataset, {**silver, "users": broken}, quarantine), report)
    assert report.kinds["wrong_case"]["missed"] > 0
    assert report.wrongly_changed > 0
    assert any("clean values changed" in f for f in report.failures())
    assert len([e for e in report.examples if e["column"] == "first_name"]) == 3
    assert all(e["silver"] == e["clean"].upper() != e["clean"] for e in report.examples)


def test_surviving_duplicates_are_caught(small_dataset, bronze_store, cleaned, tmp_path):
    _, silver, quarantine = cleaned
    orders = silver["orders"]
    doubled = pa.concat_tables([orders, orders.slice(0, 50)])
    report = sql_report(*bronze_store, tmp_path, {**silver, "orders": doubled}, quarantine)
    assert_same(evaluate(small_dataset, {**silver, "orders": doubled}, quarantine), report)
    dup_keys = set(orders.slice(0, 50).column("order_id").to_pylist())
    ledger = small_dataset.ledger.to_pandas()
    hit = ledger[(ledger.table == "orders") & ledger.row_key.isin(dup_keys) & (ledger.column == "*")]
    assert len(hit) > 0
    assert report.kinds["exact_duplicate"]["missed"] + report.kinds["near_duplicate"]["missed"] == len(hit)


def _silver_from_truth(ds):
    """Silver as a perfect cleaning would leave it if it kept every clean value: the clean tables."""
    silver = {name: gen.clean for name, gen in ds.tables.items()}
    quarantine = {name: pa.table({ds.spec.tables[name].primary_key: pa.array([], pa.string()),
                                  "_reason": pa.array([], pa.string())}) for name in ds.tables}
    return silver, quarantine


def _with_cells(table: pa.Table, column: str, keys: list[int], pk: str, values: pa.Array) -> pa.Table:
    pos = {k: i for i, k in enumerate(table.column(pk).to_pylist())}
    current = table.column(column).combine_chunks()
    rows = np.zeros(table.num_rows, bool)
    slot = np.full(table.num_rows, -1)
    for j, k in enumerate(keys):
        rows[pos[k]], slot[pos[k]] = True, j
    new = pc.if_else(pa.array(rows), values.take(pa.array(np.maximum(slot, 0))), current)
    return table.set_column(table.schema.get_field_index(column), column, new)


def test_accuracy_scores_against_the_expected_value(small_dataset, bronze_store, tmp_path):
    """date_only is right only at midnight; email_dots is right only when Silver holds nothing for it."""
    ds = small_dataset
    ledger = ds.ledger.to_pandas()
    silver, quarantine = _silver_from_truth(ds)
    as_clean = sql_report(*bronze_store, tmp_path, silver, quarantine)
    assert_same(evaluate(ds, silver, quarantine), as_clean)
    date_only = ledger[ledger.error_kind == "date_only"]
    at_midnight = (date_only.clean_value.str[11:] == "00:00:00").sum()
    assert as_clean.kinds["date_only"]["missed"] == len(date_only) - at_midnight > 0
    assert as_clean.kinds["email_dots"]["missed"] == as_clean.kinds["email_dots"]["injected"] > 0
    assert as_clean.kinds["whitespace"]["repaired"] == as_clean.kinds["whitespace"]["injected"]

    for (table, column), cells in date_only.groupby(["table", "column"]):
        pk = ds.spec.tables[table].primary_key
        midnight = pc.strptime(pa.array(cells.expected_value.tolist()), "%Y-%m-%d %H:%M:%S", unit="s")
        silver[table] = _with_cells(silver[table], column, cells.row_key.tolist(), pk,
                                    midnight.cast(silver[table].schema.field(column).type))
    dots = ledger[ledger.error_kind == "email_dots"]
    silver["users"] = _with_cells(silver["users"], "email", dots.row_key.tolist(), "user_id",
                                  pa.nulls(len(dots), pa.string()))
    fixed = sql_report(*bronze_store, tmp_path, silver, quarantine)
    assert_same(evaluate(ds, silver, quarantine), fixed)
    assert fixed.kinds["date_only"]["repaired"] == len(date_only) and fixed.kinds["date_only"]["missed"] == 0
    assert fixed.kinds["email_dots"]["nulled"] == len(dots) and fixed.kinds["email_dots"]["missed"] == 0
    assert fixed.wrongly_changed == 0


def _library(spec):
    return parse_spec(yaml.safe_load(yaml.safe_dump(LIBRARY)), "library spec")


# (spec change, rows, seed, engine): the default spec, more errors, a cascade of quarantined parents, the trim
# rule switched off (clean values left wrong), and the custom spec of test_custom_spec.
CASES = {
    "default-duckdb": (lambda s: s, 2500, 5, DuckDBEngine),
    "more-errors": (raised_error_rate, 1500, 20, PandasEngine),
    "cascade": (corrupted_users, 1500, 40, PandasEngine),
    "no-trim": (lambda s: s, 1500, 30, NoTrimEngine),
    "library": (_library, 2000, 3, PandasEngine),
    "library-seed-9": (_library, 800, 9, DuckDBEngine),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_sql_accuracy_equals_the_in_memory_comparison(case, spec, tmp_path):
    change, rows, seed, engine = CASES[case]
    case_spec = change(spec)
    store = LocalStorage(tmp_path / "store")
    truth = generate(case_spec, rows, seed, "dora", case)
    manifest, _ = write_bronze(store, truth, "dora", case, rows)
    clean_partition(store, manifest, engine())
    current = require_silver(store, "dora", case)
    silver = {t: read_silver(store, t, "dora", case, current=current) for t in manifest.tables}
    quarantine = {t: read_silver(store, t, "dora", case, quarantine=True, current=current) for t in manifest.tables}
    old, new = evaluate(truth, silver, quarantine), ledger_accuracy(store, manifest, current)
    assert_same(old, new)
    assert new.to_json()["kinds"] == old.to_json()["kinds"] and new.kinds
    assert new.clean_cells > 0 and new.clean_rows > 0
    if case == "cascade":
        assert new.quarantined_with_parent > 0
    if case == "no-trim":
        assert new.kinds["whitespace"]["missed"] > 0


def test_spark_sql_runs_the_same_queries_to_the_same_report(small_dataset, bronze_store, cleaned, tmp_path):
    """The queries are written for both SQL engines: Spark SQL over the same files gives the DuckDB report."""
    import duckdb

    from orchestrator_assets.cleaning.accuracy import measure, relation
    from orchestrator_assets.cleaning.spark_engine import SparkDialect, SparkEngine
    from orchestrator_assets.generation.bronze import read_bronze

    store, manifest = bronze_store
    _, silver, quarantine = cleaned
    silver = miscleaned(silver)
    duck = sql_report(store, manifest, tmp_path, silver, quarantine)
    engine = SparkEngine(master="local[2]")
    spark = engine.spark
    spark.conf.set("spark.sql.shuffle.partitions", "2")  # a few thousand rows: 200 shuffle tasks would be waste
    try:
        spark.read.parquet(str(store.root / manifest.ledger["key"])).createOrReplaceTempView(relation("ledger"))
        with duckdb.connect() as con:
            for t in manifest.tables:
                pq.write_table(read_bronze(con, store, manifest, t), tmp_path / f"{t}.bronze.parquet")
        for t in manifest.tables:
            spark.read.parquet(str(tmp_path / f"{t}.bronze.parquet")).createOrReplaceTempView(relation("bronze", t))
            (spark.read.parquet(str(tmp_path / f"{t}.silver.parquet"))
             .selectExpr("*", "monotonically_increasing_id() AS _silver_row")
             .createOrReplaceTempView(relation("silver", t)))
            spark.read.parquet(str(tmp_path / f"{t}.quarantine.parquet")).createOrReplaceTempView(
                relation("quarantine", t))
        on_spark = measure(lambda sql: spark.sql(sql).collect(), manifest.spec, list(manifest.tables), SparkDialect())
        # Measured in parts by key (as a large table is), Spark's hash picks the parts: the same report.
        in_parts = measure(lambda sql: spark.sql(sql).collect(), manifest.spec, list(manifest.tables),
                           SparkDialect(), lambda table: 3)
    finally:
        engine.close()
    assert duck.wrongly_changed > 0 and duck.kinds["exact_duplicate"]["missed"] > 0
    assert_same(duck, on_spark)
    assert duck.examples == on_spark.examples
    assert_same(duck, in_parts)
    assert duck.examples == in_parts.examples


def test_a_table_measured_in_parts_by_key_gives_the_same_report(bronze_store, cleaned, tmp_path, monkeypatch):
    """A table with more lines than the memory limit allows (ACCURACY_BYTES_PER_LINE) is measured in parts, each
    joining its share of the keys: the parts add up to the whole report, examples included (the first of each
    column, by key, over all parts)."""
    from orchestrator_assets.cleaning import verdict

    store, manifest = bronze_store
    _, silver, quarantine = cleaned
    silver = miscleaned(silver)
    whole = sql_report(store, manifest, tmp_path / "whole", silver, quarantine)
    asked = []
    real = verdict.measure
    monkeypatch.setattr(verdict, "measure", lambda *a: asked.append({t: a[4](t) for t in a[2]}) or real(*a))
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "256MiB")
    monkeypatch.setattr(verdict, "ACCURACY_BYTES_PER_LINE", 2**28 // 100)  # 100 lines a part
    parts = sql_report(store, manifest, tmp_path / "parts", silver, quarantine)
    assert asked[0]["orders"] == -(-manifest.rows("orders") // 100) > 1
    assert asked[0]["locations"] == -(-manifest.rows("locations") // 100)
    assert whole.wrongly_changed > 0 and whole.kinds["exact_duplicate"]["missed"] > 0
    assert_same(whole, parts)
    assert whole.examples == parts.examples
