"""Bronze integrity: each part is what its manifest says, and each of its lines becomes a row.

One streaming pass per part gives its size, SHA-256 and line count and spots lines too long to parse; the
Silver step runs it before it cleans anything (`verified_bronze`), so an edited or truncated part fails the step
by name instead of reaching Silver. `read_lines` is the exact reader for parts the fast JSON reader cannot
account for: every line, blank, broken or huge, comes out as one row, in bounded memory.
"""
from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..storage.base import CHUNK, ObjectNotFound, Storage

if TYPE_CHECKING:
    from .bronze import Manifest

# Lines longer than this are quarantined without being parsed, and never held whole in memory.
LINE_LIMIT = 16 << 20
# How much of such a line the quarantine keeps (in `_malformed`); its length and SHA-256 go in the reason.
KEEP = 64 << 10
# A line within a piece is shorter than the piece: the scan only measures lines that span pieces.
assert CHUNK <= LINE_LIMIT
REASONS_KEY = b"orchestrator.line_reasons"


class BronzeIntegrityError(ValueError):
    """Bronze differs from its manifest, or a reader lost lines; nothing was written."""


@dataclass(frozen=True)
class PartScan:
    key: str
    bytes: int
    sha256: str
    lines: int
    long_lines: int  # lines over LINE_LIMIT


def _pieces(chunks: Iterable[bytes], gzipped: bool, key: str) -> Iterator[bytes]:
    """The part's text in pieces of at most CHUNK bytes (decompressed if gzipped)."""
    if not gzipped:
        for chunk in chunks:
            for i in range(0, len(chunk), CHUNK):
                yield chunk[i:i + CHUNK] if len(chunk) > CHUNK else chunk
        return
    inflate, fed = zlib.decompressobj(wbits=31), False
    for chunk in chunks:
        data, pending = chunk, False
        while data or pending:
            fed = fed or bool(data)
            out = inflate.decompress(data, CHUNK)
            if out:
                yield out
            if inflate.eof:  # a concatenated gzip file holds several members
                data, pending = inflate.unused_data, False
                inflate, fed = zlib.decompressobj(wbits=31), False
            else:  # the size cap may hold back output as well as input
                data, pending = inflate.unconsumed_tail, len(out) == CHUNK
    if fed and not inflate.eof:
        raise BronzeIntegrityError(f"Bronze part {key} ends in the middle of its gzip stream")


def _hashed(chunks: Iterable[bytes], digest, size: list[int]) -> Iterator[bytes]:
    for chunk in chunks:
        digest.update(chunk)
        size[0] += len(chunk)
        yield chunk


def scan_part(storage: Storage, key: str) -> PartScan:
    """Size and SHA-256 of the stored bytes, and line count of the text, in one streamed pass."""
    try:
        return _scan(storage.iter_chunks(key), key)
    except ObjectNotFound:
        raise BronzeIntegrityError(f"Bronze part {key} is listed in the manifest but missing from storage") from None


def scan_file(path: Path, key: str) -> PartScan:
    """The same, of a local copy of the part."""
    return _scan(file_chunks(path), key)


def _scan(chunks: Iterable[bytes], key: str) -> PartScan:
    digest, size = hashlib.sha256(), [0]
    lines = long_lines = run = 0  # run: bytes since the last newline
    try:
        for piece in _pieces(_hashed(chunks, digest, size), key.endswith(".gz"), key):
            newlines = piece.count(b"\n")
            if not newlines:
                run += len(piece)
                continue
            long_lines += run + piece.index(b"\n") > LINE_LIMIT
            run = len(piece) - piece.rindex(b"\n") - 1
            lines += newlines
    except zlib.error as err:
        raise BronzeIntegrityError(f"Bronze part {key} is not a readable gzip file ({err})") from None
    if run:  # a last line without a newline is a line too
        lines += 1
        long_lines += run > LINE_LIMIT
    return PartScan(key, size[0], digest.hexdigest(), lines, long_lines)


