"""A damaged Bronze file: broken lines are quarantined verbatim, the rest is cleaned, nothing is lost."""
import shutil

import pytest

from orchestrator_assets.cleaning.engines import ENGINES
from orchestrator_assets.cleaning.run import clean_partition, read_silver
from orchestrator_assets.generation.bronze import read_manifest
from orchestrator_assets.generation.reseal import reseal_bronze
from orchestrator_assets.storage.local import LocalStorage


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_broken_lines_go_to_quarantine(tmp_path, bronze_store, engine):
    source, manifest = bronze_store
    store = LocalStorage(tmp_path)
    shutil.copytree(source.root / "bronze", tmp_path / "bronze")
    part = store.path(manifest.tables["reviews"]["parts"][0]["key"])
    lines = part.read_text().splitlines()
    lines[5] = '{"review_id": 6, "rating": '  # cut off mid-write upstream
    lines[9] = "[1, 2, 3]"  # valid JSON, not a record
    part.write_text("\n".join(lines) + "\n")
    reseal_bronze(store, "alice", "job-1")  # a deliberate edit: without it the Silver step refuses the part
    damaged = read_manifest(store, "alice", "job-1")

    result = clean_partition(store, damaged, ENGINES[engine]())

    quarantine = read_silver(store, "reviews", "alice", "job-1", quarantine=True).to_pylist()
    malformed = {q["_bronze_row"]: q["_malformed"] for q in quarantine if q["_rule"] == "malformed_record"}
    assert malformed == {5: '{"review_id": 6, "rating": ', 9: "[1, 2, 3]"}
    stats = result.tables["reviews"]
    assert stats["bronze_rows"] == len(lines) == stats["silver_rows"] + stats["quarantined_rows"]
    assert stats["silver_rows"] > 0.5 * len(lines)


def test_an_engine_failing_part_way_leaves_silver_as_it_was(tmp_path, bronze_store):
    import shutil as sh

    from orchestrator_assets.cleaning.pandas_engine import PandasEngine

    source, manifest = bronze_store
    store = LocalStorage(tmp_path)
    sh.copytree(source.root / "bronze", tmp_path / "bronze")
    clean_partition(store, manifest, PandasEngine())
    # Marked, so that a rewrite with equal bytes would show too; the pointer stays readable.
    pointer = "silver/_current/alice/job-1/current.json"
    before = {k: f"previous version of {k}".encode() for k in store.list("silver") if k != pointer}
    for key, data in before.items():
        store.put_bytes(key, data)
    before[pointer] = store.get_bytes(pointer)

    class FailsOnOrders(PandasEngine):
        def clean_table(self, bronze, plan, parent_keys):
            if plan.table == "orders":
                raise RuntimeError("executor lost")
            return super().clean_table(bronze, plan, parent_keys)

    with pytest.raises(RuntimeError, match="executor lost"):
        clean_partition(store, manifest, FailsOnOrders())
    assert {k: store.get_bytes(k) for k in store.list("silver")} == before
