"""Write a generated dataset to Bronze (JSON Lines + ledger + manifest) and read it back as text.

Bronze is read-only once written: the manifest is published last and marks the partition complete;
a second write of the same partition is accepted only if it would produce the very same data.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .. import layout
from ..storage.base import Storage, sha256_file
from .blocks import BLOCK_ROWS
from .generator import LEDGER_SCHEMA, DatasetStream, GeneratedDataset, GeneratedTable, bronze_columns
from .integrity import BronzeCheck, PartScan, read_lines, scan_file, scan_part, with_reasons
from .manifest import check
from .spec import DatasetSpec, parse_spec

ROWS_PER_PART = BLOCK_ROWS  # lines per part; with parts the size of a block, no part spans two blocks
LEDGER_GROUP_ROWS = 1 << 20  # pyarrow's own default row group, so a table's ledger is cut where it always was
COMPRESSIONS = {"none": ("jsonl", "uncompressed"), "gzip": ("jsonl.gz", "gzip")}


class BronzeExistsError(RuntimeError):
    pass


@dataclass(frozen=True)
class Manifest:
    """A partition's manifest (generation/manifest.py): only `spec` and each table's part keys are required."""
    data: dict[str, Any]

    @property
    def spec(self) -> DatasetSpec:
        return parse_spec(self.data["spec"], "bronze manifest")

    @property
    def user(self) -> str:
        return self.data["user"]

    @property
    def job(self) -> str:
        return self.data["job"]

    @property
    def spec_name(self) -> str:
        return self.data.get("spec_name") or self.data["spec"]["name"]

    @property
    def ledger(self) -> dict[str, Any] | None:
        """The error ledger ({"key", "rows", ...}); None for Bronze the generator did not write."""
        return self.data.get("ledger")

    @property
    def tables(self) -> dict[str, dict[str, Any]]:
        return self.data["tables"]

    def parts(self, table: str) -> list[str]:
        return [p["key"] for p in self.tables[table]["parts"]]

    def columns(self, table: str) -> list[str]:
        return self.tables[table].get("columns") or self.spec.emitted(table)

    def rows(self, table: str) -> int | None:
        """The table's recorded line count (rows, or its parts' lines); None when the manifest has neither."""
        info = self.tables[table]
        if info.get("rows") is not None:
            return info["rows"]
        lines = [p.get("lines") for p in info["parts"]]
        return None if None in lines else sum(lines)

    @property
    def total_rows(self) -> int:
        """Recorded rows over all tables (a table without a count adds nothing: see count_rows)."""
        return sum(self.rows(t) or 0 for t in self.tables)

    def to_json(self) -> bytes:
        return json.dumps(self.data, indent=2).encode()


def count_rows(storage: Storage, manifest: Manifest) -> int:
    """Rows over all tables: as recorded, or, for a table without a count, its parts' lines counted now."""
    total = 0
    for table in manifest.tables:
        rows = manifest.rows(table)
        total += rows if rows is not None else sum(scan_part(storage, k).lines for k in manifest.parts(table))
    return total


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
    """The partition's manifest, checked (ManifestError names every problem), or None if it has none."""
    key = layout.manifest_key(user, job)
    if not storage.exists(key):
        return None
    return Manifest(check(json.loads(storage.get_bytes(key)), storage.uri(key), user, job))


def write_bronze(storage: Storage, ds: DatasetStream | GeneratedDataset, user: str, job: str, anchor_rows: int,
                 compression: str = "none") -> tuple[Manifest, bool]:
    """Publish the dataset; returns (manifest, written). written is False when identical data was there.

    Blocks of tables are written as the stream yields them and the ledger is appended as it goes, so nothing holds
    the whole job: an existing identical partition is recognised before anything is generated."""
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
    ledger_rows = 0
    con = duckdb.connect()
    try:
        with storage.scratch() as tmp:
            ledger_local = tmp / "ledger.parquet"
            with pq.ParquetWriter(ledger_local, LEDGER_SCHEMA, compression="zstd") as ledger_file:
                writer, ledger_out = None, _LedgerWriter(ledger_file)
                for gen, ledger_part in ds.pieces():
                    if writer is None:
                        writer = _TableWriter(con, storage, tmp, gen.name, user, job, suffix, codec)
                    writer.add(gen)
                    ledger_out.add(ledger_part)
                    ledger_rows += ledger_part.num_rows
                    if gen.last:
                        tables[gen.name] = writer.finish(ds.spec.emitted(gen.name))
                        writer = None
                        ledger_out.flush()
                    del gen, ledger_part  # or the last block lives on while the next one is made
            ledger = {"key": layout.ledger_key(user, job), "rows": ledger_rows, "sha256": sha256_file(ledger_local)}
            ledger["bytes"] = storage.put_file(ledger["key"], ledger_local)
    finally:
        con.close()
    manifest = Manifest({
        **identity, "user": user, "job": job, "spec_name": ds.spec.name, "format": "jsonl",
        "spec": ds.spec.model_dump(mode="json"), "tables": {t: tables[t] for t in ds.spec.tables}, "ledger": ledger,
        "error_rate": ds.spec.error_rate,
    })
    storage.put_bytes(layout.manifest_key(user, job), manifest.to_json())
    return manifest, True


