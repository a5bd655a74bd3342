"""The auditor's tools: deterministic looks at one partition, each returning JSON-able evidence.

Reports are read whole (they are small); Silver and quarantine Parquet are only ever scanned by DuckDB
aggregates and LIMITed samples, so a 1M-order partition is never loaded into Python.
"""
from __future__ import annotations

import statistics
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import duckdb
import pyarrow.parquet as pq

from ..cleaning.accuracy import MAX_MISSED_RATE
from ..generation.spec import Choice, DatetimeRange, FloatRange, IntRange, references
from ..ids import partition_key
from ..storage.base import Storage
from . import facts

CASCADE_REASON = "row is quarantined"  # the foreign_key rule's reason when the parent row was held back
# Generator error kind -> the cleaning rules that should repair or catch it (docs/cleaning.md).
RULES_FOR_KIND = {
    "whitespace": ["trim"], "wrong_case": ["case_fold"], "email_case": ["email"], "invalid_email": ["email"],
    "phone_format": ["phone_e164"], "malformed_phone": ["phone_e164"], "date_format": ["parse_timestamp"],
    "unparseable_date": ["parse_timestamp"], "date_out_of_range": ["date_range"], "out_of_range": ["numeric_range"],
    "negative_amount": ["numeric_range"], "number_as_string": ["parse_number"], "missing": ["required"],
    "empty_string": ["blank_to_null"], "orphan_fk": ["foreign_key"], "exact_duplicate": ["dedup_exact"],
    "near_duplicate": ["dedup_key"],
}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: Any) -> str:
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class Partition:
    """One (user, job) partition's facts, read lazily; tools share the reads and the local Parquet view."""

    store: Storage
    user: str
    job: str
    instance: Any = None  # a DagsterInstance, for the Gold dbt test results
    _stack: ExitStack = field(default_factory=ExitStack, repr=False)

    @property
    def key(self) -> str:
        return partition_key(self.user, self.job)

    @cached_property
    def manifest(self):
        found = facts.bronze_manifest(self.store, self.user, self.job)
        if found is None:
            raise FileNotFoundError(f"no Bronze manifest for {self.key}: nothing to audit")
        return found

    @cached_property
    def spec(self):
        return self.manifest.spec

    @cached_property
    def cleaning(self) -> dict:
        found = facts.cleaning_report(self.store, self.user, self.job)
        if found is None:
            raise FileNotFoundError(f"no cleaning report for {self.key}: materialise Silver first")
        return found

    @cached_property
    def accuracy(self) -> dict | None:
        return facts.accuracy_report(self.store, self.user, self.job)

    @cached_property
    def files(self) -> dict:
        return self._stack.enter_context(facts.silver_files(self.store, self.manifest))

    def sql(self, query: str) -> list[tuple]:
        con = duckdb.connect()
        try:
            return con.execute(query).fetchall()
        finally:
            con.close()

    def close(self) -> None:
        self._stack.close()


def check_results(p: Partition) -> dict:
    """The Silver step's checks, re-derived from its reports: rows reconcile per table, the accuracy bar."""
    tables = {}
    for name, t in p.cleaning["tables"].items():
        tables[name] = {"bronze_rows": t["bronze_rows"], "silver_rows": t["silver_rows"],
                        "quarantined_rows": t["quarantined_rows"],
                        "unaccounted": t["bronze_rows"] - t["silver_rows"] - t["quarantined_rows"]}
    acc = p.accuracy
    return {"tables": tables, "engine": p.cleaning.get("engine"),
            "accuracy_available": acc is not None,
            "accuracy_passed": None if acc is None else acc["passed"],
            "accuracy_failures": [] if acc is None else acc["failures"],
            "wrongly_changed": None if acc is None else acc.get("wrongly_changed"),
            "wrongly_quarantined": None if acc is None else acc.get("wrongly_quarantined")}


def accuracy_by_kind(p: Partition) -> dict:
    """Per injected error kind: how many were repaired, nulled, quarantined or missed."""
    if p.accuracy is None:
        return {"available": False, "note": "no accuracy report for this partition"}
    kinds = {k: {f: v[f] for f in ("injected", "repaired", "nulled", "quarantined", "missed", "missed_rate")}
             for k, v in p.accuracy.get("kinds", {}).items()}
    return {"available": True, "bar_missed_rate": MAX_MISSED_RATE, "kinds": kinds,
            "examples": p.accuracy.get("examples", [])[:5]}


