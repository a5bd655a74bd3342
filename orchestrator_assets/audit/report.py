"""The audit report as Markdown for the Dagster UI: a summary line, the findings table, the evidence."""
from __future__ import annotations

import json

ICON = {"critical": "🔴 critical", "warning": "🟠 warning", "info": "ℹ️ info"}


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(report: dict) -> str:
    lines = [f"**{_cell(report['summary'])}**", "",
             f"Planner: {report['planner']}, {report['steps']} tool calls, {report['seconds']} s.", ""]
    findings = report["findings"]
    if findings:
        lines += ["| severity | finding | likely cause | recommended action |", "|---|---|---|---|"]
        lines += [f"| {ICON[f['severity']]} | {_cell(f['title'])} | {_cell(f['cause_text'])} | {_cell(f['action'])} |"
                  for f in findings]
    else:
        lines.append("No findings.")
    narrative = report.get("narrative")
    if narrative and (narrative.get("summary") or narrative.get("findings")):
        lines += ["", "### Narrative (model, numbers checked against the evidence)", "", narrative.get("summary", "")]
        lines += [f"- **{_cell(f.get('title', ''))}** ({f.get('severity', '?')}): {_cell(f.get('evidence', ''))}"
                  for f in narrative.get("findings", [])]
    if report.get("dropped"):
        lines += ["", f"{len(report['dropped'])} model statement(s) dropped: numbers not found in the evidence."]
    for f in findings:
        if f["severity"] == "info":
            continue
        lines += ["", f"#### {_cell(f['title'])}", "", "```json", json.dumps(f["evidence"], default=str)[:1500], "```"]
        if f["samples"]:
            lines += ["Sample rows:", "```json", json.dumps(f["samples"], default=str)[:1500], "```"]
    return "\n".join(lines)
