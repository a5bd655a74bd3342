"""What a person reads on an asset or check page: Markdown tables, and plain numbers the UI can plot.

Dagster plots a numeric metadata entry across materialisations (here: across partitions), so every figure of
a table is also written as its own `<figure>/<kind>` number; JSON blobs are shown only behind "[Show JSON]".
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from dagster import MetadataValue

from ..cleaning.accuracy import OUTCOMES, AccuracyReport
from ..cleaning.oracles import OracleReport

ACCURACY_COLUMNS = ("kind", "injected", *OUTCOMES, "missed %")


def markdown_table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def accuracy_table(report: AccuracyReport) -> str:
    rows = [[kind, *(counts[c] for c in ("injected", *OUTCOMES)), f"{report.missed_rate(kind):.2%}"]
            for kind, counts in sorted(report.kinds.items())]
    total = {c: sum(k[c] for k in report.kinds.values()) for c in ("injected", *OUTCOMES)}
    overall = total["missed"] / total["injected"] if total["injected"] else 0.0
    rows.append(["**all kinds**", *(total[c] for c in ("injected", *OUTCOMES)), f"{overall:.2%}"])
    return markdown_table(ACCURACY_COLUMNS, rows)


def accuracy_metadata(report: AccuracyReport) -> dict[str, object]:
    """The accuracy table, and per error kind: injected and missed counts and the missed rate, as numbers."""
    out: dict[str, object] = {"accuracy_by_kind": MetadataValue.md(accuracy_table(report))}
    for kind, counts in sorted(report.kinds.items()):
        out[f"injected/{kind}"] = counts["injected"]
        out[f"missed/{kind}"] = counts["missed"]
        out[f"missed_rate/{kind}"] = float(round(report.missed_rate(kind), 6))
    return out


def oracle_metadata(report: OracleReport) -> dict[str, object]:
    """The oracle checks as a table, and per table.column and check: values checked and invalid, as numbers."""
    rows = [(c.table, c.column, c.check, c.checked, c.invalid, ", ".join(c.examples[:3]))
            for c in report.checks]
    out: dict[str, object] = {
        "oracle_checks": MetadataValue.md(markdown_table(("table", "column", "check", "checked", "invalid",
                                                          "examples"), rows)),
        "oracle_invalid": report.invalid}
    for c in report.checks:
        out[f"checked/{c.table}.{c.column}/{c.check}"] = c.checked
        out[f"invalid/{c.table}.{c.column}/{c.check}"] = c.invalid
    return out


def quarantine_table(counts: list[tuple[str, str, str, int]]) -> str:
    if not counts:
        return "Nothing quarantined."
    return markdown_table(("table", "rule", "column", "rows"), counts)


def dbt_tests_table(results: Iterable[tuple[str, bool, str]]) -> str:
    """(test, passed, severity) per dbt test of one mart, as run for one partition."""
    rows = [(name, "pass" if passed else "**FAIL**", severity) for name, passed, severity in sorted(results)]
    return markdown_table(("dbt test", "result", "severity"), rows) if rows else "No dbt tests on this mart."


def rules_table(rules: Mapping[str, Mapping[str, int]]) -> str:
    """Outcome counts per cleaning rule of one table (summed over its columns)."""
    outcomes = sorted({k for counts in rules.values() for k in counts})
    return markdown_table(("rule", *outcomes), ([rule, *(counts.get(k, 0) for k in outcomes)]
                                                for rule, counts in sorted(rules.items())))
