"""Rules on keys: a key is a whole number, and a reference points at a kept parent row."""
from __future__ import annotations

import pandas as pd
import pyarrow as pa

from ..engine import ParentKeys
from ..frame import as_bool
from .base import NULL_OR_QUARANTINE, Rule

I64 = pd.ArrowDtype(pa.int64())


class ParseId(Rule):
    id = "parse_id"
    checks = "key is a whole number"
    repair = "cast"
    on_failure = NULL_OR_QUARANTINE

    def pandas(self, t, col, step, s):
        ok = as_bool(s.str.fullmatch(r"\d+"))
        bad = as_bool(s.notna()) & ~ok
        return t.invalid(col, step, s.where(ok).astype(I64), bad, f"{col.name} is not a whole-number key")

    def sql(self, b, col, step, s, stage):
        whole = b.aux(0, b.d.full_match(s, r"\d+"))
        return b.invalid(stage, col, step, f"CASE WHEN {whole} THEN {b.d.cast(s, 'int64')} END",
                         f"{s} IS NOT NULL AND NOT {whole}", f"{col.name} is not a whole-number key")


class ForeignKey(Rule):
    id = "foreign_key"
    checks = "the referenced row exists in the parent's Silver table"
    repair = "none"
    on_failure = NULL_OR_QUARANTINE + "; the reason says whether the parent is missing or itself quarantined"

    def pandas(self, t, col, step, s):
        parent = step.params["parent"]
        keys = t.parent_keys.get(parent, ParentKeys.empty())
        bad = as_bool(s.notna() & ~s.isin(keys.silver))
        held = bad & as_bool(s.isin(keys.quarantined))
        new = t.invalid(col, step, s, held, f"{col.name}: the {parent} row is quarantined")
        return t.invalid(col, step, new, bad & ~held, f"{col.name} has no matching {parent} row")

    def sql(self, b, col, step, s, stage):
        parent = step.params["parent"]
        # 1: the parent row is in Silver; 0: it was quarantined; null: there is none.
        # Spark accepts a correlated scalar subquery only as an aggregate; keys are unique, so max is the one.
        found = b.aux(0, f"(SELECT max(kept) FROM {b.parents[parent]} WHERE k = {s})")
        # Two outcomes of one rule, in the pandas implementation's order: quarantined parent first, then none.
        value = b.invalid(stage, col, step, s, f"{s} IS NOT NULL AND {found} = 0",
                          f"{col.name}: the {parent} row is quarantined")
        return b.invalid(stage, col, step, value, f"{s} IS NOT NULL AND {found} IS NULL",
                         f"{col.name} has no matching {parent} row")


RULES = [ParseId(), ForeignKey()]
