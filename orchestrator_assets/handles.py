"""What an asset hands downstream: a lazy reference to one partition of its data, never the rows.

A handle names the store, the partition, the objects (keys) and the document that makes them one consistent
set: the Bronze manifest or the published Silver version. Building one reads only that small document; the
data is read when a consumer asks, as a local view (files DuckDB or dbt read in place) or in record batches.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .cleaning.publish import SilverVersion
from .generation.bronze import Manifest
from .storage.base import Storage

LEDGER_TABLE = "error_ledger"
QUARANTINE_TABLE = "quarantine"
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class LayerHandle:
    storage: Storage
    user: str
    job: str
    asset: str  # the table, LEDGER_TABLE or QUARANTINE_TABLE
    keys: tuple[str, ...]  # empty: the partition has no such table (a custom spec)
    manifest: Manifest | None = None  # Bronze
    version: SilverVersion | None = None  # Silver

    @contextmanager
    def local_view(self) -> Iterator[Path]:
        """A directory where every key is a file at <dir>/<key> (the local backend's root, or a download)."""
        with self.storage.local_view(list(self.keys)) as root:
            yield root

    def iter_batches(self, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """The rows in batches, one object on local disk at a time: Parquet as typed columns, JSON Lines (Bronze
        is raw text) as one `record` column holding each line's JSON object."""
        for key in self.keys:
            with self.storage.local_view([key]) as root:
                path = root / key
                if key.endswith(".parquet"):
                    yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows)
                    continue
                with duckdb.connect() as con:
                    reader = con.sql("SELECT json::VARCHAR AS record FROM read_json_objects(?, "
                                     "format='newline_delimited')", params=[str(path)]).to_arrow_reader(batch_rows)
                    yield from reader


def bronze_handle(storage: Storage, manifest: Manifest, asset: str) -> LayerHandle:
    if asset == LEDGER_TABLE:
        keys = (manifest.ledger["key"],) if manifest.ledger else ()
    else:
        keys = tuple(manifest.parts(asset)) if asset in manifest.tables else ()
    return LayerHandle(storage, manifest.user, manifest.job, asset, keys, manifest=manifest)


def silver_handle(storage: Storage, version: SilverVersion, asset: str) -> LayerHandle:
    if asset == QUARANTINE_TABLE:
        keys = tuple(version.key(t, "quarantine") for t in version.tables)
    else:
        keys = (version.key(asset),) if asset in version.tables else ()
    return LayerHandle(storage, version.user, version.job, asset, keys, version=version)
