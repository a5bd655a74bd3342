import hashlib
import json

import numpy as np
import pyarrow.compute as pc
import pytest

from orchestrator_assets.generation.bronze import BronzeExistsError, read_ledger, write_bronze
from orchestrator_assets.generation.dirty import as_text
from orchestrator_assets.generation.generator import ROW_LEVEL, generate
from orchestrator_assets.generation.spec import ColumnType, ForeignKey
from orchestrator_assets.storage.local import LocalStorage


def _digests(store):
    return {k: hashlib.sha256(store.get_bytes(k)).hexdigest() for k in store.list("bronze")}


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_same_inputs_give_byte_identical_bronze(tmp_path, spec, compression):
    a, b = LocalStorage(tmp_path / "a"), LocalStorage(tmp_path / "b")
    for store in (a, b):
        write_bronze(store, generate(spec, 500, 3, "bob", "j1"), "bob", "j1", 500, compression)
    assert _digests(a) == _digests(b)
    assert len(_digests(a)) == len(spec.tables) + 2  # parts, ledger, manifest


def test_different_seed_user_or_job_changes_data(spec):
    base = generate(spec, 300, 1, "u", "j").tables["orders"].clean
    for args in [(2, "u", "j"), (1, "v", "j"), (1, "u", "k")]:
        assert not generate(spec, 300, *args).tables["orders"].clean.equals(base)


def test_clean_data_has_referential_integrity(small_dataset):
    ds = small_dataset
    for name, gen in ds.tables.items():
        table = ds.spec.tables[name]
        keys = gen.clean.column(table.primary_key).to_numpy()
        assert len(np.unique(keys)) == len(keys), name
        for cname, col in table.columns.items():
            if isinstance(col.source, ForeignKey) and col.emit:
                parent = ds.spec.tables[col.source.table]
                parent_keys = ds.tables[col.source.table].clean.column(parent.primary_key)
                refs = gen.clean.column(cname).drop_null()
                assert pc.all(pc.is_in(refs, value_set=parent_keys.combine_chunks())).as_py(), f"{name}.{cname}"


def test_derived_values_are_consistent(small_dataset):
    t = small_dataset.tables
    items = t["order_items"].clean.to_pandas()
    orders = t["orders"].clean.to_pandas().set_index("order_id")
    assert np.allclose(items.line_amount, (items.quantity * items.unit_price).round(2))
    totals = items.groupby("order_id").line_amount.sum().round(2)
    assert np.allclose(orders.loc[totals.index, "total_amount"], totals)
    payments = t["payments"].clean.to_pandas()
    assert np.allclose(payments.amount, orders.loc[payments.order_id, "total_amount"].to_numpy())
    assert (t["users"].clean.to_pandas().age.between(13, 120)).all()


def test_error_rate_per_table_is_within_tolerance(small_dataset):
    ledger = small_dataset.ledger.to_pandas()
    for name, gen in small_dataset.tables.items():
        n = gen.clean.num_rows
        if n < 500:
            continue
        dirty_rows = ledger[ledger.table == name].row_key.nunique()
        assert abs(dirty_rows / n - 0.3) < 0.02, (name, dirty_rows / n)


def test_error_rate_is_configurable(spec):
    quiet = spec.model_copy(update={"error_rate": 0.05})
    ds = generate(quiet, 2000, 1, "u", "j")
    orders = ds.ledger.filter(pc.equal(ds.ledger.column("table"), "orders"))
    assert abs(len(set(orders.column("row_key").to_pylist())) / 2000 - 0.05) < 0.01


def test_every_injected_kind_appears(small_dataset):
    kinds = set(small_dataset.ledger.column("error_kind").to_pylist())
    declared = {k.value for t in small_dataset.spec.tables.values() for c in t.columns.values() for k in c.errors}
    declared |= {k for t in small_dataset.spec.tables.values() for k in t.row_errors}
    assert declared == kinds
    assert len(kinds) >= 15


def _json_value(value, ctype):
    """The JSON a clean value is written as."""
    if value is None:
        return None
    if ctype in (ColumnType.timestamp, ColumnType.date):
        return str(value)
    return value


def test_ledger_lists_exactly_the_cells_that_differ_from_clean(bronze_store, small_dataset):
    store, manifest = bronze_store
    ledger = read_ledger(store, manifest).to_pandas()
    for name, gen in small_dataset.tables.items():
        table = small_dataset.spec.tables[name]
        lines = b"".join(store.get_bytes(p["key"]) for p in manifest.tables[name]["parts"]).splitlines()
        records = [json.loads(line) for line in lines]
        assert len(records) == gen.bronze_rows
        clean_cols = {c: as_text(gen.clean.column(c).combine_chunks(), table.columns[c].type).to_pylist()
                      for c in gen.clean.column_names}
        raw_cols = {c: gen.clean.column(c).to_pylist() for c in gen.clean.column_names}
        found = set()
        for i, rec in enumerate(records[: gen.clean.num_rows]):
            for c, col in table.columns.items():
                if not col.emit:
                    continue
                ctype = col.type
                numeric = ctype in (ColumnType.id, ColumnType.int, ColumnType.float)
                expected = raw_cols[c][i] if numeric else clean_cols[c][i]
                if rec[c] != expected or (numeric and isinstance(rec[c], str)):
                    found.add((rec[table.primary_key] if c != table.primary_key else i + 1, c))
        cells = ledger[(ledger.table == name) & (ledger.column != ROW_LEVEL)]
        assert found == set(zip(cells.row_key, cells.column)), name
        dups = ledger[(ledger.table == name) & (ledger.column == ROW_LEVEL)]
        assert len(dups) == gen.bronze_rows - gen.clean.num_rows
        assert sorted(dups.bronze_row) == list(range(gen.clean.num_rows, gen.bronze_rows))


def test_bronze_is_read_only_once_written(tmp_path, spec):
    store = LocalStorage(tmp_path)
    ds = generate(spec, 200, 1, "u", "j")
    _, written = write_bronze(store, ds, "u", "j", 200)
    before = _digests(store)
    _, again = write_bronze(store, ds, "u", "j", 200)
    assert written and not again and _digests(store) == before
    with pytest.raises(BronzeExistsError, match="read-only"):
        write_bronze(store, generate(spec, 200, 2, "u", "j"), "u", "j", 200)
    assert _digests(store) == before


def test_generation_rejects_empty_jobs(spec):
    with pytest.raises(ValueError, match="at least 1"):
        generate(spec, 0, 1, "u", "j")