class _LedgerWriter:
    """The ledger in row groups of a table's entries, cut every LEDGER_GROUP_ROWS: the same file whether a table's
    entries come in one piece or block by block."""

    def __init__(self, out: pq.ParquetWriter):
        self.out, self.pending, self.rows = out, [], 0

    def add(self, part: pa.Table) -> None:
        self.pending.append(part)
        self.rows += part.num_rows
        if self.rows >= LEDGER_GROUP_ROWS:
            whole = pa.concat_tables(self.pending)
            cut = self.rows - self.rows % LEDGER_GROUP_ROWS
            self._write(whole.slice(0, cut))
            self.pending, self.rows = [whole.slice(cut)], self.rows - cut

    def flush(self) -> None:
        if self.rows:
            self._write(pa.concat_tables(self.pending))
        self.pending, self.rows = [], 0

    def _write(self, table: pa.Table) -> None:
        self.out.write_table(table.combine_chunks(), row_group_size=LEDGER_GROUP_ROWS)


class _TableWriter:
    """A table's Bronze parts, written as its blocks arrive: each block is cut into parts of ROWS_PER_PART lines."""

    def __init__(self, con: duckdb.DuckDBPyConnection, storage: Storage, tmp: Path, name: str, user: str, job: str,
                 suffix: str, codec: str):
        self.con, self.storage, self.tmp, self.name = con, storage, tmp, name
        self.user, self.job, self.suffix, self.codec = user, job, suffix, codec
        self.parts: list[dict[str, Any]] = []
        self.rows = self.clean_rows = 0

    def add(self, gen: GeneratedTable) -> None:
        bronze = bronze_columns(gen)
        self.con.register("bronze_src", bronze)
        try:
            # A table without rows still gets its one (empty) part.
            for offset in range(0, max(bronze.num_rows, 0 if self.parts else 1), ROWS_PER_PART):
                self._part(bronze, offset)
        finally:
            self.con.unregister("bronze_src")
        self.rows += bronze.num_rows
        self.clean_rows += gen.clean.num_rows

    def _part(self, bronze: pa.Table, offset: int) -> None:
        i = len(self.parts)
        local = self.tmp / f"{self.name}-{i}.{self.suffix}"
        self.con.execute(
            f"COPY (SELECT {_select_sql(bronze)} FROM bronze_src LIMIT {ROWS_PER_PART} OFFSET {offset}) "
            f"TO '{local}' (FORMAT JSON, COMPRESSION {self.codec})"
        )
        key = layout.bronze_part(self.name, self.user, self.job, i, self.suffix)
        digest = sha256_file(local)
        lines = min(ROWS_PER_PART, bronze.num_rows - offset)
        self.parts.append({"key": key, "bytes": self.storage.put_file(key, local), "sha256": digest, "lines": lines})
        local.unlink(missing_ok=True)  # a local store moves it; the others copy it

    def finish(self, columns: list[str]) -> dict[str, Any]:
        self.storage.replace_prefix(layout.bronze_prefix(self.name, self.user, self.job), [p["key"] for p in self.parts])
        return {"rows": self.rows, "clean_rows": self.clean_rows, "columns": columns, "parts": self.parts}


def read_ledger(storage: Storage, manifest: Manifest) -> pa.Table:
    if manifest.ledger is None:
        raise FileNotFoundError(f"{manifest.user}.{manifest.job} has no error ledger (Bronze not written by the "
                                "generator)")
    with storage.scratch() as tmp:
        return pq.read_table(storage.get_file(manifest.ledger["key"], tmp / "ledger.parquet"))


def ledger_kinds(storage: Storage, manifest: Manifest) -> list[dict[str, Any]]:
    """Injected errors per table and kind ({table, error_kind, row_key_count}), counted by DuckDB in the file."""
    if manifest.ledger is None:
        return []
    with storage.scratch() as tmp:
        local = storage.get_file(manifest.ledger["key"], tmp / "ledger.parquet")
        con = duckdb.connect()
        try:
            rows = con.execute("SELECT \"table\", error_kind, count(*) FROM read_parquet(?) GROUP BY ALL ORDER BY ALL",
                               [str(local)]).fetchall()
        finally:
            con.close()
    return [{"table": t, "error_kind": k, "row_key_count": n} for t, k, n in rows]


def read_bronze(con: duckdb.DuckDBPyConnection, storage: Storage, manifest: Manifest, table: str,
                verified: BronzeCheck | None = None) -> pa.Table:
    """Every column as text, plus `_bronze_row` (line order) and `_malformed` (the raw line if it is not JSON),
    as an Arrow table (see load_bronze; the DuckDB engine reads the parts itself instead).

    `verified`: the partition's checked parts (integrity.verified_bronze); without it the table is scanned here.
    """
    keys, columns = manifest.parts(table), manifest.columns(table)
    if verified is not None:
        return _fetch(con, verified.root, keys, verified.scans, columns)
    with storage.local_view(keys) as root:
        return _fetch(con, root, keys, {k: scan_file(root / k, k) for k in keys}, columns)


