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
