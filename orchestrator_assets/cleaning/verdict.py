"""The `cleaning_accuracy` verdict of one published Silver version, and the accuracy report it writes.

With a ledger (Bronze the generator wrote), the verdict is the ledger comparison of accuracy.py, which DuckDB
runs here over the files as they lie (the ledger, the Bronze parts, the published Silver and quarantine), in
bounded memory with a spill directory; the oracle figures are added to the report. Without one (Bronze dropped in
by hand, or imported) there is no truth to compare with: the verdict is the oracle checks of oracles.py alone,
next to the per-rule counts of the cleaning report (values repaired, nulled, rows quarantined).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..generation.bronze import Manifest
from ..settings import duckdb_limits, memory_bytes
from ..storage.base import Storage
from .accuracy import AccuracyReport, measure, relation
from .catalogue import plan_table
from .engine import silver_schema, staged_schema, sum_by_rule
from .oracles import OracleReport, check_silver
from .publish import SilverVersion
from .sql_rules import Dialect

NO_LEDGER = "no ledger: oracle checks only"
# Memory an accuracy query needs per line of its table: a table with more lines than the memory limit allows is
# measured in parts by key (accuracy.measure), each part joining its share of the keys. Measured: a 2M-order job
# (5M order_items lines) measured in one part per table within 400 MB, about 84 bytes a line.
ACCURACY_BYTES_PER_LINE = 100


@dataclass
class Verdict:
    passed: bool
    description: str | None
    report: dict  # written as the version's accuracy.json
    oracles: OracleReport
    ledger: AccuracyReport | None  # None without a ledger

    def to_json(self) -> dict:
        return {"passed": self.passed, "description": self.description, "report": self.report}

    @classmethod
    def from_json(cls, data: dict) -> Verdict:
        report = data["report"]
        return cls(data["passed"], data["description"], report, OracleReport.from_json(report["oracles"]),
                   AccuracyReport.from_json(report) if report["ledger"] else None)


def oracle_report(storage: Storage, manifest: Manifest, current: SilverVersion) -> OracleReport:
    keys = {t: current.key(t) for t in manifest.tables if f"{t}/silver" in current.objects}
    with storage.local_view(list(keys.values())) as root:
        return check_silver(manifest.spec, {t: root / k for t, k in keys.items()})


def ledger_accuracy(storage: Storage, manifest: Manifest, current: SilverVersion) -> AccuracyReport:
    """The published Silver of the partition against its ledger and Bronze, computed by DuckDB in the files."""
    tables = list(manifest.tables)
    silver = {t: current.key(t) for t in tables}
    quarantine = {t: current.key(t, "quarantine") for t in tables}
    keys = [manifest.ledger["key"], *(k for t in tables for k in manifest.parts(t)), *silver.values(),
            *quarantine.values()]
    with storage.local_view(keys) as root, storage.scratch() as spill:
        return accuracy_of_files(manifest, root / manifest.ledger["key"],
                                 {t: [root / k for k in manifest.parts(t)] for t in tables},
                                 {t: root / k for t, k in silver.items()}, {t: root / k for t, k in quarantine.items()},
                                 spill)


def accuracy_of_files(manifest: Manifest, ledger: Path, bronze: Mapping[str, Sequence[Path]],
                      silver: Mapping[str, Path], quarantine: Mapping[str, Path], spill: Path) -> AccuracyReport:
    """As ledger_accuracy, over local files: per table its Bronze parts (in order), Silver and quarantine;
    spill: where DuckDB writes what exceeds its memory limit."""
    d = Dialect()
    # DuckDB's cache of file blocks is off: over a partition's queries it kept Parquet blocks pinned until a
    # query failed at the memory limit (2M orders, 800 MB, parts of 400k lines), for about 10% more time.
    limits = {**duckdb_limits(spill), "enable_external_file_cache": False}
    lines = max(1, memory_bytes(limits["memory_limit"]) // ACCURACY_BYTES_PER_LINE)
    parts = {t: max(1, -(-(manifest.rows(t) or 0) // lines)) for t in silver}
    con = duckdb.connect(config=limits)
    parsed: list[str] = []

    def prepare(table: str) -> None:
        # Line numbers as integrity.read_bronze counts them: the parts in order, lines in order. Parsed once,
        # into a temporary table that DuckDB spills past its limit. Read inside each query instead, the lines
        # kept their order through its joins: 4x the time at 2M orders, and out of memory at a 4 GiB limit.
        # One table at a time: all of a 10M-order job's at once spilled 22 GB.
        columns = manifest.columns(table)
        typed = "{" + ", ".join(f"{d.lit(c)}: 'VARCHAR'" for c in columns) + "}"
        files = "[" + ", ".join(d.lit(p) for p in bronze[table]) + "]"
        if parsed:
            con.execute(f"DROP TABLE {d.q(relation('bronze', parsed.pop()))}")
        parsed.append(table)
        con.execute(f"CREATE TEMP TABLE {d.q(relation('bronze', table))} AS SELECT "
                    f"{', '.join(d.q(c) for c in columns)}, row_number() OVER () - 1 AS _bronze_row "
                    f"FROM read_json({files}, format='newline_delimited', columns={typed})")

    try:
        con.execute(f"CREATE VIEW ledger AS SELECT * FROM read_parquet({d.lit(ledger)})")
        for table in silver:
            con.execute(f"CREATE VIEW {d.q(relation('silver', table))} AS SELECT *, file_row_number AS "
                        f"_silver_row FROM read_parquet({d.lit(silver[table])}, file_row_number=true)")
            con.execute(f"CREATE VIEW {d.q(relation('quarantine', table))} AS SELECT * FROM "
                        f"read_parquet({d.lit(quarantine[table])})")
        return measure(lambda sql: con.execute(sql).fetchall(), manifest.spec, list(silver), d, parts.get, prepare)
    finally:
        con.close()


def judge(storage: Storage, manifest: Manifest, current: SilverVersion, rules: list[dict]) -> Verdict:
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
    found = ledger_accuracy(storage, manifest, current)
    failures = found.failures()
    report = {**found.to_json(), "ledger": True, **counts}
    return Verdict(not failures, "; ".join(failures) or None, report, oracles, found)


def checked_silver(storage: Storage, manifest: Manifest, current: SilverVersion, rules: list[dict]) -> dict:
    """All the Silver step's checks need of a published version, as JSON: the verdict and the per-table facts.
    Computed where the data is: by the local step, or on the cluster, which sends back only this."""
    return {"version": current.version, "verdict": judge(storage, manifest, current, rules).to_json(),
            "facts": table_facts(storage, manifest, current),
            "quarantine": quarantine_counts(storage, current, manifest.tables)}


def table_facts(storage: Storage, manifest: Manifest, current: SilverVersion) -> dict[str, dict]:
    """Per Silver table: its footer schema, whether that is the contract's, and its rows minus distinct keys."""
    out = {}
    for table in manifest.tables:
        plan = plan_table(manifest.spec, table)
        expected = staged_schema(silver_schema(plan))
        schema, dupes = file_facts(storage, current.key(table), plan.primary_key)
        out[table] = {"schema": str(schema), "schema_matches": schema.equals(expected), "duplicate_keys": dupes}
    return out


