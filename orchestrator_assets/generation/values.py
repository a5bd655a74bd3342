"""Clean column values for each kind of source, built with vectorised numpy/pyarrow.

Faker is called only to fill small value pools once per process; rows sample those pools by index,
which is what lets a million rows take well under a second.
"""
from __future__ import annotations

import ast
import functools
import operator
import re
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import limits, phones
from .spec import (
    After,
    Aggregate,
    Choice,
    Column,
    ColumnType,
    DatasetSpec,
    DatetimeRange,
    Expr,
    FakerPool,
    FloatRange,
    ForeignKey,
    IntRange,
    Lookup,
    Phone,
    Sequence,
    SpecError,
    Template,
)

TS = pa.timestamp("s")


@functools.lru_cache(maxsize=256)
def faker_pool(provider: str, locale: str, size: int, seconds: float = limits.POOL_SECONDS,
               max_chars: int = limits.POOL_VALUE_CHARS) -> pa.Array:
    """`size` values of the provider, or SpecError when one is not text or a number, is longer than
    `max_chars`, or the pool would take over `seconds` (projected from the first values: slow fails fast)."""
    from faker import Faker

    fake = Faker(locale)
    # The pool depends only on what it is, not on the job, so it can be shared and cached.
    fake.seed_instance(zlib.crc32(f"{provider}|{locale}|{size}".encode()))
    method = getattr(fake, provider, None)
    if method is None:
        raise SpecError(f"Faker has no provider '{provider}' for locale {locale}")
    values, start = [], time.monotonic()
    for i in range(size):
        value = method()
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            kind = type(value).__name__
            raise SpecError(f"Faker provider '{provider}' returned {kind}, not text or a number")
        text = str(value)
        if len(text) > max_chars:
            raise SpecError(f"Faker provider '{provider}' returned a value of {len(text):,} characters; "
                            f"the limit is {max_chars:,}")
        values.append(text)
        elapsed = time.monotonic() - start
        if elapsed > seconds or (i >= _PROJECT_AFTER and elapsed / (i + 1) * size > seconds):
            projected = elapsed / (i + 1) * size
            raise SpecError(f"Faker provider '{provider}' ({locale}) is too slow: {size:,} values would take "
                            f"about {projected:,.0f} s, over the budget of {seconds:g} s per pool; "
                            f"use a smaller pool_size")
    return pa.array(values, pa.string())


_PROJECT_AFTER = 50  # values timed before projecting a pool's build time: the first calls warm Faker up


def check_pools(spec: DatasetSpec) -> None:
    """Build every Faker pool of the spec (cached for generation), naming the column of any that fails."""
    for tname, table in spec.tables.items():
        for cname, col in table.columns.items():
            src = col.source
            if isinstance(src, FakerPool):
                try:
                    faker_pool(src.provider, src.locale, src.pool_size)
                except SpecError as err:
                    raise SpecError(f"tables.{tname}.columns.{cname}.source: {err}") from None


def rng_for(root: int, *names: str) -> np.random.Generator:
    """A generator that depends only on the root seed and the names, never on evaluation order."""
    return np.random.default_rng([root, *(zlib.crc32(n.encode()) for n in names)])


@dataclass
class Context:
    """What a column's source may read: sizes, and the already generated columns: those of the block being made
    for its own table, whole columns for the ones other tables look up."""

    rows: dict[str, int]
    values: Mapping[tuple[str, str], pa.Array]
    key_start: dict[str, int]
    children: dict[str, tuple[str, np.ndarray]]  # table -> (via column, cumulative children up to each parent)
    fk_parents: dict[tuple[str, str], str]  # (table, column) -> parent table
    default_phone_region: str = "US"
    span: tuple[int, int] | None = None  # (first row, rows) of the block being made; None: the whole table
    shared: Mapping[tuple[str, str], pa.Array] | None = None  # whole columns, when `values` holds a block

    def column(self, table: str, column: str) -> pa.Array:
        return self.values[(table, column)]

    def whole_column(self, table: str, column: str) -> pa.Array:
        """All rows of a column (a lookup reads its parent by key, whichever block it is in)."""
        return (self.values if self.shared is None else self.shared)[(table, column)]

    def block(self, table: str) -> tuple[int, int]:
        return self.span if self.span is not None else (0, self.rows[table])


def _parent_index(ctx: Context, fk: pa.Array, parent: str) -> pa.Array:
    return pc.subtract(fk, pa.scalar(ctx.key_start[parent], fk.type))


def _to_ts(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype("datetime64[s]"), TS)


def epoch_seconds(arr: pa.Array) -> np.ndarray:
    """Dates and timestamps as whole seconds since the epoch."""
    if pa.types.is_date(arr.type):
        arr = arr.cast(TS)
    return arr.cast(pa.int64()).to_numpy(zero_copy_only=False)


def _round(values: np.ndarray, decimals: int) -> np.ndarray:
    return np.round(values, decimals)