def quarantine_by_rule(p: Partition) -> dict:
    """Quarantined rows per table, rule and column, with each one's share of the table's Bronze rows."""
    rows, tables = [], {}
    for table, path in p.files["quarantine"].items():
        bronze = p.cleaning["tables"][table]["bronze_rows"]
        found = p.sql(f"SELECT _rule, _column, count(*), count(*) FILTER (WHERE _reason LIKE '%{CASCADE_REASON}%') "
                      f"FROM read_parquet({_lit(str(path))}) GROUP BY ALL ORDER BY 3 DESC")
        total = sum(r[2] for r in found)
        # Duplicates and older versions are extra Bronze lines, not lost entities.
        held = sum(r[2] for r in found if r[0] not in ("dedup_exact", "dedup_key"))
        tables[table] = {"bronze_rows": bronze, "quarantined": total, "share": _share(total, bronze),
                         "entities_held": held, "entity_share": _share(held, bronze),
                         "cascade": sum(r[3] for r in found)}
        rows += [{"table": table, "rule": r[0], "column": r[1], "rows": r[2], "share": _share(r[2], bronze),
                  "cascade": r[3], "cascade_share": _share(r[3], bronze)} for r in found]
    return {"rules": rows, "tables": tables}


def quarantine_sample(p: Partition, table: str, rule: str, column: str | None = None, limit: int = 5) -> dict:
    """A few quarantined rows of one rule (and column), and the reasons it gave, most frequent first."""
    path = p.files["quarantine"].get(table)
    if path is None:
        return {"table": table, "error": f"no quarantine for table {table!r}"}
    where = f"_rule = {_lit(rule)}" + (f" AND _column = {_lit(column)}" if column else "")
    src = f"read_parquet({_lit(str(path))})"
    pk = p.spec.tables[table].primary_key
    shown = [pk] + ([column] if column and column != pk else [])
    limit = max(1, min(int(limit), 20))
    sample = p.sql(f"SELECT {', '.join(_q(c) for c in shown)}, _reason FROM {src} WHERE {where} "
                   f"ORDER BY _bronze_row LIMIT {limit}")
    reasons = p.sql(f"SELECT _reason, count(*) FROM {src} WHERE {where} GROUP BY 1 ORDER BY 2 DESC LIMIT 5")
    return {"table": table, "rule": rule, "column": column,
            "rows": [dict(zip([*shown, "_reason"], r)) for r in sample],
            "reasons": [{"reason": r[0], "rows": r[1]} for r in reasons]}


def missed_samples(p: Partition, kind: str, limit: int = 3) -> dict:
    """Ledger errors of one kind whose Silver value is neither the expected value nor null: dirty, clean and
    Silver value side by side, per table and column (a DuckDB join of the ledger with Silver)."""
    ledger = p.files["ledger"].get("ledger")
    if ledger is None:
        return {"kind": kind, "error": "no error ledger for this partition"}
    limit = max(1, min(int(limit), 10))
    # What Silver should hold; ledgers written before expected_value existed have only the clean value.
    expected = "l.expected_value" if "expected_value" in pq.read_schema(str(ledger)).names else "l.clean_value"
    pairs = p.sql(f"SELECT \"table\", \"column\", count(*) FROM read_parquet({_lit(str(ledger))}) "
                  f"WHERE error_kind = {_lit(kind)} AND \"column\" <> '*' GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10")
    rows = []
    for table, column, _ in pairs:
        silver = p.files["silver"].get(table)
        if silver is None or column not in p.spec.emitted(table):
            continue
        pk, c = _q(p.spec.tables[table].primary_key), _q(column)
        found = p.sql(
            f"SELECT l.row_key, l.dirty_value, l.clean_value, s.{c}::VARCHAR FROM read_parquet({_lit(str(ledger))}) l "
            f"JOIN read_parquet({_lit(str(silver))}) s ON s.{pk} = l.row_key "
            f"WHERE l.\"table\" = {_lit(table)} AND l.\"column\" = {_lit(column)} AND l.error_kind = {_lit(kind)} "
            f"AND s.{c} IS NOT NULL AND s.{c}::VARCHAR IS DISTINCT FROM {expected} ORDER BY l.row_key LIMIT {limit}")
        rows += [{"table": table, "column": column, "key": r[0], "dirty": r[1], "clean": r[2], "silver": r[3]}
                 for r in found]
    return {"kind": kind, "rows": rows}


