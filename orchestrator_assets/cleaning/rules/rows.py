"""Rules on whole rows: a line that is no record, a required value missing, and duplicates."""
from __future__ import annotations

import numpy as np

from .base import Rule


class MalformedRecord(Rule):
    id = "malformed_record"
    checks = "the Bronze line is a JSON object"
    repair = "none"
    on_failure = "quarantine the line as it was"
    reason = "line is not a JSON object"

    def pandas(self, t):
        t.quarantine(t.df["_malformed"].notna().to_numpy(), self.id, None, self.reason)

    def sql(self, b):
        b.out.quarantine_checks.append(("_malformed IS NOT NULL", self.id, None, b.d.lit(self.reason)))


class Required(Rule):
    id = "required"
    checks = "required column has a value after cleaning"
    repair = "none"
    on_failure = "quarantine the row"

    def pandas(self, t, col, s):
        t.quarantine(s.isna().to_numpy(), self.id, col.name, f"{col.name} is missing")

    def sql(self, b, col, value, stage):
        flag = b.flag(stage, f"{value} IS NULL")
        b.out.quarantine_checks.append((flag, self.id, col.name, b.d.lit(f"{col.name} is missing")))


class Dedup(Rule):
    """Exact copies and older versions are told apart in one pass, so both rule ids share this implementation."""

    repair = "keep the latest version (updated_at, then Bronze order)"
    EXACT, OLDER = "exact duplicate of a kept row", "older version of a kept row"

    def __init__(self, rule_id: str, checks: str, on_failure: str):
        self.id, self.checks, self.on_failure = rule_id, checks, on_failure

    def pandas(self, t, cleaned, raw):
        pk, ts = t.plan.primary_key, t.plan.updated_at
        candidates = np.flatnonzero(t.kept)
        keys = cleaned[pk].to_numpy(dtype="int64", na_value=-1)[candidates]
        order_cols = [keys]
        if ts:
            stamp = cleaned[ts].to_numpy(dtype="datetime64[us]")[candidates].astype("int64")
            order_cols = [stamp, keys]
        order = np.lexsort([t.df["_bronze_row"].to_numpy()[candidates], *order_cols])
        ranked, ranked_keys = candidates[order], keys[order]
        is_last = np.ones(len(ranked), bool)
        is_last[:-1] = ranked_keys[:-1] != ranked_keys[1:]
        losers = ranked[~is_last]
        if not len(losers):
            return
        # The kept row of each key is the last of its group in ranked order.
        group = np.concatenate([[0], np.cumsum(is_last[:-1])])
        loser_winner = ranked[np.flatnonzero(is_last)[group]][~is_last]
        cols = [c.name for c in t.plan.columns]
        a = raw.iloc[losers][cols].reset_index(drop=True)
        b = raw.iloc[loser_winner][cols].reset_index(drop=True)
        same = ((a == b) | (a.isna() & b.isna())).fillna(False).all(axis=1).to_numpy()
        exact, superseded = np.zeros(t.n, bool), np.zeros(t.n, bool)
        exact[losers[same]], superseded[losers[~same]] = True, True
        t.quarantine(exact, "dedup_exact", None, self.EXACT)
        t.quarantine(superseded, "dedup_key", pk, self.OLDER)

    def sql(self, plan, d, checked: str) -> str:
        """Among rows not yet held back, keep the latest version of each key; tell exact copies from older ones."""
        pk, ts = d.q("_s_" + plan.primary_key), plan.updated_at
        order = (f"{d.q('_s_' + ts)} DESC NULLS LAST, " if ts else "") + "_bronze_row DESC"
        window = f"(PARTITION BY _rule1 IS NULL, {pk} ORDER BY {order})"
        # The raw row as one value: one first_value over the window, not one per column.
        row = d.record({f"c{i}": d.q(c.name) for i, c in enumerate(plan.columns)})
        same = f"{row} IS NOT DISTINCT FROM first_value({row}) OVER {window}"
        ranked = f"SELECT *, row_number() OVER {window} AS _rank, {same} AS _same FROM ({checked})"
        return f"""SELECT *,
            CASE WHEN _rule1 IS NOT NULL THEN _rule1 WHEN _rank > 1 AND _same THEN 'dedup_exact'
                 WHEN _rank > 1 THEN 'dedup_key' END AS _rule,
            CASE WHEN _rule1 IS NOT NULL THEN _column1 WHEN _rank > 1 AND NOT _same THEN {d.lit(plan.primary_key)}
                 END AS _column,
            CASE WHEN _rule1 IS NOT NULL THEN _reason1 WHEN _rank > 1 AND _same THEN {d.lit(self.EXACT)}
                 WHEN _rank > 1 THEN {d.lit(self.OLDER)} END AS _reason
            FROM ({ranked})"""


DEDUP_EXACT = Dedup("dedup_exact", "no Bronze line repeats another exactly",
                    "later copies are quarantined as duplicates")
DEDUP_KEY = Dedup("dedup_key", "one row per primary key", "older versions are quarantined as superseded")
RULES = [MalformedRecord(), Required(), DEDUP_EXACT, DEDUP_KEY]
