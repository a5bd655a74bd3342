"""Rules on parsed values: inside the column's bounds."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..frame import as_bool
from .base import NULL_OR_QUARANTINE, Rule


class DateRange(Rule):
    id = "date_range"
    checks = "date within the column's [min, max)"
    repair = "none"
    on_failure = NULL_OR_QUARANTINE

    def pandas(self, t, col, step, s):
        p = step.params
        bad = np.zeros(t.n, bool)
        if p["min"] is not None:
            bad |= as_bool(s < pd.Timestamp(p["min"]))
        if p["max"] is not None:
            bad |= as_bool(s >= pd.Timestamp(p["max"]))
        return t.invalid(col, step, s, bad, f"{col.name} outside [{p['min']}, {p['max']})")

    def sql(self, b, col, step, s, stage):
        p, d = step.params, b.d
        ts = d.types["timestamp[us]"]
        bad = " OR ".join(([f"{s} < CAST({d.lit(p['min'])} AS {ts})"] if p["min"] is not None else [])
                          + ([f"{s} >= CAST({d.lit(p['max'])} AS {ts})"] if p["max"] is not None else []))
        return b.invalid(stage, col, step, s, bad, f"{col.name} outside [{p['min']}, {p['max']})")


class NumericRange(Rule):
    id = "numeric_range"
    checks = "number within the column's [min, max] (negative amounts fail a min of 0)"
    repair = "none (a negative amount is never sign-flipped)"
    on_failure = NULL_OR_QUARANTINE

    def pandas(self, t, col, step, s):
        p = step.params
        bad = np.zeros(t.n, bool)
        if p["min"] is not None:
            bad |= as_bool(s < float(p["min"]))
        if p["max"] is not None:
            bad |= as_bool(s > float(p["max"]))
        return t.invalid(col, step, s, bad, f"{col.name} outside [{p['min']}, {p['max']}]")

    def sql(self, b, col, step, s, stage):
        p = step.params
        bad = " OR ".join(([f"{s} < {float(p['min'])!r}"] if p["min"] is not None else [])
                          + ([f"{s} > {float(p['max'])!r}"] if p["max"] is not None else []))
        return b.invalid(stage, col, step, s, bad, f"{col.name} outside [{p['min']}, {p['max']}]")


RULES = [DateRange(), NumericRange()]