def parent_of(p: Partition, table: str, column: str) -> str | None:
    return references(p.spec, table, column)


def _declared(col) -> dict:
    src = col.source
    out: dict[str, Any] = {}
    if col.min is not None or col.max is not None:
        out["valid_min"], out["valid_max"] = col.min, col.max
    if isinstance(src, (IntRange, FloatRange)):
        out["source_min"], out["source_max"] = src.min, src.max
    elif isinstance(src, DatetimeRange):
        out["source_min"], out["source_max"] = src.start, src.end
    elif isinstance(src, Choice):
        out["values"] = [str(v) for v in src.values]
        if src.weights:
            total = sum(src.weights)
            out["weights"] = {str(v): round(w / total, 4) for v, w in zip(src.values, src.weights)}
    return out


def column_profiles(p: Partition, table: str) -> dict:
    """Null rate, distinct count, min/max per Silver column (one DuckDB scan), against the spec's declared source."""
    path = p.files["silver"].get(table)
    if path is None:
        return {"table": table, "error": f"no Silver for table {table!r}"}
    spec_table = p.spec.tables[table]
    columns = p.spec.emitted(table)
    exprs, plan = ["count(*)"], []
    for name in columns:
        col, c = spec_table.columns[name], _q(name)
        declared = _declared(col)
        parts = [f"count({c})", f"approx_count_distinct({c})", f"min({c})::VARCHAR", f"max({c})::VARCHAR"]
        kind = col.type.value
        if kind in ("int", "float"):
            parts.append(f"avg({c})")
        if "source_min" in declared:
            lo, hi = declared["source_min"], declared["source_max"]
            if kind in ("date", "timestamp"):
                cond = f"{c} < TIMESTAMP {_lit(lo)} OR {c} >= TIMESTAMP {_lit(hi)}"
            else:
                cond = f"{c} < {_lit(lo)} OR {c} > {_lit(hi)}"
            parts.append(f"count(*) FILTER (WHERE {cond})")
        elif "values" in declared:
            parts.append(f"count(*) FILTER (WHERE {c} NOT IN ({', '.join(_lit(v) for v in declared['values'])}))")
        if kind in ("string", "enum", "email", "phone"):
            parts.append(f"count(*) FILTER (WHERE regexp_matches({c}, '^\\s|\\s$'))")
        plan.append((name, kind, declared, len(parts)))
        exprs += parts
    row = p.sql(f"SELECT {', '.join(exprs)} FROM read_parquet({_lit(str(path))})")[0]
    n, i, out = row[0], 1, []
    for name, kind, declared, width in plan:
        vals = row[i:i + width]
        i += width
        prof = {"column": name, "type": kind, "rows": n, "null_rate": _share(n - vals[0], n), "distinct": vals[1],
                "min": vals[2], "max": vals[3], **{k: v for k, v in declared.items() if k != "weights"}}
        rest = list(vals[4:])
        if kind in ("int", "float"):
            prof["mean"] = None if rest[0] is None else round(float(rest.pop(0)), 3)
        if "source_min" in declared or "values" in declared:
            outside = rest.pop(0)
            prof["outside_declared"], prof["outside_share"] = outside, _share(outside, vals[0])
        if kind in ("string", "enum", "email", "phone"):
            prof["untrimmed"] = rest.pop(0)
        if declared.get("weights"):
            prof["distribution_gap"] = _distribution_gap(p, path, name, declared["weights"])
        out.append(prof)
    return {"table": table, "rows": n, "columns": out}


