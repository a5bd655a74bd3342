"""Turn a dataset spec into clean tables, their dirty Bronze rendering and the error ledger."""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .blocks import Blocks, block_rng, spans
from .dirty import Dirty, as_text, corrupt, eligible, expected_text
from .sizing import check_size, resolve_rows
from .spec import (
    _PLACEHOLDER,
    After,
    Aggregate,
    ColumnType,
    DatasetSpec,
    ErrorKind,
    Expr,
    ForeignKey,
    Lookup,
    Rows,
    SpecError,
    Template,
    expr_columns,
)
from .values import Context, rng_for

LEDGER_SCHEMA = pa.schema([
    ("table", pa.string()), ("row_key", pa.int64()), ("column", pa.string()), ("error_kind", pa.string()),
    ("clean_value", pa.string()), ("dirty_value", pa.string()), ("bronze_row", pa.int64()),
    # What Silver should hold: the clean value, except for kinds whose right repair differs from it (date_only:
    # the date at midnight) and null for kinds that have no right repair (email_dots: null or quarantine).
    ("expected_value", pa.string()),
])
ROW_LEVEL = "*"


@dataclass
class GeneratedTable:
    """A table, or one block of it: `clean` holds rows start .. start + len of a table of `table_rows` rows."""
    name: str
    clean: pa.Table  # one row per entity, typed, canonical values
    dirty: dict[str, tuple[np.ndarray, Dirty]] = field(default_factory=dict)  # column -> (rows of clean, dirty)
    # Rows re-sent after the clean ones (rows of the whole table); a stream's last block carries the table's.
    duplicates: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    near: dict[str, tuple[np.ndarray, pa.Array]] = field(default_factory=dict)  # column -> (dup rows, text)
    start: int = 0
    table_rows: int | None = None  # None: clean is the whole table
    resent: pa.Table | None = None  # clean values of `duplicates` when they are not all in `clean`

    @property
    def bronze_rows(self) -> int:
        return self.clean.num_rows + len(self.duplicates)

    @property
    def last(self) -> bool:
        """Whether this piece ends its table."""
        return self.table_rows is None or self.start + self.clean.num_rows >= self.table_rows


@dataclass
class GeneratedDataset:
    spec: DatasetSpec
    seed: int
    tables: dict[str, GeneratedTable]  # in the order the tables were completed
    ledger: pa.Table

    def rows(self) -> dict[str, int]:
        return {name: t.bronze_rows for name, t in self.tables.items()}

    def pieces(self) -> Iterator[tuple[GeneratedTable, pa.Table]]:
        """Each table with its part of the ledger, in the order a DatasetStream yields them."""
        names = self.ledger.column("table")
        for name, gen in self.tables.items():
            yield gen, self.ledger.filter(pc.equal(names, name))


@dataclass
class DatasetStream:
    """The dataset one block of a table at a time (generation/blocks.py): memory holds the block being made plus
    the columns other tables look up, not the job. Every column of every block draws from its own random stream,
    so the data equal what `generate` returns."""
    spec: DatasetSpec
    anchor_rows: int
    seed: int
    user: str
    job: str

    def pieces(self) -> Iterator[tuple[GeneratedTable, pa.Table]]:
        """Each block of each table with its part of the ledger; a table's blocks come in order, one table after
        another, and the last block of a table carries the rows re-sent at its end."""
        return _generate(self.spec, self.anchor_rows, self.seed, self.user, self.job)


def root_seed(spec: DatasetSpec, seed: int, user: str, job: str) -> int:
    material = f"{spec.digest()}|{seed}|{user}|{job}".encode()
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "little")


def row_counts(spec: DatasetSpec, anchor_rows: int, root: int) -> tuple[dict[str, int], dict[str, tuple[str, np.ndarray]]]:
    """Rows per table, and for children_of tables (via column, children up to and including each parent)."""
    children: dict[str, tuple[str, np.ndarray]] = {}

    def draw(name: str, rows: Rows, parents: int) -> int:
        rng = rng_for(root, name, "__rows__")
        per_parent = rng.integers(rows.min_children, rows.max_children + 1, parents)
        children[name] = (rows.via, np.cumsum(per_parent))
        return int(per_parent.sum())

    return resolve_rows(spec, anchor_rows, draw), children