def _fetch(con: duckdb.DuckDBPyConnection, root: Path, keys: list[str], scans: dict[str, PartScan],
           columns: list[str]) -> pa.Table:
    name = "_bronze_read"
    reasons = load_bronze(con, root, keys, scans, columns, name)
    try:
        return with_reasons(con.sql(f"SELECT * FROM {name}").to_arrow_table(), reasons)
    finally:
        con.execute(f"DROP TABLE {name}")


def load_bronze(con: duckdb.DuckDBPyConnection, root: Path, keys: list[str], scans: dict[str, PartScan],
                columns: list[str], into: str = "bronze") -> dict[int, str]:
    """The parts into the temporary table `into` (every column as text, `_bronze_row`, `_malformed`), read by
    DuckDB where they lie; returns {_bronze_row: reason} of the lines held back before parsing (integrity.explain).

    One row per line, always. The fast JSON reader takes parts whose lines it accounts for one by one (same
    count, no over-long line, no all-empty row that might be a JSON `null`); any other part is read line by
    line (integrity.read_lines), so a broken, blank or over-long line becomes a quarantinable row.
    """
    files = [str(root / k) for k in keys]
    if not any(scans[k].long_lines for k in keys) and _load_fast(con, into, files, columns, 0,
                                                                   sum(scans[k].lines for k in keys)):
        return {}
    names = ", ".join(f'"{c}" VARCHAR' for c in columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {into} ({names}, _bronze_row BIGINT, _malformed VARCHAR)")
    reasons, offset, piece = {}, 0, f"{into}_piece"
    for key, file in zip(keys, files):
        if not scans[key].long_lines and _load_fast(con, piece, [file], columns, offset, scans[key].lines):
            con.execute(f"INSERT INTO {into} SELECT * FROM {piece}")
            con.execute(f"DROP TABLE {piece}")
        else:
            reasons.update(_load_exact(con, into, Path(file), key, columns, offset))
        offset += scans[key].lines
    return reasons


def _load_fast(con: duckdb.DuckDBPyConnection, into: str, files: list[str], columns: list[str], offset: int,
               lines: int) -> bool:
    """The files through DuckDB's JSON reader into `into`; False (and no table) if it fails or its rows do not
    match the lines one for one."""
    names = ", ".join(f'"{c}"' for c in columns)
    typed = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in columns) + "}"
    try:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {into} AS
            SELECT {names}, row_number() OVER () - 1 + {offset} AS _bronze_row, NULL::VARCHAR AS _malformed
            FROM read_json({files!r}, format='newline_delimited', columns={typed})
        """)
    except duckdb.Error:
        return False
    # It skips blank lines and reads a `null` line as a row of nulls: either way the line is not a record.
    empty = " AND ".join(f'"{c}" IS NULL' for c in columns) or "false"
    rows, all_null = con.execute(f"SELECT count(*), count_if({empty}) FROM {into}").fetchall()[0]
    if rows != lines or all_null:
        con.execute(f"DROP TABLE {into}")
        return False
    return True


def _load_exact(con: duckdb.DuckDBPyConnection, into: str, path: Path, key: str, columns: list[str],
                offset: int) -> dict[int, str]:
    """Line by line: each line is parsed in SQL as a JSON object, or kept (truncated if huge) as `_malformed`."""
    struct = "{" + ", ".join(f'"{c}": "JSON"' for c in columns) + "}"
    fields = ", ".join(
        f"CASE WHEN json_type(doc.\"{c}\") = 'VARCHAR' THEN doc.\"{c}\"->>'$' ELSE doc.\"{c}\"::VARCHAR END AS \"{c}\""
        for c in columns
    )
    reasons = {}
    for texts, held in read_lines(path, key):
        rows = pa.array(range(offset, offset + len(texts)), pa.int64())
        batch = pa.table({"line": pa.array(texts, pa.string()), "_bronze_row": rows,
                          "_held": pa.array([i in held for i in range(len(texts))], pa.bool_())})
        reasons.update({offset + i: reason for i, reason in held.items()})
        offset += len(texts)
        con.register("bronze_lines", batch)
        try:
            con.execute(f"""
                INSERT INTO {into}
                WITH parsed AS (
                    SELECT _bronze_row, line,
                           CASE WHEN NOT _held AND json_valid(line) AND json_type(line::JSON) = 'OBJECT'
                                THEN json_transform(line, '{struct}') END AS doc
                    FROM bronze_lines
                )
                SELECT {fields}, _bronze_row, CASE WHEN doc IS NULL THEN line END AS _malformed FROM parsed
                ORDER BY _bronze_row
            """)
        finally:
            con.unregister("bronze_lines")
    return reasons