def _distribution_gap(p: Partition, path, column: str, weights: dict[str, float]) -> float:
    """The largest difference between a value's observed share and its declared weight."""
    counts = dict(p.sql(f"SELECT {_q(column)}::VARCHAR, count(*) FROM read_parquet({_lit(str(path))}) "
                        f"WHERE {_q(column)} IS NOT NULL GROUP BY 1"))
    total = sum(counts.values()) or 1
    return round(max(abs(counts.get(v, 0) / total - w) for v, w in weights.items()), 4)


def gold_tests(p: Partition) -> dict:
    """The dbt tests of the partition's latest Gold build, as Dagster recorded them (asset check evaluations)."""
    if p.instance is None:
        return {"available": False, "note": "no Dagster instance given: Gold test results not read"}
    from dagster import DagsterEventType, RunsFilter

    runs = p.instance.get_runs(filters=RunsFilter(tags={"dagster/partition": p.key}), limit=50)
    for run in runs:  # newest first
        checks = []
        for event in p.instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
            ev = event.dagster_event.event_specific_data
            if ev.asset_key.path[0] == "gold":
                checks.append({"asset": ev.asset_key.to_user_string(), "check": ev.check_name, "passed": ev.passed})
        if checks:
            failed = [c for c in checks if not c["passed"]]
            return {"available": True, "run_id": run.run_id, "tests": len(checks), "failed": len(failed),
                    "failures": failed[:20]}
    return {"available": False, "note": f"no Gold dbt test results recorded for {p.key}"}


def _metrics(manifest: dict, cleaning: dict, accuracy: dict | None) -> dict:
    bronze = sum(t["bronze_rows"] for t in cleaning["tables"].values())
    quarantined = sum(t["quarantined_rows"] for t in cleaning["tables"].values())
    anchor = manifest.get("anchor_rows") or 1
    out = {"declared_error_rate": manifest.get("error_rate"),
           "dirty_share": _share((manifest.get("ledger") or {}).get("rows", 0), bronze),
           "quarantine_share": _share(quarantined, bronze),
           "rows_per_anchor": {t: round(v["bronze_rows"] / anchor, 4) for t, v in cleaning["tables"].items()},
           "quarantine_share_by_table": {t: _share(v["quarantined_rows"], v["bronze_rows"])
                                         for t, v in cleaning["tables"].items()}}
    if accuracy is not None:
        kinds = accuracy.get("kinds", {}).values()  # none without a ledger
        out["missed_share"] = _share(sum(k["missed"] for k in kinds), sum(k["injected"] for k in kinds))
    return out


def compare_earlier(p: Partition) -> dict:
    """This job against the same user's other jobs: rows per anchor row, error rates, quarantine shares."""
    current = _metrics(p.manifest.data, p.cleaning, p.accuracy)
    others = {}
    for job in facts.other_jobs(p.store, p.user, p.job):
        manifest = facts.bronze_manifest(p.store, p.user, job)
        cleaning = facts.cleaning_report(p.store, p.user, job)
        if manifest is not None and cleaning is not None:
            others[job] = _metrics(manifest.data, cleaning, facts.accuracy_report(p.store, p.user, job))
    if not others:
        return {"jobs": [], "current": current, "note": f"{p.user} has no other cleaned jobs to compare with"}
    base = {k: _median([o.get(k) for o in others.values()])
            for k in ("declared_error_rate", "dirty_share", "quarantine_share", "missed_share")}
    base["quarantine_share_by_table"] = {
        t: _median([o["quarantine_share_by_table"].get(t) for o in others.values()])
        for t in current["quarantine_share_by_table"]}
    base["rows_per_anchor"] = {t: _median([o["rows_per_anchor"].get(t) for o in others.values()])
                               for t in current["rows_per_anchor"]}
    return {"jobs": sorted(others), "current": current, "baseline": base}


def _median(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return round(statistics.median(vals), 4) if vals else None


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


TOOLS = {
    "check_results": check_results, "accuracy_by_kind": accuracy_by_kind, "quarantine_by_rule": quarantine_by_rule,
    "quarantine_sample": quarantine_sample, "missed_samples": missed_samples, "column_profiles": column_profiles, "gold_tests": gold_tests,
    "compare_earlier": compare_earlier,
}