def _column_order(spec: DatasetSpec) -> tuple[list[tuple[str, str]], dict[tuple[str, str], set]]:
    deps: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for tname, table in spec.tables.items():
        for cname, col in table.columns.items():
            src, need = col.source, set()
            if isinstance(src, Lookup):
                parent = table.columns[src.via].source.table  # type: ignore[union-attr]
                need |= {(tname, src.via), (parent, src.column)}
            elif isinstance(src, After):
                need.add((tname, src.column))
            elif isinstance(src, Expr):
                need |= {(tname, c) for c in expr_columns(src.expr)}
            elif isinstance(src, Aggregate):
                need |= {(src.table, src.via)} | {(src.table, c) for c in expr_columns(src.expr)}
            elif isinstance(src, Template):
                need |= {(tname, c) for c in _PLACEHOLDER.findall(src.template)}
            deps[(tname, cname)] = need
    order, done = [], set()
    while len(order) < len(deps):
        ready = sorted(k for k, need in deps.items() if k not in done and need <= done)
        if not ready:
            stuck = sorted(f"{t}.{c}" for t, c in deps if (t, c) not in done)
            raise SpecError(f"columns depend on each other in a cycle: {stuck}")
        order.extend(ready)
        done.update(ready)
    return order, deps


def stream(spec: DatasetSpec, anchor_rows: int, seed: int, user: str, job: str) -> DatasetStream:
    """The dataset as a stream of tables (write_bronze consumes it); the size is checked before anything is made."""
    if anchor_rows < 1:
        raise ValueError("anchor_rows must be at least 1")
    check_size(spec, anchor_rows)
    return DatasetStream(spec, anchor_rows, seed, user, job)


def generate(spec: DatasetSpec, anchor_rows: int, seed: int, user: str, job: str) -> GeneratedDataset:
    """The whole dataset in memory (tests, small jobs); Bronze is written from `stream`."""
    tables: dict[str, list[GeneratedTable]] = {}
    ledgers = []
    for gen, ledger in stream(spec, anchor_rows, seed, user, job).pieces():
        tables.setdefault(gen.name, []).append(gen)
        ledgers.append(ledger)
    ledger = pa.concat_tables([pa.Table.from_batches([], LEDGER_SCHEMA), *ledgers]).combine_chunks()
    return GeneratedDataset(spec, seed, {name: _joined(blocks) for name, blocks in tables.items()}, ledger)


def _joined(blocks: list[GeneratedTable]) -> GeneratedTable:
    """A table's blocks as one table."""
    if len(blocks) == 1:
        return dataclasses.replace(blocks[0], table_rows=None, resent=None)
    whole = GeneratedTable(blocks[0].name, pa.concat_tables([b.clean for b in blocks]).combine_chunks(),
                           duplicates=blocks[-1].duplicates, near=blocks[-1].near)
    for b in blocks:
        for cname, (idx, dirty) in b.dirty.items():
            _merge(whole.dirty, cname, idx + b.start, dirty)
    return whole


