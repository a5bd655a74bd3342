"""The `cleaning_accuracy` verdict of one published Silver version, and the accuracy report it writes.

With a ledger (Bronze the generator wrote), the verdict is the ledger comparison of accuracy.py, as before, and
the oracle figures are added to the report. Without one (Bronze dropped in by hand, or imported) there is no
truth to compare with, so nothing is rebuilt: the verdict is the oracle checks of oracles.py alone, next to the
per-rule counts of the cleaning report (values repaired, nulled, rows quarantined).
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from ..generation.bronze import Manifest
from ..generation.generator import generate
from ..storage.base import Storage
from .accuracy import AccuracyReport, evaluate
from .engine import sum_by_rule
from .oracles import OracleReport, check_silver
from .publish import SilverVersion

NO_LEDGER = "no ledger: oracle checks only"


@dataclass
class Verdict:
    passed: bool
    description: str | None
    report: dict  # written as the version's accuracy.json
    oracles: OracleReport
    ledger: AccuracyReport | None  # None without a ledger


def oracle_report(storage: Storage, manifest: Manifest, current: SilverVersion) -> OracleReport:
    keys = {t: current.key(t) for t in manifest.tables if f"{t}/silver" in current.objects}
    with storage.local_view(list(keys.values())) as root:
        return check_silver(manifest.spec, {t: root / k for t, k in keys.items()})


def judge(storage: Storage, manifest: Manifest, current: SilverVersion, rules: list[dict],
          silver: dict[str, pa.Table], quarantine: dict[str, pa.Table]) -> Verdict:
    """rules: the cleaning report's per-rule rows ({table, rule, column, repaired, nulled, quarantined})."""
    oracles = oracle_report(storage, manifest, current)
    counts = {"rules": sum_by_rule(rules), "rules_by_column": rules, "oracles": oracles.to_json()}
    if manifest.ledger is None:
        failures = oracles.failures()
        checked = sum(c.checked for c in oracles.checks)
        description = f"{NO_LEDGER}: " + ("; ".join(failures) if failures else
                                          f"{len(oracles.checks)} checks over {checked:,} values, none invalid")
        report = {"ledger": False, "note": NO_LEDGER, "passed": oracles.passed, "failures": failures,
                  "kinds": {}, "examples": [], **counts}
        return Verdict(oracles.passed, description, report, oracles, None)
    data = manifest.data
    truth = generate(manifest.spec, data["anchor_rows"], data["seed"], manifest.user, manifest.job)
    found = evaluate(truth, silver, quarantine)
    failures = found.failures()
    report = {**found.to_json(), "ledger": True, **counts}
    return Verdict(not failures, "; ".join(failures) or None, report, oracles, found)