@dataclass
class BronzeCheck:
    """The verified parts of one partition, where they can be read, for the reader and the row count checks."""
    root: Path  # each part at root/<key>
    scans: dict[str, PartScan] = field(default_factory=dict)
    unverified: dict[str, list[str]] = field(default_factory=dict)  # table -> parts without a recorded SHA-256
    table_lines: dict[str, int] = field(default_factory=dict)

    def reconcile(self, table: str, what: str, rows: int) -> None:
        """Fail loudly unless `rows` accounts for every verified line of the table."""
        lines = self.table_lines[table]
        if rows != lines:
            raise BronzeIntegrityError(
                f"{table}: {what} is {rows:,} rows, but its Bronze parts hold {lines:,} lines; "
                "no line may be lost, so Silver was not written")

    def report(self, table: str) -> dict[str, Any]:
        out: dict[str, Any] = {"bronze_lines": self.table_lines[table]}
        if self.unverified.get(table):
            out["bronze_unverified_parts"] = self.unverified[table]
        return out


@contextmanager
def verified_bronze(storage: Storage, manifest: Manifest) -> Iterator[BronzeCheck]:
    """Every part's size, SHA-256 and line count checked against the manifest; raises naming each mismatch.

    The parts are checked where they are then read (a cloud backend's local copy), so the bytes cleaned are
    the bytes verified, and a cloud part is downloaded once.
    """
    keys = [k for table in manifest.tables for k in manifest.parts(table)]
    missing = [k for k in keys if not storage.exists(k)]
    if missing:
        _refuse(manifest, [f"Bronze part {k} is listed in the manifest but missing from storage" for k in missing])
    with storage.local_view(keys) as root:
        check = BronzeCheck(root)
        problems = []
        for table, info in manifest.tables.items():
            lines = 0
            for part in info["parts"]:
                try:
                    scan = scan_file(root / part["key"], part["key"])
                except BronzeIntegrityError as err:
                    problems.append(str(err))
                    continue
                check.scans[scan.key] = scan
                lines += scan.lines
                problem = _compare(part, scan)
                if problem:
                    problems.append(problem)
                if part.get("sha256") is None:
                    check.unverified.setdefault(table, []).append(scan.key)
            check.table_lines[table] = lines
            recorded = info.get("rows")
            if recorded is not None and lines != recorded and any(p.get("lines") is None for p in info["parts"]):
                # Without per-part line counts (old or hand-written manifests) the table's row count, when
                # recorded, is the reference; with neither, the lines counted here are.
                problems.append(f"Bronze table {table}: the manifest records {recorded:,} rows, "
                                f"its parts hold {lines:,} lines")
        if problems:
            _refuse(manifest, problems)
        yield check


def _compare(part: dict[str, Any], scan: PartScan) -> str | None:
    size, sha256 = part.get("bytes"), part.get("sha256")
    if (size is not None and size != scan.bytes) or sha256 not in (None, scan.sha256):
        return (f"Bronze part {scan.key}: the manifest records {_describe(size, sha256)}, "
                f"storage holds {_describe(scan.bytes, scan.sha256)}")
    if part.get("lines") not in (None, scan.lines):
        return f"Bronze part {scan.key}: the manifest records {part['lines']:,} lines, the part holds {scan.lines:,}"
    return None


def _refuse(manifest: Manifest, problems: list[str]) -> None:
    user, job = manifest.user, manifest.job
    raise BronzeIntegrityError(
        "Bronze does not match its manifest, so Silver was not written (the previous Silver is unchanged):\n  "
        + "\n  ".join(problems)
        + f"\nIf Bronze was changed on purpose, record it with: orchestrator bronze reseal --user {user} --job {job}")


def _describe(size: int | None, sha256: str | None) -> str:
    return f"{'?' if size is None else f'{size:,}'} bytes, sha256 {sha256 or 'not recorded'}"


@dataclass
class Line:
    text: str
    reason: str | None = None  # set: the line is quarantined as it is (or its first KEEP bytes), for this reason


