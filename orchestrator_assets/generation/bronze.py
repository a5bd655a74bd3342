"""Write a generated dataset to Bronze (JSON Lines + ledger + manifest) and read it back as text.

Bronze is read-only once written: the manifest is published last and marks the partition complete;
a second write of the same partition is accepted only if it would produce the very same data.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .. import layout
from ..storage.base import Storage, sha256_file
from .generator import GeneratedDataset, bronze_columns
from .spec import DatasetSpec, parse_spec

ROWS_PER_PART = 1_000_000
COMPRESSIONS = {"none": ("jsonl", "uncompressed"), "gzip": ("jsonl.gz", "gzip")}


class BronzeExistsError(RuntimeError):
    pass


@dataclass(frozen=True)
class Manifest:
    data: dict[str, Any]

    @property
    def spec(self) -> DatasetSpec:
        return parse_spec(self.data["spec"], "bronze manifest")

    @property
    def tables(self) -> dict[str, dict[str, Any]]:
        return self.data["tables"]

    def rows(self, table: str) -> int:
        return self.tables[table]["rows"]

    @property
    def total_rows(self) -> int:
        return sum(t["rows"] for t in self.tables.values())

    def to_json(self) -> bytes:
        return json.dumps(self.data, indent=2).encode()


def _select_sql(table: pa.Table) -> str:
    exprs = []
    for name in table.column_names:
        if name.endswith(("__dirty", "__raw")):
            continue
        if f"{name}__dirty" in table.column_names:
            exprs.append(
                f'CASE WHEN "{name}__raw" THEN "{name}__dirty"::JSON '
                f'WHEN "{name}__dirty" IS NOT NULL THEN to_json("{name}__dirty") ELSE to_json("{name}") END AS "{name}"'
            )
        else:
            exprs.append(f'"{name}"')
    return ", ".join(exprs)


def read_manifest(storage: Storage, user: str, job: str) -> Manifest | None:
    key = layout.manifest_key(user, job)
    if not storage.exists(key):
        return None
    return Manifest(json.loads(storage.get_bytes(key)))


def write_bronze(storage: Storage, ds: GeneratedDataset, user: str, job: str, anchor_rows: int,
                 compression: str = "none") -> tuple[Manifest, bool]:
    """Publish the dataset; returns (manifest, written). written is False when identical data was there."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {sorted(COMPRESSIONS)}")
    suffix, codec = COMPRESSIONS[compression]
    identity = {"spec_digest": ds.spec.digest(), "seed": ds.seed, "anchor_rows": anchor_rows,
                "compression": compression}
    existing = read_manifest(storage, user, job)
    if existing is not None:
        if all(existing.data.get(k) == v for k, v in identity.items()):
            return existing, False
        raise BronzeExistsError(
            f"Bronze partition {user}.{job} already exists with different inputs "
            f"(seed {existing.data.get('seed')}, rows {existing.data.get('anchor_rows')}); Bronze is read-only: "
            "submit a new job id instead"
        )
    tables: dict[str, Any] = {}
    con = duckdb.connect()
    try:
        with storage.scratch() as tmp:
            for name, gen in ds.tables.items():
                bronze = bronze_columns(gen)
                con.register("bronze_src", bronze)
                parts = []
                for i, offset in enumerate(range(0, max(bronze.num_rows, 1), ROWS_PER_PART)):
                    local = tmp / f"{name}-{i}.{suffix}"
                    con.execute(
                        f"COPY (SELECT {_select_sql(bronze)} FROM bronze_src LIMIT {ROWS_PER_PART} OFFSET {offset}) "
                        f"TO '{local}' (FORMAT JSON, COMPRESSION {codec})"
                    )
                    key = layout.bronze_part(name, user, job, i, suffix)
                    digest = sha256_file(local)
                    parts.append({"key": key, "bytes": storage.put_file(key, local), "sha256": digest})
                con.unregister("bronze_src")
                storage.replace_prefix(layout.bronze_prefix(name, user, job), [p["key"] for p in parts])
                tables[name] = {"rows": bronze.num_rows, "clean_rows": gen.clean.num_rows,
                                "columns": ds.spec.emitted(name), "parts": parts}
            ledger_local = tmp / "ledger.parquet"
            pq.write_table(ds.ledger, ledger_local, compression="zstd")
            ledger = {"key": layout.ledger_key(user, job), "rows": ds.ledger.num_rows,
                      "sha256": sha256_file(ledger_local)}
            ledger["bytes"] = storage.put_file(ledger["key"], ledger_local)
    finally:
        con.close()
    manifest = Manifest({
        **identity, "user": user, "job": job, "spec_name": ds.spec.name, "format": "jsonl",
        "spec": ds.spec.model_dump(mode="json"), "tables": tables, "ledger": ledger,
        "error_rate": ds.spec.error_rate,
    })
    storage.put_bytes(layout.manifest_key(user, job), manifest.to_json())
    return manifest, True


def read_ledger(storage: Storage, manifest: Manifest) -> pa.Table:
    with storage.scratch() as tmp:
        return pq.read_table(storage.get_file(manifest.data["ledger"]["key"], tmp / "ledger.parquet"))


def read_bronze(con: duckdb.DuckDBPyConnection, storage: Storage, manifest: Manifest, table: str) -> pa.Table:
    """Every column as text, plus `_bronze_row` (line order) and `_malformed` (the raw line if it is not JSON).

    The fast JSON reader handles well-formed files; if it rejects a file, the lines are re-read as text
    and parsed one by one in SQL, so a broken line becomes a quarantinable row instead of a failed run.
    """
    columns = manifest.tables[table]["columns"]
    keys = [p["key"] for p in manifest.tables[table]["parts"]]
    names = ", ".join(f'"{c}"' for c in columns)
    typed = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in columns) + "}"
    with storage.local_view(keys) as root:
        files = [str(root / k) for k in keys]
        try:
            return con.sql(f"""
                SELECT {names}, row_number() OVER () - 1 AS _bronze_row, NULL::VARCHAR AS _malformed
                FROM read_json({files!r}, format='newline_delimited', columns={typed})
            """).to_arrow_table()
        except duckdb.Error:
            return _read_tolerant(con, files, columns)


def _read_tolerant(con: duckdb.DuckDBPyConnection, files: list[str], columns: list[str]) -> pa.Table:
    struct = "{" + ", ".join(f'"{c}": "JSON"' for c in columns) + "}"
    fields = ", ".join(
        f"CASE WHEN json_type(doc.\"{c}\") = 'VARCHAR' THEN doc.\"{c}\"->>'$' ELSE doc.\"{c}\"::VARCHAR END AS \"{c}\""
        for c in columns
    )
    return con.sql(f"""
        WITH lines AS (
            SELECT line, row_number() OVER () - 1 AS _bronze_row
            FROM read_csv({files!r}, columns={{'line': 'VARCHAR'}}, header=false, delim='\\x01', quote='',
                          escape='', auto_detect=false)
        ), parsed AS (
            SELECT _bronze_row, line,
                   CASE WHEN json_valid(line) AND json_type(line::JSON) = 'OBJECT'
                        THEN json_transform(line, '{struct}') END AS doc
            FROM lines
        )
        SELECT {fields}, _bronze_row, CASE WHEN doc IS NULL THEN line END AS _malformed FROM parsed
    """).to_arrow_table()
