"""Rules decided by a library: the same normaliser for every engine, fast where the text is already canonical.

A library rule parses text with the library that owns the problem (phonenumbers, email-validator, the date and
number parsers in `cleaning/parsers`). Most values are already canonical, and the rest repeat a lot, so a
`Normaliser` maps a whole Arrow array: text matching the rule's fast-path pattern passes as it is (vectorised),
everything else goes through the parser once per distinct value. The pandas implementation calls it directly;
the SQL implementation registers it as a UDF (DuckDB: a Python UDF over Arrow, called only for the rows the
fast path does not take; Spark: a pandas UDF), so every engine gets the very same answer for the residue.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..frame import STR, changed
from .base import Rule

Parsed = tuple[str | None, str | None]  # (canonical text, None) or (None, problem)
PARSED = pa.struct([("value", pa.string()), ("problem", pa.string())])
CACHE_LIMIT = 200_000
SMALL = 4096  # arrays up to this length (a DuckDB vector is 2048) are parsed value by value  # distinct residue values remembered per normaliser; then it starts afresh


class Normaliser:
    def __init__(self, parse: Callable[[str], Parsed], fast: Callable[[pa.Array], pa.Array]):
        self.parse, self.fast = parse, fast
        self.cache: dict[str, Parsed] = {}

    def lookup(self, text: str) -> Parsed:
        found = self.cache.get(text)
        if found is None:
            if len(self.cache) >= CACHE_LIMIT:
                self.cache.clear()
            found = self.cache[text] = self.parse(text)
        return found

    def __call__(self, values: pa.Array | pa.ChunkedArray) -> pa.StructArray:
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        values = values.cast(pa.string())
        if len(values) <= SMALL:
            # A few values (what DuckDB hands over: only the rows its fast path left) cost less one by one than
            # through a dozen Arrow kernels; the parser returns fast-path text unchanged, so the answer is the same.
            parsed = [(None, None) if text is None else self.lookup(text) for text in values.to_pylist()]
            return pa.StructArray.from_arrays([pa.array([p[0] for p in parsed], pa.string()),
                                               pa.array([p[1] for p in parsed], pa.string())], fields=list(PARSED))
        residue = pc.and_not(pc.is_valid(values), pc.fill_null(self.fast(values), False))
        value, problem = values, pa.nulls(len(values), pa.string())
        todo = values.filter(residue)
        if len(todo):
            distinct = pc.unique(todo)
            parsed = [self.lookup(text) for text in distinct.to_pylist()]
            where = pc.index_in(values, distinct)
            value = pc.if_else(residue, pa.array([p[0] for p in parsed], pa.string()).take(where), values)
            problem = pc.if_else(residue, pa.array([p[1] for p in parsed], pa.string()).take(where), problem)
        return pa.StructArray.from_arrays([value, problem], fields=list(PARSED))


def pattern_fast(pattern: str | None) -> Callable[[pa.Array], pa.Array]:
    """The fast path of a regex: a full match means the text is already canonical."""
    if pattern is None:
        return lambda values: pa.nulls(len(values), pa.bool_())
    anchored = f"^(?:{pattern})$"
    return lambda values: pc.match_substring_regex(values, anchored)


class LibraryRule(Rule):
    output = "string"  # Arrow type of the typed value

    def parser(self, params: dict) -> Callable[[str], Parsed]:
        raise NotImplementedError

    def pattern(self, params: dict) -> str | None:
        """RE2 regex: text that fully matches is guaranteed canonical (parse(text) == (text, None))."""
        return None

    def output_type(self, params: dict) -> str:
        return self.output

    def arrow_fast(self, params: dict) -> Callable[[pa.Array], pa.Array]:
        return pattern_fast(self.pattern(params))

    def sql_fast(self, d, s: str, params: dict) -> str:
        pattern = self.pattern(params)
        return "false" if pattern is None else d.full_match(s, pattern)

    def normaliser(self, params: dict) -> Normaliser:
        return _normaliser(self, json.dumps(params, sort_keys=True))

    def pandas(self, t, col, step, s):
        out = self.normaliser(step.params)(pa.array(s, type=pa.string(), from_pandas=True))
        text, problem = out.field("value"), out.field("problem")
        t.stats.add(self.id, col.name, "repaired", changed(s, pd.Series(pd.arrays.ArrowExtensionArray(text),
                                                                        index=s.index, dtype=STR)))
        bad = problem.is_valid().to_numpy(zero_copy_only=False)
        reasons = pc.binary_join_element_wise(f"{col.name} ", problem, "").to_numpy(zero_copy_only=False)
        typed = pc.cast(text, self.output_type(step.params))
        if pa.types.is_timestamp(typed.type):
            series = pd.Series(typed.to_numpy(zero_copy_only=False), index=s.index)
        else:
            series = pd.Series(pd.arrays.ArrowExtensionArray(typed), index=s.index)
        return t.invalid(col, step, series, bad, reasons)

    def sql(self, b, col, step, s, stage):
        d, params = b.d, step.params
        udf = b.udf(self.id, self.normaliser(params), "parsed")
        fast = f"coalesce({self.sql_fast(d, s, params)}, false)"
        parsed = b.aux(0, f"CASE WHEN {s} IS NOT NULL AND NOT {fast} THEN {udf}({s}) END")
        text = b.aux(1, f"CASE WHEN {parsed} IS NULL THEN {s} ELSE {parsed}.value END")
        problem = b.aux(1, f"{parsed}.problem")
        b.repaired(stage, self.id, col.name, b.changed(s, text))
        typed = d.cast(text, self.output_type(params))
        return b.invalid(stage, col, step, typed, f"{problem} IS NOT NULL", None,
                         reason_sql=f"{d.lit(col.name + ' ')} || {problem}")


@functools.lru_cache(maxsize=256)
def _normaliser(rule: LibraryRule, params: str) -> Normaliser:
    p = json.loads(params)
    return Normaliser(rule.parser(p), rule.arrow_fast(p))
