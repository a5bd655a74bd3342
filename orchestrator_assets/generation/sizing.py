"""How many rows and bytes a spec makes for a number of anchor rows, worked out without generating anything.

The generator resolves row counts with the same `resolve_rows`; here a children_of table counts max_children
rows per parent, so the result is an upper bound that the data never exceeds.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import limits
from .spec import DatasetSpec, Rows, SpecError


def resolve_rows(spec: DatasetSpec, anchor_rows: int,
                 children: Callable[[str, Rows, int], int]) -> dict[str, int]:
    """Rows of every table; `children(table, rows, parent_rows)` decides how many a children_of table gets."""
    counts: dict[str, int] = {spec.anchor: anchor_rows}
    pending = [t for t in spec.tables if t != spec.anchor]
    while pending:
        progressed = False
        for name in list(pending):
            rows = spec.tables[name].rows
            if rows.count is not None:
                counts[name] = rows.count
            elif rows.per is not None and rows.per in counts:
                n = max(rows.at_least, round(counts[rows.per] * rows.ratio))
                counts[name] = min(n, rows.at_most) if rows.at_most else n
            elif rows.children_of is not None and rows.children_of in counts:
                counts[name] = children(name, rows, counts[rows.children_of])
            else:
                continue
            pending.remove(name)
            progressed = True
        if not progressed:
            raise SpecError(f"row counts form a cycle between tables: {sorted(pending)}")
    return counts


def row_bounds(spec: DatasetSpec, anchor_rows: int) -> dict[str, int]:
    return resolve_rows(spec, anchor_rows, lambda _name, rows, parents: rows.max_children * parents)


def row_bytes(spec: DatasetSpec, table: str) -> int:
    """Estimated bytes of one Bronze JSON line of the table."""
    cols = spec.tables[table].columns
    return limits.ROW_OVERHEAD_BYTES + sum(
        len(name) + limits.CELL_OVERHEAD_BYTES + limits.VALUE_BYTES[cols[name].type.value]
        for name in spec.emitted(table))


@dataclass(frozen=True)
class SizePlan:
    anchor: str
    anchor_rows: int
    rows: dict[str, int]  # upper bound per table
    bytes: dict[str, int]  # estimated Bronze bytes per table

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())

    def problems(self) -> list[str]:
        out = [f"tables.{name}.rows: up to {n:,} rows for {self.anchor_rows:,} rows of {self.anchor}, over "
               f"the limit of {limits.MAX_TABLE_ROWS:,} rows per table" for name, n in self.rows.items()
               if n > limits.MAX_TABLE_ROWS]
        if self.total_bytes > limits.MAX_BRONZE_BYTES:
            out.append(f"estimated Bronze size {gib(self.total_bytes)} for {self.anchor_rows:,} rows of "
                       f"{self.anchor} is over the limit of {gib(limits.MAX_BRONZE_BYTES)}")
        return out


def bronze_rows(spec: DatasetSpec, table: str, rows: int) -> int:
    """Rows plus the duplicates row errors append (at most the table's error rate of its rows)."""
    t = spec.tables[table]
    rate = spec.error_rate if t.error_rate is None else t.error_rate
    return rows + round(rate * rows) if t.row_errors else rows


def plan(spec: DatasetSpec, anchor_rows: int) -> SizePlan:
    rows = row_bounds(spec, anchor_rows)
    return SizePlan(spec.anchor, anchor_rows, rows,
                    {t: bronze_rows(spec, t, n) * row_bytes(spec, t) for t, n in rows.items()})


def check_size(spec: DatasetSpec, anchor_rows: int, origin: str = "spec") -> SizePlan:
    """The plan, or SpecError naming every table over a limit and the largest job the spec allows."""
    sized = plan(spec, anchor_rows)
    problems = sized.problems()
    if problems:
        largest = max_anchor_rows(spec)
        hint = (f"this spec allows at most {largest:,} rows of {spec.anchor}" if largest
                else "no number of anchor rows fits; lower the counts, ratios or max_children")
        raise SpecError(f"dataset spec '{spec.name}' ({origin}) is too big:\n"
                        + "\n".join(f"  - {p}" for p in problems) + f"\n  {hint}")
    return sized


def max_anchor_rows(spec: DatasetSpec) -> int:
    """The largest anchor row count up to MAX_ROWS within every limit (0 if none); sizes grow with it."""
    lo, hi = 0, limits.MAX_ROWS
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if plan(spec, mid).problems():
            hi = mid - 1
        else:
            lo = mid
    return lo


def gib(n: int) -> str:
    """A byte count for people: 1.5 GiB, 12.0 MiB, 3.2 KiB."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n} B"
