"""A job's outcome in one document: rows per layer, cleaning accuracy, where the marts are."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb

from .cleaning.publish import require_silver
from .generation.bronze import read_manifest
from .storage.base import Storage

GOLD_MARTS = ("dim_users", "dim_location", "dim_time", "dim_products", "fact_orders", "agg_user_metrics",
              "agg_product_metrics", "agg_daily_sales")


def _ledger_lines(summary: dict, acc: dict) -> list[str]:
    lines = [(f"Cleaning accuracy ({summary['cleaning_engine']}, {summary['cleaning_seconds']:.1f}s) "
              f"against {summary['injected_errors']:,} injected errors:"),
             f"{'error kind':<20}{'injected':>10}{'repaired':>10}{'nulled':>9}{'quarant.':>10}{'missed':>8}"]
    for kind, k in acc["kinds"].items():
        lines.append(f"{kind:<20}{k['injected']:>10,}{k['repaired']:>10,}{k['nulled']:>9,}{k['quarantined']:>10,}"
                     f"{k['missed']:>8,}")
    return lines + [(f"clean values wrongly changed: {acc['wrongly_changed']:,} of {acc['clean_cells']:,}; "
                     f"clean rows wrongly quarantined: {acc['wrongly_quarantined']:,} of {acc['clean_rows']:,}"),
                    (f"held back with a quarantined parent: {acc['quarantined_with_parent']:,} rows, "
                     f"{acc['nulled_with_parent']:,} optional references; accuracy check "
                     f"{'PASSED' if acc['passed'] else 'FAILED: ' + '; '.join(acc['failures'])}"), ""]


def _oracle_lines(summary: dict, acc: dict) -> list[str]:
    """Bronze without a ledger: what the rules did, and how many Silver values fail the oracles."""
    lines = [f"Cleaning ({summary['cleaning_engine']}, {summary['cleaning_seconds']:.1f}s), {acc['note']}:",
             f"{'rule':<20}{'repaired':>10}{'nulled':>9}{'quarant.':>10}"]
    for rule, k in sorted(acc["rules"].items()):
        lines.append(f"{rule:<20}{k['repaired']:>10,}{k['nulled']:>9,}{k['quarantined']:>10,}")
    lines.append(f"{'oracle check':<36}{'checked':>10}{'invalid':>9}")
    for c in acc["oracles"]["checks"]:
        lines.append(f"{c['table'] + '.' + c['column'] + ' ' + c['check']:<36}{c['checked']:>10,}{c['invalid']:>9,}")
    return lines + [f"accuracy check {'PASSED' if acc['passed'] else 'FAILED: ' + '; '.join(acc['failures'])}", ""]


def gold_counts(warehouse: Path, user: str, job: str) -> dict[str, int]:
    if not warehouse.exists():
        return {}
    out = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        present = {r[0] for r in con.sql("SELECT table_name FROM information_schema.tables").fetchall()}
        for mart in GOLD_MARTS:
            if mart in present:
                out[mart] = con.execute(
                    f"SELECT count(*) FROM {mart} WHERE pipeline_user = ? AND pipeline_job = ?", [user, job]
                ).fetchone()[0]
    return out


def build_summary(storage: Storage, warehouse: Path, user: str, job: str) -> dict:
    manifest = read_manifest(storage, user, job)
    if manifest is None:
        raise FileNotFoundError(f"no Bronze for {user}.{job}")
    current = require_silver(storage, user, job)
    cleaning = json.loads(storage.get_bytes(current.cleaning_report))
    accuracy = json.loads(storage.get_bytes(current.accuracy_report))
    return {
        "user": user, "job": job, "spec": manifest.spec_name, "seed": manifest.data.get("seed"),
        "anchor_rows": manifest.data.get("anchor_rows"),
        "bronze": {t: v["bronze_rows"] for t, v in cleaning["tables"].items()},
        "injected_errors": manifest.ledger["rows"] if manifest.ledger else None,
        "silver": {t: v["silver_rows"] for t, v in cleaning["tables"].items()},
        "quarantine": {t: v["quarantined_rows"] for t, v in cleaning["tables"].items()},
        "cleaning_engine": cleaning["engine"], "cleaning_seconds": cleaning["seconds"],
        "accuracy": accuracy,
        "gold": gold_counts(warehouse, user, job),
        "locations": {"storage": storage.location, "warehouse": str(warehouse)},
    }


def render(summary: dict) -> str:
    rows = summary["anchor_rows"]
    lines = [(f"Job {summary['user']}.{summary['job']}  spec={summary['spec']}"
              + ("" if rows is None else f" seed={summary['seed']} rows={rows:,}")), "",
             f"{'table':<14}{'bronze':>11}{'silver':>11}{'quarantine':>12}"]
    for t, n in summary["bronze"].items():
        lines.append(f"{t:<14}{n:>11,}{summary['silver'].get(t, 0):>11,}{summary['quarantine'].get(t, 0):>12,}")
    acc = summary["accuracy"]
    lines += [""] + (_ledger_lines(summary, acc) if acc.get("ledger", True) else _oracle_lines(summary, acc))
    lines += ["Gold marts (" + summary["locations"]["warehouse"] + "):"]
    lines += [f"  {m:<22}{n:>10,}" for m, n in summary["gold"].items()]
    lines.append(f"Storage: {summary['locations']['storage']}")
    return "\n".join(lines)
