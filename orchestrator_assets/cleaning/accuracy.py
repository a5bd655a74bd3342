"""How well cleaning did, measured against the truth: the error ledger and the Bronze lines it describes.

Nothing is regenerated and no table is loaded: the comparison is SQL over the data where it lies, so the engine
that cleaned (DuckDB here, Spark SQL on a cluster) can run it too. Per table the query reads the ledger (per
errored cell: kind, clean text, expected value), the Bronze lines (the text of every cell the generator left
clean, which is the clean value itself) and the published Silver and quarantine.

Every injected error ends in one of: repaired (Silver holds the expected value: the clean value, or what
the ledger's expected_value names, e.g. midnight for a date-only timestamp), nulled (the value was
unrepairable and the column optional), quarantined (the row is held back with a reason) or missed
(Silver holds a wrong value or a duplicate survived). A kind with no right repair (expected_value null,
e.g. an e-mail that breaks the dot rules) can only be nulled or quarantined: any value Silver keeps is missed.
Clean cells that Silver changed and clean rows that were quarantined for no error of their own are counted too.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..generation.generator import ROW_LEVEL
from ..generation.spec import ColumnType, DatasetSpec, references
from .engine import SILVER_TYPES
from .sql_rules import Dialect

OUTCOMES = ("repaired", "nulled", "quarantined", "missed")
# The bar the asset check enforces; see docs/cleaning.md for why these numbers.
MAX_MISSED_RATE = 0.02
MAX_WRONGLY_CHANGED_RATE = 0.001
MAX_WRONGLY_QUARANTINED_RATE = 0.005


@dataclass
class AccuracyReport:
    kinds: dict[str, dict[str, int]] = field(default_factory=dict)
    clean_cells: int = 0
    wrongly_changed: int = 0
    clean_rows: int = 0
    wrongly_quarantined: int = 0
    quarantined_with_parent: int = 0
    nulled_with_parent: int = 0
    examples: list[dict] = field(default_factory=list)

    def add(self, kind: str, outcome: str, n: int) -> None:
        row = self.kinds.setdefault(kind, {"injected": 0, **dict.fromkeys(OUTCOMES, 0)})
        row[outcome] += int(n)
        row["injected"] += int(n)

    def missed_rate(self, kind: str) -> float:
        row = self.kinds[kind]
        return row["missed"] / row["injected"] if row["injected"] else 0.0

    def failures(self) -> list[str]:
        out = [f"{k}: {self.missed_rate(k):.2%} missed (bar {MAX_MISSED_RATE:.0%})"
               for k in sorted(self.kinds) if self.missed_rate(k) > MAX_MISSED_RATE]
        if self.clean_cells and self.wrongly_changed / self.clean_cells > MAX_WRONGLY_CHANGED_RATE:
            out.append(f"{self.wrongly_changed} clean values changed ({self.wrongly_changed / self.clean_cells:.3%}, "
                       f"bar {MAX_WRONGLY_CHANGED_RATE:.1%})")
        if self.clean_rows and self.wrongly_quarantined / self.clean_rows > MAX_WRONGLY_QUARANTINED_RATE:
            out.append(f"{self.wrongly_quarantined} clean rows quarantined without cause "
                       f"(bar {MAX_WRONGLY_QUARANTINED_RATE:.1%})")
        return out

    @classmethod
    def from_json(cls, data: dict) -> AccuracyReport:
        """From to_json's output (whose examples are the first 20)."""
        kinds = {k: {f: n for f, n in v.items() if f != "missed_rate"} for k, v in data["kinds"].items()}
        return cls(kinds, *(data[f] for f in ("clean_cells", "wrongly_changed", "clean_rows", "wrongly_quarantined",
                                              "quarantined_with_parent", "nulled_with_parent")),
                   list(data["examples"]))

    def to_json(self) -> dict:
        return {
            "kinds": {k: {**v, "missed_rate": round(self.missed_rate(k), 5)} for k, v in sorted(self.kinds.items())},
            "clean_cells": self.clean_cells, "wrongly_changed": self.wrongly_changed,
            "clean_rows": self.clean_rows, "wrongly_quarantined": self.wrongly_quarantined,
            "quarantined_with_parent": self.quarantined_with_parent, "nulled_with_parent": self.nulled_with_parent,
            "passed": not self.failures(),
            "failures": self.failures(), "examples": self.examples[:20],
        }



