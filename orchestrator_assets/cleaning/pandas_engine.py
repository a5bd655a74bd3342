"""The pandas engine: the rule catalogue on Arrow-backed pandas columns (for jobs up to ~10k-1M rows).

Columns stay `ArrowDtype` throughout, so string work runs in Arrow's compute kernels rather than
Python objects; that is what keeps this engine near a hand-written DuckDB query.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from .catalogue import CATALOGUE, ColumnPlan, Step, TablePlan
from .engine import CleanResult, ParentKeys, RuleStats, quarantine_schema, silver_schema

EMAIL = r"[a-z0-9._%+'-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}"
NUMBER = r"[-+]?\d+(\.\d+)?"
NUMBER_DECORATION = r"^\$|\s*USD$|,|\s"
STR = pd.ArrowDtype(pa.string())
F64 = pd.ArrowDtype(pa.float64())
I64 = pd.ArrowDtype(pa.int64())


def _bool(mask: pd.Series) -> np.ndarray:
    """Arrow-backed comparisons yield nullable booleans; null means 'not flagged'."""
    return mask.fillna(False).to_numpy(dtype=bool)


def _changed(before: pd.Series, after: pd.Series) -> int:
    both = before.notna() & after.notna()
    return int(_bool(both & (before != after)).sum())


class _Table:
    """Working state while one table is cleaned."""

    def __init__(self, df: pd.DataFrame, plan: TablePlan, stats: RuleStats):
        self.df, self.plan, self.stats = df, plan, stats
        self.n = len(df)
        self.held = np.zeros(self.n, bool)
        self.rule = np.full(self.n, None, dtype=object)
        self.column = np.full(self.n, None, dtype=object)
        self.reason = np.full(self.n, None, dtype=object)

    def quarantine(self, mask: np.ndarray, rule: str, column: str | None, reason: str) -> None:
        """The first rule that holds a row back is the one reported."""
        new = mask & ~self.held
        if new.any():
            self.held |= new
            self.rule[new], self.column[new], self.reason[new] = rule, column, reason
            self.stats.add(rule, column or "*", "quarantined", new.sum())

    @property
    def kept(self) -> np.ndarray:
        return ~self.held

    def invalid(self, col: ColumnPlan, step: Step, values: pd.Series, bad: np.ndarray, reason: str) -> pd.Series:
        if col.required:
            self.quarantine(bad, step.rule, col.name, reason)
            return values
        self.stats.add(step.rule, col.name, "nulled", bad.sum())
        return values.mask(bad)


def _parse_timestamps(s: pd.Series, formats: tuple[str, ...]) -> pd.Series:
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
    todo = s.notna().to_numpy()
    for fmt in formats:
        if not todo.any():
            break
        parsed = pd.to_datetime(s[todo].astype(object), format=fmt, errors="coerce")
        out.loc[todo] = parsed.to_numpy().astype("datetime64[us]")
        todo = todo & out.isna().to_numpy()
    return out


def _clean_column(t: _Table, col: ColumnPlan, parent_keys: dict[str, ParentKeys]) -> pd.Series:
    s = t.df[col.name]
    for step in col.steps:
        p, rule = step.params, step.rule
        if rule == "trim":
            new = s.str.strip()
            t.stats.add(rule, col.name, "repaired", _changed(s, new))
        elif rule == "blank_to_null":
            new = s.mask(s == "")
            t.stats.add(rule, col.name, "repaired", int(_bool(s == "").sum()))
        elif rule == "case_fold":
            if p["case"] == "proper":
                uniform = _bool((s == s.str.upper()) | (s == s.str.lower()))
                new = s.where(~uniform, s.str.title())
            else:
                new = getattr(s.str, p["case"])()
            t.stats.add(rule, col.name, "repaired", _changed(s, new))
        elif rule == "accepted_values":
            bad = _bool(s.notna() & ~s.isin(p["values"]))
            new = t.invalid(col, step, s, bad, f"{col.name} is not one of {p['values']}")
        elif rule == "email":
            lowered = s.str.lower()
            t.stats.add(rule, col.name, "repaired", _changed(s, lowered))
            bad = _bool(lowered.notna() & ~lowered.str.fullmatch(EMAIL))
            new = t.invalid(col, step, lowered, bad, f"{col.name} is not a valid e-mail address")
        elif rule == "phone_e164":
            new = _phone(t, col, step, s)
        elif rule == "parse_timestamp":
            new = _parse_timestamps(s, t.plan.date_formats if p["date"] else t.plan.timestamp_formats)
            canonical = s.notna() & s.str.fullmatch(r"\d{4}-\d\d-\d\d( \d\d:\d\d:\d\d)?")
            t.stats.add(rule, col.name, "repaired", int(_bool(~canonical & s.notna() & new.notna()).sum()))
            bad = _bool(s.notna()) & new.isna().to_numpy()
            new = t.invalid(col, step, new, bad, f"{col.name} is not a date in a known format")
            if p["date"]:
                new = new.dt.normalize()
        elif rule == "date_range":
            lo = pd.Timestamp(p["min"]) if p["min"] is not None else None
            hi = pd.Timestamp(p["max"]) if p["max"] is not None else None
            bad = np.zeros(t.n, bool)
            if lo is not None:
                bad |= (s < lo).to_numpy(dtype=bool, na_value=False)
            if hi is not None:
                bad |= (s >= hi).to_numpy(dtype=bool, na_value=False)
            new = t.invalid(col, step, s, bad, f"{col.name} outside [{p['min']}, {p['max']})")
        elif rule == "parse_number":
            stripped = s.str.replace(NUMBER_DECORATION, "", regex=True)
            ok = stripped.str.fullmatch(NUMBER)
            new = stripped.where(_bool(ok)).astype(F64)
            if p["integer"]:
                whole = _bool(new == new.round())
                new = new.where(whole)
            t.stats.add(rule, col.name, "repaired", int(_bool(s.notna() & (s != stripped) & new.notna()).sum()))
            bad = _bool(s.notna()) & _bool(new.isna())
            new = t.invalid(col, step, new, bad, f"{col.name} is not a number")
            if p["integer"]:
                new = new.astype(I64)
        elif rule == "numeric_range":
            bad = np.zeros(t.n, bool)
            if p["min"] is not None:
                bad |= _bool(s < float(p["min"]))
            if p["max"] is not None:
                bad |= _bool(s > float(p["max"]))
            new = t.invalid(col, step, s, bad, f"{col.name} outside [{p['min']}, {p['max']}]")
        elif rule == "parse_id":
            ok = _bool(s.str.fullmatch(r"\d+"))
            bad = _bool(s.notna()) & ~ok
            new = t.invalid(col, step, s.where(ok).astype(I64), bad, f"{col.name} is not a whole-number key")
        elif rule == "foreign_key":
            keys = parent_keys.get(p["parent"], ParentKeys.empty())
            bad = _bool(s.notna() & ~s.isin(keys.silver))
            held = bad & _bool(s.isin(keys.quarantined))
            new = t.invalid(col, step, s, held, f"{col.name}: the {p['parent']} row is quarantined")
            new = t.invalid(col, step, new, bad & ~held, f"{col.name} has no matching {p['parent']} row")
        else:
            raise NotImplementedError(rule)
        s = new
    if col.required:
        t.quarantine(s.isna().to_numpy(), "required", col.name, f"{col.name} is missing")
    return s


def _phone(t: _Table, col: ColumnPlan, step: Step, s: pd.Series) -> pd.Series:
    code = t.plan.default_calling_code
    digits = s.str.replace(r"\D", "", regex=True)
    length = digits.str.len()
    plus = _bool(s.str.startswith("+"))
    international = plus & _bool((length >= 8) & (length <= 15))
    national = ~plus & _bool(length == 10)
    with_code = ~plus & _bool((length == 10 + len(code)) & digits.str.startswith(code))
    new = pd.Series(pd.NA, index=s.index, dtype=STR)
    new = new.mask(international | with_code, "+" + digits)
    new = new.mask(national, "+" + code + digits)
    t.stats.add(step.rule, col.name, "repaired", _changed(s, new))
    bad = _bool(s.notna()) & _bool(new.isna())
    return t.invalid(col, step, new, bad, f"{col.name} is not a phone number")


def _dedup(t: _Table, cleaned: dict[str, pd.Series], raw: pd.DataFrame) -> None:
    pk, ts = t.plan.primary_key, t.plan.updated_at
    candidates = np.flatnonzero(t.kept)
    keys = cleaned[pk].to_numpy(dtype="int64", na_value=-1)[candidates]
    order_cols = [keys]
    if ts:
        stamp = cleaned[ts].to_numpy(dtype="datetime64[us]")[candidates].astype("int64")
        order_cols = [stamp, keys]
    order = np.lexsort([t.df["_bronze_row"].to_numpy()[candidates], *order_cols])
    ranked = candidates[order]
    ranked_keys = keys[order]
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
    t.quarantine(exact, "dedup_exact", None, "exact duplicate of a kept row")
    t.quarantine(superseded, "dedup_key", pk, "older version of a kept row")


class PandasEngine:
    name = "pandas"
    rules = frozenset(CATALOGUE)

    def clean_table(self, bronze: pa.Table, plan: TablePlan, parent_keys: dict[str, ParentKeys]) -> CleanResult:
        stats = RuleStats()
        raw = bronze.to_pandas(types_mapper=pd.ArrowDtype)
        t = _Table(raw, plan, stats)
        t.quarantine(raw["_malformed"].notna().to_numpy(), "malformed_record", None, "line is not a JSON object")
        cleaned = {col.name: _clean_column(t, col, parent_keys) for col in plan.columns}
        _dedup(t, cleaned, raw)
        keep = t.kept
        silver_schema_ = silver_schema(plan)
        silver = pa.table(
            {c.name: pa.array(cleaned[c.name][keep], type=silver_schema_.field(c.name).type, from_pandas=True)
             for c in plan.columns}, schema=silver_schema_)
        q = ~keep
        quarantine = pa.table({
            **{c.name: bronze.column(c.name).filter(pa.array(q)) for c in plan.columns},
            "_bronze_row": bronze.column("_bronze_row").filter(pa.array(q)),
            "_malformed": bronze.column("_malformed").filter(pa.array(q)),
            "_rule": pa.array(t.rule[q], pa.string()), "_column": pa.array(t.column[q], pa.string()),
            "_reason": pa.array(t.reason[q], pa.string()),
        }, schema=quarantine_schema(plan))
        return CleanResult(silver, quarantine, stats)
