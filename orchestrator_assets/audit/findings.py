"""Templated findings from the tools' evidence: severity, evidence, likely cause and a recommended action.

The thresholds sit well above what a default job shows (30% dirty rows, pandas engine): there a child table
loses up to about 15% of its rows to its parents' quarantine and no Silver value leaves its declared range.
"""
from __future__ import annotations

from .tools import RULES_FOR_KIND, Partition, parent_of

SEVERITIES = ("critical", "warning", "info")
CAUSES = {
    "rule_misses_pattern": "a cleaning rule misses a pattern",
    "generator_error_profile": "the generator's error profile",
    "upstream_orphan_cascade": "an upstream orphan cascade",
    "drift": "drift from the spec or from earlier jobs",
    "pipeline_defect": "a pipeline defect",
    "gold_test_failure": "a Gold dbt test",
}
CASCADE_WARN, CASCADE_CRITICAL = 0.2, 0.3  # child rows held because their parent was held
PARENT_WARN, PARENT_CRITICAL = 0.15, 0.25  # parent entities held back
COLUMN_WARN = 0.1  # one rule on one column quarantines this share of a table
OUTSIDE_WARN, OUTSIDE_CRITICAL = 0.02, 0.25  # Silver values outside the spec's declared source range
GAP_WARN = 0.15  # a category's share differs from its declared weight by this much
DRIFT_RATIO = 1.5  # a metric this many times its median over the user's other jobs (or 1/x)


def _finding(severity, title, cause, action, evidence, table=None, column=None, samples=None) -> dict:
    return {"severity": severity, "title": title, "table": table, "column": column, "cause": cause,
            "cause_text": CAUSES[cause], "evidence": evidence, "samples": samples or [], "action": action}


def _pct(x: float) -> str:
    return f"{x:.1%}"


def derive(p: Partition, evidence: list[dict]) -> list[dict]:
    by_tool: dict[str, list[dict]] = {}
    for e in evidence:
        by_tool.setdefault(e["tool"], []).append(e)
    out: list[dict] = []
    for e in by_tool.get("check_results", [])[:1]:
        out += _checks(e["result"])
    for e in by_tool.get("accuracy_by_kind", [])[:1]:
        out += _accuracy(p, e["result"], by_tool)
    for e in by_tool.get("quarantine_by_rule", [])[:1]:
        out += _quarantine(p, e["result"], by_tool)
    for e in by_tool.get("column_profiles", []):
        out += _profiles(e["result"])
    for e in by_tool.get("gold_tests", [])[:1]:
        out += _gold(e["result"])
    for e in by_tool.get("compare_earlier", [])[:1]:
        out += _drift(e["result"])
    return sorted(out, key=lambda f: SEVERITIES.index(f["severity"]))


def _checks(r: dict) -> list[dict]:
    out = []
    for table, t in r["tables"].items():
        if t["unaccounted"]:
            out.append(_finding(
                "critical", f"{table}: {t['unaccounted']} Bronze rows are neither in Silver nor in quarantine",
                "pipeline_defect", "Re-run Silver; if rows still vanish, the cleaning engine drops them: file a bug.",
                t, table))
    return out


def _accuracy(p: Partition, r: dict, by_tool) -> list[dict]:
    if not r.get("available"):
        return [_finding("info", "no cleaning accuracy report", "pipeline_defect",
                         "Materialise Silver again to write the accuracy report.", {"note": r.get("note")})]
    out = []
    for kind, k in r["kinds"].items():
        if k["missed_rate"] <= r["bar_missed_rate"]:
            continue
        rules = RULES_FOR_KIND.get(kind, [])
        samples = _missed_rows(by_tool, kind) + (_untrimmed_samples(by_tool) if kind == "whitespace" else [])
        out.append(_finding(
            "critical", f"{kind}: {k['missed']} of {k['injected']} injected errors reached Silver unrepaired "
            f"({_pct(k['missed_rate'])}, bar {_pct(r['bar_missed_rate'])})",
            "rule_misses_pattern",
            f"Check rule {', '.join(rules) or '?'} in the {p.cleaning.get('engine')} engine against "
            f"docs/cleaning.md; the dirty values it let through are in the samples.",
            {**k, "bar_missed_rate": r["bar_missed_rate"]}, samples=samples))
    return out