Run = Callable[[str], Sequence[Sequence]]  # one SQL query -> its rows
EXAMPLES_PER_COLUMN = 3


def relation(kind: str, table: str | None = None) -> str:
    """The views the queries read, which the engine running them defines:

    - `ledger`: the ledger Parquet (table, row_key, column, error_kind, ..., bronze_row, expected_value);
    - `bronze__<table>`: the table's Bronze lines, every column as text, and `_bronze_row`, the line's number in
      the table (the ledger's bronze_row);
    - `silver__<table>`: the table's published Silver, and `_silver_row`, a number that grows with the row's
      place in the file (of two rows with one key, the later one is compared);
    - `quarantine__<table>`: the table's published quarantine.
    """
    return "ledger" if kind == "ledger" else f"{kind}__{table}"


def measure(run: Run, spec: DatasetSpec, tables: Sequence[str], d: Dialect | None = None,
            buckets: Callable[[str], int] = lambda table: 1,
            prepare: Callable[[str], None] = lambda table: None) -> AccuracyReport:
    """The report for the given tables of the spec, from one aggregate query per table (plus one per column
    that changed clean values, for its first examples). Examples come in spec order: table, column, key.

    buckets: into how many parts by key a table's query is split. Each part joins only its share of the
    table's keys, so the joins' hash tables shrink with the parts; the totals are sums, so the parts add up.
    prepare: called with each table before its queries run (to define its relations then, not all at once).
    """
    d = d or Dialect()
    report = AccuracyReport()
    kinds: dict[str, dict[str, list[str]]] = {}
    table_col, column_col = d.q("table"), d.q("column")
    for table, column, kind in run(f"SELECT {table_col}, {column_col}, error_kind FROM {d.q(relation('ledger'))} "
                                   f"GROUP BY {table_col}, {column_col}, error_kind "
                                   f"ORDER BY {table_col}, {column_col}, error_kind"):
        kinds.setdefault(table, {}).setdefault(column, []).append(kind)
    for table in tables:
        prepare(table)
        parts = max(1, int(buckets(table)))
        queries = [_TableQuery(spec, table, tables, kinds.get(table, {}), d, (b, parts) if parts > 1 else None)
                   for b in range(parts)]
        each = [[int(v or 0) for v in run(q.totals())[0]] for q in queries]
        totals = [sum(column) for column in zip(*each)]
        query = queries[0]
        for (name, *where), n in zip(query.counters, totals):
            if name == "kind":
                report.add(where[0], where[1], n)
            else:
                setattr(report, name, getattr(report, name) + n)
        for i, column in enumerate(query.columns):
            if totals[query.wrong_at[i]]:
                found = [row for q, t in zip(queries, each) if t[q.wrong_at[i]] for row in run(q.examples(i))]
                for key, clean, silver in sorted(found, key=lambda row: int(row[0]))[:EXAMPLES_PER_COLUMN]:
                    report.examples.append({"table": table, "column": column, "key": int(key),
                                            "clean": str(clean), "silver": str(silver)})
    return report