_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def evaluate(expr: str, lookup) -> np.ndarray:
    """Evaluate arithmetic over named columns; `lookup(name)` returns a float numpy array."""

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            return lookup(node.id)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "round" and 1 <= len(node.args) <= 2:
            digits = int(node.args[1].value) if len(node.args) == 2 else 0
            return np.round(walk(node.args[0]), digits)
        raise ValueError(f"unsupported expression element in {expr!r}: {ast.dump(node)[:60]}")

    return walk(ast.parse(expr, mode="eval"))


def _numeric(arr: pa.Array) -> np.ndarray:
    return arr.cast(pa.float64()).to_numpy(zero_copy_only=False)


_PLACEHOLDER = re.compile(r"({[a-z][a-z0-9_]*})")


def generate_column(table: str, name: str, col: Column, ctx: Context, rng: np.random.Generator) -> pa.Array:
    """The column's values for the rows of `ctx.block(table)`; aggregates are made by the caller (accumulate)."""
    first, n = ctx.block(table)
    src = col.source
    if isinstance(src, Sequence):
        return pa.array(np.arange(src.start + first, src.start + first + n, dtype=np.int64))
    if isinstance(src, FakerPool):
        pool = faker_pool(src.provider, src.locale, src.pool_size)
        return pool.take(pa.array(rng.integers(0, len(pool), n)))
    if isinstance(src, Choice):
        weights = None
        if src.weights:
            weights = np.asarray(src.weights, float) / float(np.sum(src.weights))
        idx = rng.choice(len(src.values), size=n, p=weights)
        values = pa.array(src.values)
        if col.type == ColumnType.enum:
            values = values.cast(pa.string())
        return values.take(pa.array(idx))
    if isinstance(src, IntRange):
        if src.distribution == "normal":
            mean = src.mean if src.mean is not None else (src.min + src.max) / 2
            sd = src.sd if src.sd is not None else (src.max - src.min) / 6
            vals = np.clip(np.rint(rng.normal(mean, sd, n)), src.min, src.max)
        else:
            vals = rng.integers(src.min, src.max + 1, n)
        return pa.array(vals.astype(np.int64))
    if isinstance(src, FloatRange):
        if src.distribution == "lognormal":
            mid = np.log(max(src.min, 1e-9) * src.max) / 2
            vals = np.clip(rng.lognormal(mid, 0.9, n), src.min, src.max)
        else:
            vals = rng.uniform(src.min, src.max, n)
        return pa.array(_round(vals, src.decimals))
    if isinstance(src, DatetimeRange):
        lo, hi = (np.datetime64(x, "s").astype(np.int64) for x in (src.start, src.end))
        secs = rng.integers(lo, hi, n)
        if col.type == ColumnType.date:
            return pa.array((secs // 86400).astype("datetime64[D]"), pa.date32())
        return _to_ts(secs)
    if isinstance(src, ForeignKey):
        return _foreign_key(table, name, src, ctx, rng)
    if isinstance(src, Lookup):
        fk = ctx.column(table, src.via)
        parent = _fk_parent(table, src.via, ctx)
        return ctx.whole_column(parent, src.column).take(_parent_index(ctx, fk, parent))
    if isinstance(src, After):
        base = epoch_seconds(ctx.column(table, src.column))
        offset = rng.uniform(src.min_hours * 3600, src.max_hours * 3600, n).astype(np.int64)
        return _to_ts(base + offset)
    if isinstance(src, Expr):
        vals = evaluate(src.expr, lambda c: _numeric(ctx.column(table, c)))
        return pa.array(_round(np.broadcast_to(vals, (n,)).astype(float), src.decimals))
    if isinstance(src, Template):
        return _template(table, src, ctx, n, email=col.type == ColumnType.email)
    if isinstance(src, Phone):
        numbers = phones.pool(phones.region_for(src.country_code, col.region, ctx.default_phone_region))
        return numbers.take(pa.array(rng.integers(0, len(numbers), n)))
    raise TypeError(f"unknown source {type(src).__name__}")


def _fk_parent(table: str, column: str, ctx: Context) -> str:
    return ctx.fk_parents[(table, column)]


def _foreign_key(table: str, name: str, src: ForeignKey, ctx: Context, rng: np.random.Generator) -> pa.Array:
    (first, n), parents, start = ctx.block(table), ctx.rows[src.table], ctx.key_start[src.table]
    child = ctx.children.get(table)
    if child and child[0] == name:
        idx = np.searchsorted(child[1], np.arange(first, first + n), side="right")
    elif src.distribution == "zipf":
        ranks = (rng.zipf(src.zipf_a, n) - 1) % parents
        idx = _popularity(parents, src.table)[ranks]
    else:
        idx = rng.integers(0, parents, n)
    keys = idx.astype(np.int64) + start
    mask = rng.random(n) < src.null_fraction if src.null_fraction else None
    return pa.array(keys, mask=mask)


@functools.lru_cache(maxsize=8)
def _popularity(parents: int, table: str) -> np.ndarray:
    """Which parent has each popularity rank: fixed per parent table, so every block of every child agrees."""
    return rng_for(parents, table, "popularity").permutation(parents)


def aggregate_start(src: Aggregate, parents: int) -> np.ndarray:
    return np.full(parents, -np.inf if src.agg == "max" else np.inf) if src.agg in ("max", "min") else np.zeros(parents)


def accumulate(out: np.ndarray, src: Aggregate, parent: str, ctx: Context) -> None:
    """Fold one block of the child table (in `ctx`) into the parents' running aggregate `out`."""
    fk = ctx.column(src.table, src.via)
    idx = _parent_index(ctx, fk, parent).to_numpy(zero_copy_only=False)
    vals = np.broadcast_to(evaluate(src.expr, lambda c: _numeric(ctx.column(src.table, c))), idx.shape)
    if not len(idx):
        return
    if src.agg in ("sum", "count"):
        lo = int(idx.min())  # a block's children mostly have neighbouring parents: add over their range only
        part = np.bincount(idx - lo, weights=vals if src.agg == "sum" else None)
        out[lo:lo + len(part)] += part
    else:
        (np.maximum if src.agg == "max" else np.minimum).at(out, idx, vals)


def aggregate_finish(out: np.ndarray, src: Aggregate) -> pa.Array:
    out[np.isinf(out)] = 0.0
    return pa.array(_round(out, src.decimals))


def _template(table: str, src: Template, ctx: Context, n: int, email: bool) -> pa.Array:
    pieces = []
    for part in _PLACEHOLDER.split(src.template):
        if not part:
            continue
        if part.startswith("{") and part.endswith("}"):
            pieces.append(pc.cast(ctx.column(table, part[1:-1]), pa.string()))
        else:
            pieces.append(part)
    if not any(isinstance(p, pa.Array) for p in pieces):
        pieces.append(pa.array([""] * n))
    out = pc.binary_join_element_wise(*pieces, "")
    if email:
        return deliverable_email(out)
    if src.lower:
        out = pc.utf8_lower(out)
    return out


# Letters that Unicode does not decompose into an ASCII base letter plus accents.
_FOLD = {"ß": "ss", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "þ": "th", "œ": "oe", "ı": "i"}


def _where(values: pa.Array, mask: pa.Array, fix) -> pa.Array:
    """`fix` applied to the masked values only: the rest need nothing and there are usually far more of them."""
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():
        return values
    return pc.replace_with_mask(values, mask, fix(values.filter(mask)))


def _fold(local: pa.Array) -> pa.Array:
    folded = pc.replace_substring_regex(pc.utf8_normalize(local, "NFKD"), r"\p{Mn}", "")
    for letter, ascii_form in _FOLD.items():
        folded = pc.replace_substring(folded, letter, ascii_form)
    return folded


def _dot_atom(local: pa.Array) -> pa.Array:
    local = pc.replace_substring_regex(local, r"[^a-z0-9._+-]", "")
    local = pc.replace_substring_regex(pc.replace_substring_regex(local, r"\.{2,}", "."), r"^\.|\.$", "")
    return pc.if_else(pc.equal(local, ""), "user", local)


def _domain(domain: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(pc.utf8_normalize(domain, "NFC"), r"[\s@'\"<>(),;:\\\[\]]", "")


def deliverable_email(text: pa.Array) -> pa.Array:
    """Addresses that email-validator accepts and whose normalised, lower-cased form is the address itself.

    The local part is folded to ASCII (José -> jose, Groß -> gross), everything but letters, digits and . _ + -
    is dropped (O'Brien -> obrien) and dots are kept to the dot rules (none doubled, none first or last). The
    domain keeps its Unicode letters, so an IDN domain such as bücher.de stays in its canonical Unicode form.
    """
    text = pc.utf8_lower(pc.utf8_trim_whitespace(text))
    has_at = pc.fill_null(pc.match_substring(text, "@"), False)
    parts = pc.split_pattern(pc.if_else(has_at, text, "@"), "@", max_splits=1, reverse=True)
    local, domain = pc.list_element(parts, 0), pc.list_element(parts, 1)
    local = _where(local, pc.invert(pc.string_is_ascii(local)), _fold)  # most names are ASCII already
    local = _where(local, pc.match_substring_regex(local, r"[^a-z0-9._+-]|\.\.|^\.|\.$"), _dot_atom)
    domain = _where(domain, pc.match_substring_regex(domain, r"[^a-z0-9.-]"), _domain)
    return pc.if_else(has_at, pc.binary_join_element_wise(local, domain, "@"), text)


def apply_case(arr: pa.Array, case: str) -> pa.Array:
    if case == "lower":
        return pc.utf8_lower(arr)
    if case == "upper":
        return pc.utf8_upper(arr)
    if case == "title":
        return pc.utf8_title(arr)
    return arr
