"""Column values made in fixed-size blocks of rows, so memory is bounded by a block, not by a table.

Every column of every block draws from its own random stream, keyed by (table, column, block). The block size is
part of what defines the output, not a setting of whoever reads it: a consumer that takes the rows in other chunks
sees the same rows. Columns another table reads (a lookup's parent column, an aggregate over children) are made
whole, block by block, and kept as one array until no later step reads them; any other column lives only while
the block it belongs to is being made, and is made again (from the same stream, so equal) when a later step
needs it for that block.
"""
from __future__ import annotations

import dataclasses
from collections import ChainMap

import numpy as np
import pyarrow as pa

from .spec import Aggregate, ColumnType, DatasetSpec, Lookup, expr_columns
from .values import (
    Context,
    accumulate,
    aggregate_finish,
    aggregate_start,
    apply_case,
    generate_column,
    rng_for,
)

BLOCK_ROWS = 1_000_000

Key = tuple[str, str]  # (table, column)


def block_rng(root: int, table: str, stream: str, block: int) -> np.random.Generator:
    # Block 0 draws from the stream the whole table drew from before tables were made in blocks, so a table of up
    # to one block keeps the values it had.
    return rng_for(root, table, stream) if block == 0 else rng_for(root, table, stream, f"block {block}")


def spans(rows: int) -> list[tuple[int, int, int]]:
    """(block, first row, rows) of each block of a table; a table without rows is one empty block."""
    return [(b, first, min(BLOCK_ROWS, rows - first)) for b, first in enumerate(range(0, max(rows, 1), BLOCK_ROWS))]


class Blocks:
    """Makes blocks of a table's columns, and the shared columns whole; `ctx.values` holds the shared ones made."""

    def __init__(self, spec: DatasetSpec, root: int, ctx: Context, order: list[Key], deps: dict[Key, set[Key]]):
        self.spec, self.root, self.ctx, self.deps = spec, root, ctx, deps
        self.position = {key: i for i, key in enumerate(order)}
        self.shared: set[Key] = set()
        for tname, table in spec.tables.items():
            for cname, col in table.columns.items():
                if isinstance(col.source, Lookup):
                    self.shared.add((ctx.fk_parents[(tname, col.source.via)], col.source.column))
                elif isinstance(col.source, Aggregate):
                    self.shared.add((tname, cname))
        self.made: set[Key] = set()  # shared columns made so far (some may be released since)

    def closure(self, table: str, wanted: list[str], made: set[Key]) -> list[str]:
        """The columns of `table` a block needs for `wanted`, in the order they can be made; those in `made` are
        sliced from their whole array, so what they were made from is not needed."""
        need, todo = set(), list(wanted)
        while todo:
            c = todo.pop()
            if c not in need:
                need.add(c)
                if (table, c) not in made:
                    todo += [d for t, d in self.deps[(table, c)] if t == table]
        return sorted(need, key=lambda c: self.position[(table, c)])

    def reads(self, table: str, wanted: list[str], made: set[Key]) -> set[Key]:
        """The shared columns a block of `table` reads to make `wanted`."""
        out = set()
        for c in self.closure(table, wanted, made):
            src = self.spec.tables[table].columns[c].source
            if (table, c) in made:
                out.add((table, c))
            elif isinstance(src, Lookup):
                out.add((self.ctx.fk_parents[(table, src.via)], src.column))
        return out

    def reads_to_make(self, table: str, column: str, made: set[Key]) -> set[Key]:
        """The shared columns that making the shared column `table.column` reads."""
        src = self.spec.tables[table].columns[column].source
        if isinstance(src, Aggregate):
            return self.reads(src.table, [src.via, *expr_columns(src.expr)], made)
        return self.reads(table, [column], made)

    def block(self, table: str, block: int, first: int, rows: int, wanted: list[str]) -> Context:
        """A context whose values hold `wanted` (and what they need) for the block's rows of `table`."""
        local: dict[Key, pa.Array] = {}
        ctx = dataclasses.replace(self.ctx, values=ChainMap(local, self.ctx.values), shared=self.ctx.values,
                                  span=(first, rows))
        for c in self.closure(table, wanted, self.made):
            key = (table, c)
            if key in self.made:
                local[key] = self.ctx.values[key].slice(first, rows)
                continue
            col = self.spec.tables[table].columns[c]
            values = generate_column(table, c, col, ctx, block_rng(self.root, table, c, block))
            if col.type in (ColumnType.string, ColumnType.enum) and col.case in ("lower", "upper", "title"):
                values = apply_case(values, col.case)
            local[key] = values
        return ctx

    def make_shared(self, table: str, column: str) -> None:
        """Make a shared column whole, block by block, and keep it in `ctx.values`."""
        src = self.spec.tables[table].columns[column].source
        if isinstance(src, Aggregate):
            out = aggregate_start(src, self.ctx.rows[table])
            wanted = [src.via, *expr_columns(src.expr)]
            for b, first, rows in spans(self.ctx.rows[src.table]):
                accumulate(out, src, table, self.block(src.table, b, first, rows, wanted))
            whole = aggregate_finish(out, src)
        else:
            pieces = [self.block(table, b, first, rows, [column]).column(table, column)
                      for b, first, rows in spans(self.ctx.rows[table])]
            whole = pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces)
        self.ctx.values[(table, column)] = whole  # type: ignore[index]
        self.made.add((table, column))
