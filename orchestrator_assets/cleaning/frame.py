"""The pandas engine's working state for one table, which the rules' pandas implementations act on.

Columns stay `ArrowDtype` throughout, so string work runs in Arrow's compute kernels rather than Python objects.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from .catalogue import ColumnPlan, Step, TablePlan
from .engine import ParentKeys, RuleStats

STR = pd.ArrowDtype(pa.string())


def as_bool(mask: pd.Series) -> np.ndarray:
    """Arrow-backed comparisons yield nullable booleans; null means 'not flagged'."""
    return mask.fillna(False).to_numpy(dtype=bool)


def changed(before: pd.Series, after: pd.Series) -> int:
    both = before.notna() & after.notna()
    return int(as_bool(both & (before.astype(STR) != after.astype(STR))).sum())


class PandasTable:
    """One table being cleaned: its columns, the rows held back so far and why, and the rule counts."""

    def __init__(self, df: pd.DataFrame, plan: TablePlan, stats: RuleStats, parent_keys: dict[str, ParentKeys]):
        self.df, self.plan, self.stats, self.parent_keys = df, plan, stats, parent_keys
        self.n = len(df)
        self.held = np.zeros(self.n, bool)
        self.rule = np.full(self.n, None, dtype=object)
        self.column = np.full(self.n, None, dtype=object)
        self.reason = np.full(self.n, None, dtype=object)

    def quarantine(self, mask: np.ndarray, rule: str, column: str | None, reason) -> None:
        """The first rule that holds a row back is the one reported. reason: one text, or one per row."""
        new = mask & ~self.held
        if new.any():
            self.held |= new
            self.rule[new], self.column[new] = rule, column
            self.reason[new] = reason if isinstance(reason, str) else np.asarray(reason, dtype=object)[new]
            self.stats.add(rule, column or "*", "quarantined", new.sum())

    @property
    def kept(self) -> np.ndarray:
        return ~self.held

    def invalid(self, col: ColumnPlan, step: Step, values: pd.Series, bad: np.ndarray, reason) -> pd.Series:
        """Required column: the rows are quarantined (values flow on); optional: the values are nulled."""
        if col.required:
            self.quarantine(bad, step.rule, col.name, reason)
            return values
        self.stats.add(step.rule, col.name, "nulled", bad.sum())
        return values.mask(bad)