def _generate(spec: DatasetSpec, anchor_rows: int, seed: int, user: str,
              job: str) -> Iterator[tuple[GeneratedTable, pa.Table]]:
    root = root_seed(spec, seed, user, job)
    counts, children = row_counts(spec, anchor_rows, root)
    fk_parents = {
        (t, c): col.source.table
        for t, table in spec.tables.items() for c, col in table.columns.items() if isinstance(col.source, ForeignKey)
    }
    ctx = Context(counts, {}, {t: tb.columns[tb.primary_key].source.start for t, tb in spec.tables.items()},
                  children, fk_parents, spec.default_phone_region)
    order, deps = _column_order(spec)
    blocks = Blocks(spec, root, ctx, order, deps)
    # The steps in column order: make a shared column whole, or write a table once all its columns can be made.
    steps: list[tuple[str, str | None, set]] = []
    made: set[tuple[str, str]] = set()
    left = {t: len(tb.columns) for t, tb in spec.tables.items()}
    for tname, cname in order:
        if (tname, cname) in blocks.shared:
            steps.append((tname, cname, blocks.reads_to_make(tname, cname, made)))
            made.add((tname, cname))
        left[tname] -= 1
        if not left[tname]:
            steps.append((tname, None, blocks.reads(tname, spec.emitted(tname), made)))
    readers: dict[tuple[str, str], int] = dict.fromkeys(made, 0)  # shared column -> steps still to read it
    for *_, reads in steps:
        for key in reads:
            readers[key] += 1
    for tname, cname, reads in steps:
        if cname is not None:
            blocks.make_shared(tname, cname)
        else:
            yield from _table(spec, blocks, tname)
        for key in reads | ({(tname, cname)} if cname else set()):
            readers[key] -= key in reads
            if not readers[key]:
                ctx.values.pop(key, None)  # type: ignore[attr-defined]


def _table(spec: DatasetSpec, blocks: Blocks, tname: str) -> Iterator[tuple[GeneratedTable, pa.Table]]:
    """The table block by block with each block's errors; duplicates are re-sent after the last block."""
    ctx, table, rows = blocks.ctx, spec.tables[tname], blocks.ctx.rows[tname]
    rate = spec.error_rate if table.error_rate is None else table.error_rate
    emitted = spec.emitted(tname)
    tail: list[GeneratedTable] = []  # each block's re-sent rows
    resent = 0
    for b, first, n in spans(rows):
        values = blocks.block(tname, b, first, n, emitted)
        gen = GeneratedTable(tname, pa.table({c: values.column(tname, c) for c in emitted}), start=first,
                             table_rows=rows)
        # Cumulative rounding: the table as a whole gets round(rate * rows) dirty rows, whatever its blocks.
        n_dirty = round(rate * (first + n)) - round(rate * first)
        ledger = _inject(spec, gen, ctx, block_rng(blocks.root, tname, "__errors__", b), n_dirty, rows + resent)
        del values
        if len(gen.duplicates):
            tail.append(GeneratedTable(tname, gen.clean.take(pa.array(gen.duplicates)), duplicates=gen.duplicates + first,
                                       near=gen.near))
            resent += len(gen.duplicates)
            gen.duplicates, gen.near = np.empty(0, np.int64), {}
        if gen.last and tail:
            _attach(gen, tail)
        yield gen, ledger


def _attach(gen: GeneratedTable, tail: list[GeneratedTable]) -> None:
    """Give the last block the rows re-sent at the end of the table."""
    gen.duplicates = np.concatenate([t.duplicates for t in tail])
    gen.resent = pa.concat_tables([t.clean for t in tail])
    offset = 0
    for t in tail:
        for cname, (rows, text) in t.near.items():
            if cname in gen.near:
                old_rows, old_text = gen.near[cname]
                rows, text = np.concatenate([old_rows, rows + offset]), pa.concat_arrays([old_text, text])
            else:
                rows = rows + offset
            gen.near[cname] = (rows, text)
        offset += len(t.duplicates)


def _candidates(spec: DatasetSpec, tname: str) -> list[tuple[str, ErrorKind, float]]:
    table = spec.tables[tname]
    out = []
    for cname, col in table.columns.items():
        if col.emit and col.errors and col.error_weight > 0:
            out += [(cname, kind, col.error_weight / len(col.errors)) for kind in col.errors]
    out += [(ROW_LEVEL, ErrorKind(kind), 1.0) for kind in table.row_errors]
    return out


