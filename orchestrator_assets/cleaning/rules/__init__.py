"""The catalogue of cleaning rules: every rule unit, by id."""
from __future__ import annotations

from . import contact, keys, numeric, ranges, rows, temporal, text
from .base import FAMILIES, Rule

CATALOGUE: dict[str, Rule] = {r.id: r for m in (rows, text, contact, temporal, numeric, ranges, keys)
                              for r in m.RULES}


def implemented(family: str) -> frozenset[str]:
    """The rule ids an engine of this family carries out: those whose unit has its implementation."""
    assert family in FAMILIES, family
    return frozenset(rid for rid, rule in CATALOGUE.items() if rule.implements(family))
