"""The per-table Silver checks read the Parquet footer and DuckDB counts, never the table."""
import pyarrow as pa
import pyarrow.parquet as pq

from orchestrator_assets.cleaning.verdict import file_facts
from orchestrator_assets.storage.local import LocalStorage


def _put(store: LocalStorage, tmp_path, key: str, table: pa.Table) -> None:
    pq.write_table(table, tmp_path / "t.parquet")
    store.put_file(key, tmp_path / "t.parquet")


def test_duplicate_and_null_keys_are_counted_and_schema_comes_from_the_footer(tmp_path):
    store = LocalStorage(tmp_path / "store")
    _put(store, tmp_path, "s/dupes.parquet", pa.table({"order_id": pa.array([1, 2, 2, 3, None, 3], pa.int64()),
                                                        "x": ["a", "b", "c", "d", "e", "f"]}))
    _put(store, tmp_path, "s/unique.parquet", pa.table({"order_id": pa.array([1, 2, 3], pa.int64())}))
    schema, dupes = file_facts(store, "s/dupes.parquet", "order_id")
    assert dupes == 3  # 2 twice, 3 twice, a null key
    assert file_facts(store, "s/unique.parquet", "order_id")[1] == 0
    assert schema == pa.schema([("order_id", pa.int64()), ("x", pa.string())])