def _missed_rows(by_tool, kind: str) -> list[dict]:
    for e in by_tool.get("missed_samples", []):
        if e["args"].get("kind") == kind:
            return e["result"].get("rows", [])[:5]
    return []


def _untrimmed_samples(by_tool) -> list[dict]:
    found = []
    for e in by_tool.get("column_profiles", []):
        for c in e["result"].get("columns", []):
            if c.get("untrimmed"):
                found.append({"table": e["result"]["table"], "column": c["column"], "untrimmed": c["untrimmed"]})
    return found[:5]


def _samples_for(by_tool, table: str, rule: str, column: str | None) -> list[dict]:
    for e in by_tool.get("quarantine_sample", []):
        a = e["args"]
        if a.get("table") == table and a.get("rule") == rule and a.get("column") == column:
            return e["result"].get("rows", [])[:3]
    return []


def _quarantine(p: Partition, r: dict, by_tool) -> list[dict]:
    out = []
    tables = r["tables"]
    for row in r["rules"]:
        table, rule, column = row["table"], row["rule"], row["column"]
        bronze = tables[table]["bronze_rows"]
        if row["cascade"]:
            parent = parent_of(p, table, column)
            share = row["cascade_share"]
            parent_share = tables.get(parent, {}).get("entity_share", 0.0)
            if share > CASCADE_CRITICAL and parent_share > PARENT_CRITICAL:
                severity = "critical"
            elif share > CASCADE_WARN or parent_share > PARENT_WARN:
                severity = "warning"
            else:
                continue
            top = _top_rule(r, parent)
            evidence = {"cascade_rows": row["cascade"], "table_bronze_rows": bronze, "cascade_share": share,
                        "parent": parent, "parent_held": tables.get(parent, {}).get("entities_held"),
                        "parent_share": parent_share, "parent_top_rule": top}
            why = f", mostly by rule {top['rule']} on {top['column']} ({top['rows']} rows)" if top else ""
            out.append(_finding(
                severity, f"{table}: {row['cascade']} rows ({_pct(share)}) held back because their {parent} row "
                f"was quarantined; {parent} lost {_pct(parent_share)} of its rows{why}",
                "upstream_orphan_cascade",
                f"Fix {parent} first (its Bronze or the rule that holds it back); {table} recovers with it.",
                evidence, table, column,
                samples=_samples_for(by_tool, parent, top["rule"], top["column"]) if top else []))
        elif rule not in ("dedup_exact", "dedup_key") and row["share"] > COLUMN_WARN and column:
            injected = bool(p.spec.tables[table].columns[column].errors) if column in p.spec.tables[table].columns \
                else False
            cause = "generator_error_profile" if injected else "rule_misses_pattern"
            action = ("Expected from the errors the spec injects here; lower the column's error weight if this is "
                      "too many." if injected else
                      f"The spec injects no errors into {column}: check that rule {rule} accepts its valid values.")
            out.append(_finding(
                "warning", f"{table}.{column}: rule {rule} quarantined {row['rows']} rows ({_pct(row['share'])})",
                cause, action, row, table, column, samples=_samples_for(by_tool, table, rule, column)))
    return out


def _top_rule(r: dict, table: str) -> dict | None:
    own = [x for x in r["rules"] if x["table"] == table and x["rule"] not in ("dedup_exact", "dedup_key")]
    return max(own, key=lambda x: x["rows"]) if own else None


def _profiles(r: dict) -> list[dict]:
    out = []
    table = r.get("table")
    for c in r.get("columns", []):
        share = c.get("outside_share", 0.0)
        if share > OUTSIDE_WARN:
            declared = (f"{c['source_min']}..{c['source_max']}" if "source_min" in c
                        else "one of " + ", ".join(c.get("values", [])))
            out.append(_finding(
                "critical" if share > OUTSIDE_CRITICAL else "warning",
                f"{table}.{c['column']}: {c['outside_declared']} Silver values ({_pct(share)}) lie outside the "
                f"spec's declared source ({declared}); observed {c['min']}..{c['max']}",
                "drift", f"Compare {table}.{c['column']} with its source in the spec: the data drifted from what "
                "the spec declares, or the spec no longer describes it.",
                {k: c.get(k) for k in ("rows", "min", "max", "mean", "source_min", "source_max", "outside_declared",
                                       "outside_share", "null_rate")}, table, c["column"]))
        if c.get("distribution_gap", 0.0) > GAP_WARN:
            out.append(_finding(
                "warning", f"{table}.{c['column']}: a category's share differs from its declared weight by "
                f"{_pct(c['distribution_gap'])}", "drift",
                "Check the column's choice weights in the spec against the data.",
                {"distribution_gap": c["distribution_gap"], "rows": c["rows"]}, table, c["column"]))
        if c.get("untrimmed"):
            out.append(_finding(
                "warning", f"{table}.{c['column']}: {c['untrimmed']} Silver values keep leading or trailing "
                "whitespace", "rule_misses_pattern", "Check the trim rule of the cleaning engine.",
                {"untrimmed": c["untrimmed"], "rows": c["rows"]}, table, c["column"]))
    return out


