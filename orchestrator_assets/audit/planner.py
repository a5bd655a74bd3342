"""The deterministic planner: which tool to run next, from what the evidence so far shows."""
from __future__ import annotations

from .findings import COLUMN_WARN
from .tools import Partition, parent_of

# Cheap overview tools every investigation starts with, whoever plans the rest.
BASELINE = ("check_results", "accuracy_by_kind", "quarantine_by_rule", "compare_earlier", "gold_tests")


def _call(tool: str, **args) -> dict:
    return {"tool": tool, "args": args}


def _done(evidence: list[dict]) -> set[str]:
    return {call_id(e) for e in evidence}


def call_id(call: dict) -> str:
    args = ",".join(f"{k}={call['args'][k]}" for k in sorted(call["args"]))
    return f"{call['tool']}({args})"


def candidates(p: Partition, evidence: list[dict]) -> list[dict]:
    """Follow-ups in priority order: what explains the worst signal first."""
    first = {e["tool"]: e["result"] for e in reversed(evidence)}
    out: list[dict] = []
    acc = first.get("accuracy_by_kind", {})
    if acc.get("available"):
        missed = {k for k, v in acc["kinds"].items() if v["missed_rate"] > acc["bar_missed_rate"]}
        # A missed error kind: the dirty values that reached Silver, then the profiles of the tables it is in.
        out += [_call("missed_samples", kind=k) for k in sorted(missed)]
        for table, t in p.spec.tables.items():
            if any(e.value in missed for c in t.columns.values() for e in c.errors):
                out.append(_call("column_profiles", table=table))
    quarantine = first.get("quarantine_by_rule")
    if quarantine:
        for row in quarantine["rules"]:
            if row["cascade"] > 0.05 * quarantine["tables"][row["table"]]["bronze_rows"]:
                # A foreign-key quarantine: is the parent itself held back (an orphan cascade)?
                parent = parent_of(p, row["table"], row["column"])
                own = [x for x in quarantine["rules"] if x["table"] == parent
                       and x["rule"] not in ("dedup_exact", "dedup_key")]
                if own:
                    top = max(own, key=lambda x: x["rows"])
                    out.append(_call("quarantine_sample", table=parent, rule=top["rule"], column=top["column"]))
            elif row["share"] > COLUMN_WARN and row["rule"] not in ("dedup_exact", "dedup_key"):
                out.append(_call("quarantine_sample", table=row["table"], rule=row["rule"], column=row["column"]))
    # Then every table's profile, largest share of quarantine first.
    shares = {t: v["share"] for t, v in (quarantine or {"tables": {}})["tables"].items()}
    for table in sorted(p.manifest.tables, key=lambda t: -shares.get(t, 0)):
        out.append(_call("column_profiles", table=table))
    return out


def next_call(p: Partition, evidence: list[dict]) -> dict | None:
    done = _done(evidence)
    for call in [_call(t) for t in BASELINE] + candidates(p, evidence):
        if call_id(call) not in done:
            return call
    return None

