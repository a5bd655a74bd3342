import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from orchestrator_assets.cleaning.accuracy import evaluate
from orchestrator_assets.cleaning.pandas_engine import PandasEngine
from orchestrator_assets.cleaning.run import clean_partition, read_silver


@pytest.fixture(scope="module")
def cleaned(bronze_store):
    store, manifest = bronze_store
    result = clean_partition(store, manifest, PandasEngine())
    silver = {t: read_silver(store, t, "alice", "job-1") for t in manifest.tables}
    quarantine = {t: read_silver(store, t, "alice", "job-1", quarantine=True) for t in manifest.tables}
    return result, silver, quarantine


def test_pandas_engine_meets_the_accuracy_bar(small_dataset, cleaned):
    _, silver, quarantine = cleaned
    report = evaluate(small_dataset, silver, quarantine)
    assert report.failures() == []
    assert sum(k["injected"] for k in report.kinds.values()) == small_dataset.ledger.num_rows
    assert report.kinds["whitespace"]["repaired"] > 0.9 * report.kinds["whitespace"]["injected"]
    assert report.kinds["orphan_fk"]["missed"] == 0
    assert report.wrongly_changed == 0 and report.wrongly_quarantined == 0


def test_rows_reconcile(cleaned):
    result, silver, quarantine = cleaned
    for table, stats in result.tables.items():
        assert stats["bronze_rows"] == silver[table].num_rows + quarantine[table].num_rows


def test_sabotaged_silver_is_caught(small_dataset, cleaned):
    _, silver, quarantine = cleaned
    users = silver["users"]
    # Undo the case repair of first names and change one clean value: both must be reported.
    broken = users.set_column(users.schema.get_field_index("first_name"), "first_name",
                              pc.utf8_upper(users.column("first_name")))
    report = evaluate(small_dataset, {**silver, "users": broken}, quarantine)
    assert report.kinds["wrong_case"]["missed"] > 0
    assert report.wrongly_changed > 0
    assert any("clean values changed" in f for f in report.failures())


def test_surviving_duplicates_are_caught(small_dataset, cleaned):
    _, silver, quarantine = cleaned
    orders = silver["orders"]
    doubled = pa.concat_tables([orders, orders.slice(0, 50)])
    report = evaluate(small_dataset, {**silver, "orders": doubled}, quarantine)
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


def test_accuracy_scores_against_the_expected_value(small_dataset):
    """date_only is right only at midnight; email_dots is right only when Silver holds nothing for it."""
    ds = small_dataset
    ledger = ds.ledger.to_pandas()
    silver, quarantine = _silver_from_truth(ds)
    as_clean = evaluate(ds, silver, quarantine)
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
    fixed = evaluate(ds, silver, quarantine)
    assert fixed.kinds["date_only"]["repaired"] == len(date_only) and fixed.kinds["date_only"]["missed"] == 0
    assert fixed.kinds["email_dots"]["nulled"] == len(dots) and fixed.kinds["email_dots"]["missed"] == 0
    assert fixed.wrongly_changed == 0