def _inject(spec: DatasetSpec, gen: GeneratedTable, ctx: Context, rng: np.random.Generator, n_dirty: int,
            tail_at: int) -> pa.Table:
    """Put `n_dirty` rows' errors into the block `gen`; its duplicates are re-sent from Bronze row `tail_at` on."""
    table = spec.tables[gen.name]
    n = gen.clean.num_rows
    cands = _candidates(spec, gen.name)
    if not cands or n_dirty == 0:
        return pa.Table.from_batches([], LEDGER_SCHEMA)
    rows = np.sort(rng.choice(n, n_dirty, replace=False))
    weights = np.array([w for *_, w in cands])
    assigned = rng.choice(len(cands), n_dirty, p=weights / weights.sum())
    keys = gen.clean.column(table.primary_key).combine_chunks()
    parts, dup_rows, dup_kinds = [], [], []
    free = np.ones(n, bool)
    free[rows] = False
    for i, (cname, kind, _) in enumerate(cands):
        idx = rows[assigned == i]
        if cname != ROW_LEVEL:
            idx = _retarget(gen.clean.column(cname).combine_chunks(), kind, idx, free, rng)
        if cname == ROW_LEVEL:
            dup_rows.append(idx)
            dup_kinds.append(np.full(len(idx), kind.value, dtype=object))
            continue
        col = table.columns[cname]
        clean = gen.clean.column(cname).combine_chunks().take(pa.array(idx))
        keep = pc.is_valid(clean).to_numpy(zero_copy_only=False)
        idx, clean = idx[keep], clean.filter(pa.array(keep))
        orphan_from = 0
        if kind == ErrorKind.orphan_fk:
            parent = col.source.table  # type: ignore[union-attr]
            orphan_from = ctx.key_start[parent] + ctx.rows[parent] - 1
        dirty = corrupt(kind, clean, col, rng, orphan_from, region=col.region or spec.default_phone_region,
                        locale=col.locale or spec.locale)
        clean_text = as_text(clean, col.type)
        # Numbers are clean as raw JSON, so a quoted "59.99" is dirty even though the text matches.
        clean_raw = col.type in (ColumnType.id, ColumnType.int, ColumnType.float)
        changed = (dirty.raw != clean_raw) | ~pc.equal(dirty.text, clean_text).to_numpy(zero_copy_only=False)
        idx, dirty = idx[changed], Dirty(dirty.text.filter(pa.array(changed)), dirty.raw[changed])
        expected = expected_text(kind, clean.filter(pa.array(changed)), clean_text.filter(pa.array(changed)))
        clean_text = clean_text.filter(pa.array(changed))
        _merge(gen.dirty, cname, idx, dirty)
        parts.append(_ledger_part(gen.name, keys.take(pa.array(idx)), cname, kind.value, clean_text, dirty.text,
                                  idx + gen.start, expected))
    if dup_rows:
        parts.append(_duplicates(spec, gen, np.concatenate(dup_rows), np.concatenate(dup_kinds), keys, rng, tail_at))
    return pa.concat_tables(parts)