def _lines(pieces: Iterable[bytes], where: str) -> Iterator[Line]:
    """Each line of the text, without its line ending; a line over LINE_LIMIT is never joined in memory."""
    carry: list[bytes] = []
    carried = 0
    big = None  # (sha256, length, first KEEP bytes) of an over-long line being read

    def finish(tail: bytes, number: int) -> Line:
        nonlocal carry, carried, big
        if big is None and carried + len(tail) > LINE_LIMIT:
            extend(tail)
            tail = b""
        if big is not None:
            big[0].update(tail)
            digest, length, head = big
            length += len(tail)
            carry, carried, big = [], 0, None
            return Line(head.decode("utf-8", "replace"),
                        f"{where} line {number + 1:,} is {length:,} bytes, over the {LINE_LIMIT:,}-byte limit "
                        f"(sha256 {digest.hexdigest()}); _malformed keeps its first {KEEP:,} bytes")
        raw = b"".join([*carry, tail]) if carry else tail
        carry, carried = [], 0
        if raw.endswith(b"\r"):  # CRLF line endings
            raw = raw[:-1]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            return Line(raw.decode("utf-8", "backslashreplace"), f"{where} line {number + 1:,} is not UTF-8 ({err})")
        if not text.strip():
            return Line(text, f"{where} line {number + 1:,} is blank")
        return Line(text)

    def extend(data: bytes) -> None:
        nonlocal carried, big
        if big is not None:
            big[0].update(data)
            big[1] += len(data)
            return
        carry.append(data)
        carried += len(data)
        if carried > LINE_LIMIT:
            digest = hashlib.sha256()
            for held in carry:
                digest.update(held)
            big = [digest, carried, b"".join(carry[:KEEP // CHUNK + 1])[:KEEP]]
            carry.clear()

    number = 0
    for piece in pieces:
        parts = piece.split(b"\n")
        if len(parts) == 1:
            extend(piece)
            continue
        yield finish(parts[0], number)
        number += 1
        for line in parts[1:-1]:
            yield finish(line, number)
            number += 1
        if parts[-1]:
            extend(parts[-1])
    if carry or big is not None:
        yield finish(b"", number)


def file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        yield from iter(lambda: fh.read(CHUNK), b"")


def read_lines(path: Path, key: str, batch: int = 50_000) -> Iterator[tuple[list[str], dict[int, str]]]:
    """The part's lines in batches: (texts, {index in batch: reason}) for the lines quarantined as they are."""
    texts: list[str] = []
    reasons: dict[int, str] = {}
    for line in _lines(_pieces(file_chunks(path), key.endswith(".gz"), key), f"Bronze part {key}"):
        if line.reason:
            reasons[len(texts)] = line.reason
        texts.append(line.text)
        if len(texts) == batch:
            yield texts, reasons
            texts, reasons = [], {}
    if texts:
        yield texts, reasons


def with_reasons(table: pa.Table, reasons: dict[int, str]) -> pa.Table:
    """Attach {_bronze_row: reason} for lines held back before parsing; `explain` puts them in the quarantine."""
    return table.replace_schema_metadata({REASONS_KEY: json.dumps(reasons)}) if reasons else table


def explain(quarantine: pa.Table, bronze: pa.Table) -> pa.Table:
    """The quarantine with each such line's own reason (its length and hash, say) instead of the generic one."""
    meta = bronze.schema.metadata or {}
    if REASONS_KEY not in meta:
        return quarantine
    return with_line_reasons(quarantine, {int(k): v for k, v in json.loads(meta[REASONS_KEY]).items()})


def with_line_reasons(quarantine: pa.Table, reasons: dict[int, str]) -> pa.Table:
    """The same from {_bronze_row: reason}, for a quarantine written batch by batch."""
    if not reasons:
        return quarantine
    rows = quarantine.column("_bronze_row").to_pylist()
    rules = quarantine.column("_rule").to_pylist()
    old = quarantine.column("_reason").to_pylist()
    new = [reasons.get(r, o) if rule == "malformed_record" else o for r, rule, o in zip(rows, rules, old)]
    i = quarantine.schema.get_field_index("_reason")
    return quarantine.set_column(i, quarantine.schema.field(i), pa.array(new, pa.string()))
