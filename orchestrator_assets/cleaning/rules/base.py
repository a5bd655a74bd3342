"""What a cleaning rule is: its description and, per engine family, its implementation.

A rule is one unit. Its pandas implementation works on Arrow-backed pandas columns (`PandasTable`), its SQL
implementation adds expressions to the one query an SQL engine runs (`SqlBuilder`, DuckDB and Spark). An engine
carries out exactly the rules that implement its family, so a rule without one shows up as a gap in the
coverage test rather than as a silent skip.
"""
from __future__ import annotations

FAMILIES = ("pandas", "sql")


class Rule:
    id: str
    checks: str
    repair: str
    on_failure: str
    decided_by: str = "plain code"

    def implements(self, family: str) -> bool:
        return getattr(type(self), family, None) is not getattr(Rule, family, None)

    def describe(self) -> dict[str, str]:
        return {"id": self.id, "checks": self.checks, "repair": self.repair, "on_failure": self.on_failure,
                "decided_by": self.decided_by}


# Invalid value in a required column: the row is quarantined; in an optional column: the value is nulled.
NULL_OR_QUARANTINE = "null the value if the column is optional, else quarantine the row"