def _retarget(values: pa.Array, kind: ErrorKind, idx: np.ndarray, free: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
    """Rows for a kind that needs something of the value (a value at all; idn_email: an IDN domain): rows drawn
    for it that cannot show it swap with rows that can and carry no error yet, so the error rate holds."""
    def showable(arr: pa.Array) -> np.ndarray:
        ok = pc.is_valid(arr).to_numpy(zero_copy_only=False)
        extra = eligible(kind, arr)
        return ok if extra is None else ok & extra

    ok = showable(values.take(pa.array(idx)))
    if ok.all():
        return idx
    spare = np.flatnonzero(showable(values) & free)
    swap = rng.choice(spare, min(len(spare), int((~ok).sum())), replace=False) if len(spare) else spare
    free[swap] = False
    free[idx[~ok]] = True
    return np.sort(np.concatenate([idx[ok], swap]))


def _merge(store: dict, column: str, idx: np.ndarray, dirty: Dirty) -> None:
    if column in store:
        old_idx, old = store[column]
        idx = np.concatenate([old_idx, idx])
        dirty = Dirty(pa.concat_arrays([old.text, dirty.text]), np.concatenate([old.raw, dirty.raw]))
    store[column] = (idx, dirty)


def _ledger_part(table, keys, column, kinds: str | list[str], clean_text, dirty_text, bronze_rows,
                 expected=None) -> pa.Table:
    n = len(keys)
    return pa.table({
        "table": pa.array([table] * n, pa.string()), "row_key": keys, "column": pa.array([column] * n, pa.string()),
        "error_kind": pa.array([kinds] * n if isinstance(kinds, str) else kinds, pa.string()),
        "clean_value": clean_text.cast(pa.string()),
        "dirty_value": dirty_text.cast(pa.string()), "bronze_row": pa.array(bronze_rows, pa.int64()),
        "expected_value": (clean_text if expected is None else expected).cast(pa.string()),
    }, schema=LEDGER_SCHEMA)


def _duplicates(spec, gen: GeneratedTable, src_rows: np.ndarray, kinds: np.ndarray, keys, rng, tail_at: int) -> pa.Table:
    """Re-send chosen rows of the block at the end of the table, from Bronze row `tail_at` on; near duplicates are
    older versions."""
    table = spec.tables[gen.name]
    order = np.argsort(src_rows, kind="stable")
    src_rows, kinds = src_rows[order], kinds[order]
    gen.duplicates = src_rows
    dup_pos = np.arange(len(src_rows)) + tail_at
    dirty_text = pa.nulls(len(src_rows), pa.string())
    near = kinds == ErrorKind.near_duplicate.value
    if near.any():
        near_rows = np.flatnonzero(near)
        stamp = gen.clean.column(table.updated_at).combine_chunks().take(pa.array(src_rows[near]))
        secs = stamp.cast(pa.int64()).to_numpy(zero_copy_only=False) - rng.integers(3600, 90 * 86400, len(near_rows))
        stale = as_text(pa.array(secs.astype("datetime64[s]"), pa.timestamp("s")), ColumnType.timestamp)
        gen.near[table.updated_at] = (near_rows, stale)
        dirty_text = _scatter(len(src_rows), near_rows, stale)
    return _ledger_part(gen.name, keys.take(pa.array(src_rows)), ROW_LEVEL, kinds.tolist(),
                        pa.nulls(len(src_rows), pa.string()), dirty_text, dup_pos)


def _scatter(n: int, idx: np.ndarray, values: pa.Array) -> pa.Array:
    pos = np.full(n, -1, np.int64)
    pos[idx] = np.arange(len(idx))
    return values.take(pa.array(pos, mask=pos < 0))


def bronze_columns(gen: GeneratedTable) -> pa.Table:
    """Clean columns plus, where errors exist, `<col>__dirty` text and `<col>__raw` flags, duplicates appended."""
    n = gen.clean.num_rows
    base = gen.clean
    out = {}
    total = gen.bronze_rows
    for cname in base.column_names:
        values = base.column(cname).combine_chunks()
        if len(gen.duplicates):
            again = (values.take(pa.array(gen.duplicates)) if gen.resent is None
                     else gen.resent.column(cname).combine_chunks())
            values = pa.concat_arrays([values, again])
        out[cname] = values
        if cname in gen.dirty or cname in gen.near:
            idx, dirty = gen.dirty.get(cname, (np.empty(0, np.int64), Dirty(pa.array([], pa.string()), np.empty(0, bool))))
            if cname in gen.near:
                near_rows, stale = gen.near[cname]
                idx = np.concatenate([idx, near_rows + n])
                dirty = Dirty(pa.concat_arrays([dirty.text, stale]), np.concatenate([dirty.raw, np.zeros(len(near_rows), bool)]))
            out[f"{cname}__dirty"] = _scatter(total, idx, dirty.text)
            raw = np.zeros(total, bool)
            raw[idx] = dirty.raw
            out[f"{cname}__raw"] = pa.array(raw)
    return pa.table(out)