class _TableQuery:
    """The SQL for one table: one row per clean entity (its Bronze line, not a re-send) with, per column, the
    Silver value, the clean text, the ledger's entry and whether Silver holds what it should."""

    def __init__(self, spec: DatasetSpec, table: str, tables: Sequence[str], kinds: dict[str, list[str]],
                 d: Dialect, bucket: tuple[int, int] | None = None):
        st = spec.tables[table]
        self.bucket = bucket  # (part, parts): only the keys that hash to this part
        self.d, self.table, self.pk, self.kinds = d, table, st.primary_key, kinds
        self.columns = spec.emitted(table)
        self.types = {c: str(SILVER_TYPES[st.columns[c].type]) for c in self.columns}
        self.timestamps = {c for c in self.columns if st.columns[c].type == ColumnType.timestamp}
        self.parents = {c: (p, spec.tables[p].primary_key) for c in self.columns if c != self.pk
                        and (p := references(spec, table, c)) is not None and p in tables}
        self.counters: list[tuple[str, ...]] = []  # per SUM of totals(): report field, or ("kind", kind, outcome)
        self.sums: list[str] = []
        self.wrong_at: dict[int, int] = {}
        self._count()

    def _sum(self, condition: str, *counter: str) -> int:
        self.sums.append(f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)")
        self.counters.append(counter)
        return len(self.sums) - 1

    def _count(self) -> None:
        lit = self.d.lit
        for i, column in enumerate(self.columns):
            s, e = f"_s{i}", f"_e{i}"
            self._sum(f"_present AND NOT {e}", "clean_cells")
            self.wrong_at[i] = self._sum(f"_present AND NOT {e} AND NOT {s}", "wrongly_changed")
            self._sum(f"_o{i}", "nulled_with_parent")
            for kind in self.kinds.get(column, []):
                k = f"_k{i} = {lit(kind)}"
                self._sum(f"{k} AND _present AND {s}", "kind", kind, "repaired")
                self._sum(f"{k} AND _present AND NOT {s} AND _v{i} IS NULL", "kind", kind, "nulled")
                self._sum(f"{k} AND _present AND NOT {s} AND _v{i} IS NOT NULL", "kind", kind, "missed")
                self._sum(f"{k} AND NOT _present", "kind", kind, "quarantined")
        # A re-sent row is repaired when Silver holds its entity once, with every value right.
        whole = " AND ".join(["_copies = 1"] + [f"_s{i}" for i in range(len(self.columns))])
        for kind in self.kinds.get(ROW_LEVEL, []):
            k = f"_krow = {lit(kind)}"
            self._sum(f"{k} AND _present AND {whole}", "kind", kind, "repaired")
            self._sum(f"{k} AND _present AND NOT ({whole})", "kind", kind, "missed")
            self._sum(f"{k} AND NOT _present", "kind", kind, "quarantined")
        self._sum("NOT _dirty", "clean_rows")
        self._sum("NOT _dirty AND NOT _present AND _held", "quarantined_with_parent")
        self._sum("NOT _dirty AND NOT _present AND NOT _held", "wrongly_quarantined")

    def totals(self) -> str:
        return f"{self._judged()} SELECT {', '.join(self.sums)} FROM judged"

    def examples(self, i: int) -> str:
        column = self.columns[i]
        clean = f"CAST(_t{i} AS {self.d.types[self.types[column]]})"
        return (f"{self._judged()} SELECT _key, {clean}, _v{i} FROM judged "
                f"WHERE _present AND NOT _e{i} AND NOT _s{i} ORDER BY _key LIMIT {EXAMPLES_PER_COLUMN}")

    def _mine(self, key: str) -> str:
        """ AND the key is in this query's part (nothing when the table is not split)."""
        if self.bucket is None:
            return ""
        part, parts = self.bucket
        return f" AND {self.d.bucket(self.d.cast(key, 'int64'), parts)} = {part}"

    def _judged(self) -> str:
        d, q, lit = self.d, self.d.q, self.d.lit
        ledger = q(relation("ledger"))
        mine = f"{q('table')} = {lit(self.table)}"
        pk = q(self.pk)
        n = range(len(self.columns))
        pivot = []
        for i, column in enumerate(self.columns):
            is_column = f"{q('column')} = {lit(column)}"
            pivot += [f"MAX(CASE WHEN {is_column} THEN 1 ELSE 0 END) AS _e{i}",
                      f"MAX(CASE WHEN {is_column} THEN error_kind END) AS _k{i}",
                      f"MAX(CASE WHEN {is_column} THEN expected_value END) AS _x{i}"]
        pivot.append(f"MAX(CASE WHEN {q('column')} = {lit(ROW_LEVEL)} THEN error_kind END) AS _krow")
        texts = ", ".join(f"b.{q(c)} AS _t{i}" for i, c in enumerate(self.columns))
        values = ", ".join(f"{q(c)} AS _v{i}" for i, c in enumerate(self.columns))
        parent_ctes = "".join(
            f", p{i} AS (SELECT DISTINCT {q(ppk)} AS _key FROM {q(relation('silver', parent))})"
            for i, c in enumerate(self.columns) if c in self.parents for parent, ppk in [self.parents[c]])
        parent_joins = "".join(f" LEFT JOIN p{i} ON p{i}._key = {d.cast(f'c._t{i}', 'int64')}"
                               for i, c in enumerate(self.columns) if c in self.parents)
        cell_cols = [f"c._t{i}, s._v{i}, COALESCE(l._e{i}, 0) = 1 AS _e{i}, l._k{i}, l._x{i}" for i in n]
        cell_cols += [f"p{i}._key IS NULL AS _dangles{i}" for i, c in enumerate(self.columns) if c in self.parents]
        flags = []
        for i, column in enumerate(self.columns):
            # An optional reference to a parent row that was quarantined is nulled on purpose.
            flags.append(f"(_present AND NOT _e{i} AND _v{i} IS NULL AND _t{i} IS NOT NULL AND _dangles{i}) AS _o{i}"
                         if column in self.parents else f"FALSE AS _o{i}")
            silver = _whole_seconds(d, f"_v{i}") if column in self.timestamps else f"_v{i}"
            expected = f"CAST(CASE WHEN _e{i} THEN _x{i} ELSE _t{i} END AS {d.types[self.types[column]]})"
            flags.append(f"({silver} IS NOT DISTINCT FROM {expected}) AS _eq{i}")
        # A value with no right repair (expected_value null) is never "the same": any value Silver holds is a guess.
        same = ", ".join(f"(_present AND NOT (_e{i} AND _x{i} IS NULL) AND (_eq{i} OR _o{i})) AS _s{i}" for i in n)
        held_key = d.replace_all(pk, r"^\s+|\s+$", "")
        return f"""WITH led AS (
    SELECT row_key AS _key, {', '.join(pivot)} FROM {ledger} WHERE {mine}{self._mine('row_key')} GROUP BY row_key
), resent AS (
    SELECT bronze_row FROM {ledger} WHERE {mine} AND {q('column')} = {lit(ROW_LEVEL)}
), clean AS (
    SELECT CAST(b.{pk} AS BIGINT) AS _key, {texts} FROM {q(relation('bronze', self.table))} b
    LEFT JOIN resent r ON r.bronze_row = b._bronze_row WHERE r.bronze_row IS NULL{self._mine(f'b.{pk}')}
), ranked AS (
    SELECT {pk} AS _key, {values}, ROW_NUMBER() OVER (PARTITION BY {pk} ORDER BY _silver_row DESC) AS _rank,
           COUNT(*) OVER (PARTITION BY {pk}) AS _copies
    FROM {q(relation('silver', self.table))} WHERE TRUE{self._mine(pk)}
), sil AS (
    SELECT * FROM ranked WHERE _rank = 1
), held AS (
    SELECT DISTINCT CAST({held_key} AS BIGINT) AS _key FROM {q(relation('quarantine', self.table))}
    WHERE _reason LIKE '%row is quarantined%' AND {d.full_match(held_key, '[0-9]{1,18}')}{self._mine(held_key)}
){parent_ctes}, cells AS (
    SELECT c._key, s._key IS NOT NULL AS _present, COALESCE(s._copies, 0) AS _copies, l._key IS NOT NULL AS _dirty,
           h._key IS NOT NULL AS _held, l._krow, {', '.join(cell_cols)}
    FROM clean c LEFT JOIN sil s ON s._key = c._key LEFT JOIN led l ON l._key = c._key
    LEFT JOIN held h ON h._key = c._key{parent_joins}
), flagged AS (
    SELECT *, {', '.join(flags)} FROM cells
), judged AS (
    SELECT *, {same} FROM flagged
)"""


def _whole_seconds(d: Dialect, expr: str) -> str:
    # The clean values have whole seconds: a Silver fraction of a second is not counted against it.
    return f"CAST(date_trunc('SECOND', {expr}) AS {d.types['timestamp[us]']})"
