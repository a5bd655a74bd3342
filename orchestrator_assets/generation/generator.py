"""Turn a dataset spec into clean tables, their dirty Bronze rendering and the error ledger."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
from .values import Context, apply_case, generate_column, rng_for

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
    name: str
    clean: pa.Table  # one row per entity, typed, canonical values
    dirty: dict[str, tuple[np.ndarray, Dirty]] = field(default_factory=dict)  # column -> (rows, dirty)
    duplicates: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # rows re-sent at the end
    near: dict[str, tuple[np.ndarray, pa.Array]] = field(default_factory=dict)  # column -> (dup rows, text)

    @property
    def bronze_rows(self) -> int:
        return self.clean.num_rows + len(self.duplicates)


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
    """The dataset one table at a time: a table's columns are dropped once it is yielded and no later column
    reads them, so memory holds the table being written plus the columns other tables look up, not the job.
    Every column draws from its own random stream, so the data equal what `generate` returns."""
    spec: DatasetSpec
    anchor_rows: int
    seed: int
    user: str
    job: str

    def pieces(self) -> Iterator[tuple[GeneratedTable, pa.Table]]:
        return _generate(self.spec, self.anchor_rows, self.seed, self.user, self.job)


def root_seed(spec: DatasetSpec, seed: int, user: str, job: str) -> int:
    material = f"{spec.digest()}|{seed}|{user}|{job}".encode()
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "little")


def row_counts(spec: DatasetSpec, anchor_rows: int, root: int) -> tuple[dict[str, int], dict[str, tuple[str, np.ndarray]]]:
    children: dict[str, tuple[str, np.ndarray]] = {}

    def draw(name: str, rows: Rows, parents: int) -> int:
        rng = rng_for(root, name, "__rows__")
        per_parent = rng.integers(rows.min_children, rows.max_children + 1, parents)
        children[name] = (rows.via, np.repeat(np.arange(parents), per_parent))
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
    tables, ledgers = {}, []
    for gen, ledger in stream(spec, anchor_rows, seed, user, job).pieces():
        tables[gen.name] = gen
        ledgers.append(ledger)
    ledger = pa.concat_tables([pa.Table.from_batches([], LEDGER_SCHEMA), *ledgers]).combine_chunks()
    return GeneratedDataset(spec, seed, tables, ledger)


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
    readers: dict[tuple[str, str], int] = {}  # column -> columns not yet made that read it
    for need in deps.values():
        for key in need:
            readers[key] = readers.get(key, 0) + 1
    left = {t: len(tb.columns) for t, tb in spec.tables.items()}
    yielded: set[str] = set()

    def release(key: tuple[str, str]) -> None:
        if key[0] in yielded and not readers.get(key):
            ctx.values.pop(key, None)

    for tname, cname in order:
        col = spec.tables[tname].columns[cname]
        values = generate_column(tname, cname, col, ctx, rng_for(root, tname, cname))
        if col.type in (ColumnType.string, ColumnType.enum) and col.case in ("lower", "upper", "title"):
            values = apply_case(values, col.case)
        ctx.values[(tname, cname)] = values
        for key in deps[(tname, cname)]:
            readers[key] -= 1
            release(key)
        left[tname] -= 1
        if left[tname]:
            continue
        gen = GeneratedTable(tname, pa.table({c: ctx.values[(tname, c)] for c in spec.emitted(tname)}))
        ledger = _inject(spec, gen, ctx, rng_for(root, tname, "__errors__"))
        yielded.add(tname)
        for c in spec.tables[tname].columns:
            release((tname, c))
        yield gen, ledger


def _candidates(spec: DatasetSpec, tname: str) -> list[tuple[str, ErrorKind, float]]:
    table = spec.tables[tname]
    out = []
    for cname, col in table.columns.items():
        if col.emit and col.errors and col.error_weight > 0:
            out += [(cname, kind, col.error_weight / len(col.errors)) for kind in col.errors]
    out += [(ROW_LEVEL, ErrorKind(kind), 1.0) for kind in table.row_errors]
    return out


def _inject(spec: DatasetSpec, gen: GeneratedTable, ctx: Context, rng: np.random.Generator) -> pa.Table:
    table = spec.tables[gen.name]
    n = gen.clean.num_rows
    cands = _candidates(spec, gen.name)
    rate = spec.error_rate if table.error_rate is None else table.error_rate
    n_dirty = round(rate * n)
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
        parts.append(_ledger_part(gen.name, keys.take(pa.array(idx)), cname, kind.value, clean_text, dirty.text, idx,
                                  expected))
    if dup_rows:
        parts.append(_duplicates(spec, gen, np.concatenate(dup_rows), np.concatenate(dup_kinds), keys, rng))
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


def _duplicates(spec, gen: GeneratedTable, src_rows: np.ndarray, kinds: np.ndarray, keys, rng) -> pa.Table:
    """Re-send chosen rows at the end of the table; near duplicates are older versions."""
    table = spec.tables[gen.name]
    order = np.argsort(src_rows, kind="stable")
    src_rows, kinds = src_rows[order], kinds[order]
    gen.duplicates = src_rows
    dup_pos = np.arange(len(src_rows)) + gen.clean.num_rows
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
            values = pa.concat_arrays([values, values.take(pa.array(gen.duplicates))])
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
