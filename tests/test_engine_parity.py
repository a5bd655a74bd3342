"""Every engine on the same dirty Bronze (every injected error kind): identical Silver, quarantine and figures."""
from __future__ import annotations

import pytest

from orchestrator_assets.cleaning.catalogue import plan_table
from orchestrator_assets.cleaning.engine import quarantine_schema, silver_schema, staged_schema
from orchestrator_assets.cleaning.engines import ENGINES
from orchestrator_assets.cleaning.run import clean_partition, read_silver
from orchestrator_assets.generation.bronze import read_ledger
from orchestrator_assets.storage.local import LocalStorage

OTHERS = sorted(set(ENGINES) - {"pandas"})


def cleaned_with(engine: str, source: LocalStorage, manifest, root):
    import shutil

    store = LocalStorage(root / engine)
    shutil.copytree(source.root / "bronze", store.root / "bronze")
    result = clean_partition(store, manifest, ENGINES[engine]())
    tables = {t: (read_silver(store, t, "alice", "job-1"), read_silver(store, t, "alice", "job-1", quarantine=True))
              for t in manifest.tables}
    return result, tables


@pytest.fixture(scope="module")
def reference(bronze_store, tmp_path_factory):
    store, manifest = bronze_store
    return cleaned_with("pandas", store, manifest, tmp_path_factory.mktemp("parity"))


def test_the_bronze_holds_every_error_kind(bronze_store):
    from orchestrator_assets.generation.spec import ErrorKind

    store, manifest = bronze_store
    kinds = set(read_ledger(store, manifest).column("error_kind").to_pylist())
    assert kinds == {k.value for k in ErrorKind}


@pytest.mark.parametrize("engine", OTHERS)
def test_engines_agree_row_for_row(engine, bronze_store, reference, tmp_path):
    store, manifest = bronze_store
    result, tables = cleaned_with(engine, store, manifest, tmp_path)
    ref_result, ref_tables = reference
    for table, (silver, quarantine) in tables.items():
        ref_silver, ref_quarantine = ref_tables[table]
        # The files' own schemas (footers): the contract's types, every column nullable, partition columns text.
        plan = plan_table(manifest.spec, table)
        for data, contract in ((silver, silver_schema(plan)), (quarantine, quarantine_schema(plan)),
                               (ref_silver, silver_schema(plan))):
            assert data.schema.remove_metadata().equals(staged_schema(contract)), (table, data.schema)
        assert silver.schema == ref_silver.schema, table
        # Order aside: both sides sorted by every column before comparing values.
        key = [(c, "ascending") for c in silver.column_names]
        assert silver.sort_by(key).equals(ref_silver.sort_by(key)), table
        qkey = [("_bronze_row", "ascending")]
        assert quarantine.sort_by(qkey).equals(ref_quarantine.sort_by(qkey)), table
    assert result.rules == ref_result.rules
    assert {t: {k: v for k, v in s.items() if k != "silver_bytes"} for t, s in result.tables.items()} == \
        {t: {k: v for k, v in s.items() if k != "silver_bytes"} for t, s in ref_result.tables.items()}


@pytest.mark.parametrize("engine", OTHERS)
def test_engines_score_the_same_accuracy(engine, bronze_store, small_dataset, reference, tmp_path):
    from support.accuracy_oracle import evaluate

    store, manifest = bronze_store
    _, tables = cleaned_with(engine, store, manifest, tmp_path)
    ours = evaluate(small_dataset, {t: s for t, (s, _) in tables.items()}, {t: q for t, (_, q) in tables.items()})
    theirs = evaluate(small_dataset, {t: s for t, (s, _) in reference[1].items()},
                      {t: q for t, (_, q) in reference[1].items()})
    assert ours.to_json() == theirs.to_json()
    assert ours.failures() == []