def file_facts(store: Storage, key: str, primary_key: str) -> tuple[pa.Schema, int]:
    """The published file's schema (from the Parquet footer) and its rows minus distinct keys (counted by DuckDB;
    a null key counts as a duplicate too), from one local view of the file: no table is read into memory."""
    with store.local_view([key]) as root, store.scratch() as spill:
        path = root / key
        schema = pq.read_schema(path).remove_metadata()
        con = duckdb.connect(config=duckdb_limits(spill))
        try:
            column = Dialect().q(primary_key)
            dupes = con.execute(f"SELECT COUNT(*) - COUNT(DISTINCT {column}) FROM read_parquet(?)",
                                [str(path)]).fetchone()[0]
        finally:
            con.close()
    return schema, dupes


def quarantine_counts(storage: Storage, current: SilverVersion, tables: Iterable[str]) -> list[tuple[str, str, str, int]]:
    """(table, rule, column, rows) of the published quarantine, most rows first; a row-level rule has no column.
    Counted by DuckDB in the Parquet files: no quarantine table is read into memory."""
    keys = {t: current.key(t, "quarantine") for t in tables}
    out = []
    with storage.local_view(list(keys.values())) as root, duckdb.connect() as con:
        for table, key in keys.items():
            groups = con.execute("SELECT _rule, _column, count(*) FROM read_parquet(?) GROUP BY _rule, _column",
                                 [str(root / key)]).fetchall()
            out += [(table, rule, column or "(row)", n) for rule, column, n in groups]
    return sorted(out, key=lambda r: (-r[3], r[0], r[1], r[2]))