def _gold(r: dict) -> list[dict]:
    if not r.get("available"):
        return [_finding("info", "Gold dbt test results not available", "gold_test_failure",
                         "Materialise Gold for this partition to have its dbt tests read.", {"note": r.get("note")})]
    if r["failed"]:
        names = ", ".join(f"{f['asset']}:{f['check']}" for f in r["failures"][:5])
        return [_finding("critical", f"{r['failed']} of {r['tests']} Gold dbt tests failed ({names})",
                         "gold_test_failure", "Open the failing checks in the UI; fix Silver or the model.", r)]
    return []


def _ratio_off(current, base) -> bool:
    if current is None or not base:
        return False
    return current > base * DRIFT_RATIO or current < base / DRIFT_RATIO


def _drift(r: dict) -> list[dict]:
    if not r.get("jobs"):
        return []
    cur, base, n = r["current"], r["baseline"], len(r["jobs"])
    out = []
    rate_changed = _ratio_off(cur["declared_error_rate"], base["declared_error_rate"])
    if rate_changed or _ratio_off(cur["dirty_share"], base["dirty_share"]):
        out.append(_finding(
            "warning", f"error rate {cur['declared_error_rate']} (dirty share {_pct(cur['dirty_share'])}) against "
            f"a median of {base['declared_error_rate']} ({_pct(base['dirty_share'])}) over {n} earlier jobs",
            "generator_error_profile" if rate_changed else "drift",
            "The spec's error_rate changed: expect more quarantine and repairs; confirm the change was meant.",
            {"current": cur["declared_error_rate"], "baseline": base["declared_error_rate"],
             "dirty_share": cur["dirty_share"], "baseline_dirty_share": base["dirty_share"], "jobs": n}))
    if _ratio_off(cur["quarantine_share"], base["quarantine_share"]) \
            and abs(cur["quarantine_share"] - base["quarantine_share"]) > 0.05:
        out.append(_finding(
            "warning", f"quarantine share {_pct(cur['quarantine_share'])} against a median of "
            f"{_pct(base['quarantine_share'])} over {n} earlier jobs",
            "generator_error_profile" if rate_changed else "drift",
            "See the quarantine findings for the tables that moved.",
            {"current": cur["quarantine_share"], "baseline": base["quarantine_share"], "jobs": n}))
    if _ratio_off(cur.get("missed_share"), base.get("missed_share")) and cur.get("missed_share", 0) > 0.01:
        out.append(_finding(
            "warning", f"missed errors {_pct(cur['missed_share'])} against a median of "
            f"{_pct(base['missed_share'])} over {n} earlier jobs", "drift",
            "Cleaning got worse than before: see the accuracy findings.",
            {"current": cur["missed_share"], "baseline": base["missed_share"], "jobs": n}))
    for table, v in cur["rows_per_anchor"].items():
        b = base["rows_per_anchor"].get(table)
        if b and abs(v - b) / b > 0.2:
            out.append(_finding(
                "warning", f"{table}: {v} rows per anchor row against a median of {b} over {n} earlier jobs",
                "drift", "The table's size relative to the anchor changed: check the spec's rows for it.",
                {"current": v, "baseline": b, "jobs": n}, table))
    return out


def summary_line(key: str, findings: list[dict]) -> str:
    counts = {s: sum(f["severity"] == s for f in findings) for s in SEVERITIES}
    verdict = "not trustworthy" if counts["critical"] else "trustworthy"
    head = f"{key}: {verdict}: {counts['critical']} critical, {counts['warning']} warning, {counts['info']} info"
    worst = next((f for f in findings if f["severity"] != "info"), None)
    return head + (f"; first: {worst['title']}" if worst else "")
