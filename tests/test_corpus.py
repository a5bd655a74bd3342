"""The real-world messy-value corpus (tests/corpus/*.yaml) through every cleaning engine.

Expected outcomes were written down before the library-backed cleaning rules (issue 10) existed. All corpus
columns are optional, so every case must reach Silver: a repair gives the expected canonical value, an
invalid or ambiguous value gives null. A non-null value that differs from the expected one is a silently
wrong value, the worst outcome, and fails `test_no_silently_wrong_value`; a null where a repair was expected
fails `test_repaired` separately, so both kinds of miss show per case and per engine. A small run with
required columns checks that invalid and ambiguous values quarantine the row and name the column.
"""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from orchestrator_assets.cleaning.catalogue import plan_table
from orchestrator_assets.cleaning.engines import ENGINES
from orchestrator_assets.generation.spec import parse_spec
from tests.support.corpus import columns, load_cases, spec_dict

CASES = load_cases()
COLUMNS = columns(CASES)
VALUE_CASES = [c for c in CASES if c.value is not None]
ENGINE_NAMES = sorted(ENGINES)


def bronze(rows: list[dict[str, str | None]]) -> pa.Table:
    """Bronze as the loaders write it: every column text, plus the row number and the malformed-line slot."""
    names = ["row_id", *COLUMNS]
    table = {c: pa.array([r.get(c) for r in rows], pa.string()) for c in names}
    table["_bronze_row"] = pa.array(range(len(rows)), pa.int64())
    table["_malformed"] = pa.array([None] * len(rows), pa.string())
    return pa.table(table)


def once(fn):
    """Memoise per engine, failures too: an engine that crashes on the corpus must not be re-run per case."""
    memo = {}

    def run(engine: str):
        if engine not in memo:
            try:
                memo[engine] = (True, fn(engine))
            except Exception as err:  # noqa: BLE001 - kept and re-raised for every test that needs it
                memo[engine] = (False, err)
        ok, outcome = memo[engine]
        if not ok:  # short report: a chained traceback per case makes pytest take minutes to print
            pytest.fail(f"{engine}: clean_table failed on the corpus: {outcome!r}", pytrace=False)
        return outcome

    return run


@once
def corpus_result(engine: str):
    """One clean_table call per engine for the whole corpus (Spark is slow): one row per case."""
    spec = parse_spec(spec_dict(CASES, required=False))
    rows = [{"row_id": str(i), case.column: case.input} for i, case in enumerate(CASES, start=1)]
    result = ENGINES[engine]().clean_table(bronze(rows), plan_table(spec, "cases"), {})
    silver = {row["row_id"]: row for row in result.silver.to_pylist()}
    return silver, result.quarantine.to_pylist()


ROW_OF = {case.id: i for i, case in enumerate(CASES, start=1)}


def silver_value(engine: str, case):
    row = corpus_result(engine)[0].get(ROW_OF[case.id])
    return None if row is None else row[case.column]


def as_text(case, value) -> str:
    """A Silver value in the corpus's canonical text form, so it compares with the expected text."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ") if case.type == "timestamp" else f"datetime {value.isoformat()}"
    if isinstance(value, dt.date):
        return value.isoformat() if case.type == "date" else f"date {value.isoformat()}"
    return value if isinstance(value, str) else repr(value)


def matches(case, value) -> bool:
    if case.type == "float":
        return isinstance(value, float) and value == float(case.value)
    if case.type == "int":
        return isinstance(value, int) and not isinstance(value, bool) and value == int(case.value)
    return as_text(case, value) == case.value


@pytest.fixture(params=ENGINE_NAMES, scope="module")
def engine(request):
    return request.param


def test_every_case_reaches_silver(engine):
    silver, quarantine = corpus_result(engine)
    missing = [case.describe() for i, case in enumerate(CASES, start=1) if i not in silver]
    reasons = sorted({f"{q.get('_column')}: {q.get('_reason')}" for q in quarantine})
    assert not missing and not quarantine, (f"{engine}: {len(missing)} cases missing from Silver although every "
                                            f"corpus column is optional, e.g. {missing[:5]}; reasons {reasons[:10]}")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_no_silently_wrong_value(engine, case):
    value = silver_value(engine, case)
    if value is None:
        return  # right (null expected) or a missed repair, which test_repaired reports
    assert case.value is not None, (f"{engine}: SILENTLY WRONG {case.describe()} -> {as_text(case, value)!r}; "
                                    f"expected null ({case.outcome}: {case.note})")
    assert matches(case, value), (f"{engine}: SILENTLY WRONG {case.describe()} -> {as_text(case, value)!r}; "
                                  f"expected {case.value!r} ({case.note})")


@pytest.mark.parametrize("case", VALUE_CASES, ids=lambda c: c.id)
def test_repaired(engine, case):
    assert silver_value(engine, case) is not None, (f"{engine}: repair missed {case.describe()} -> null; "
                                                    f"expected {case.value!r} ({case.note})")


def test_engines_agree_on_every_case():
    results = {name: corpus_result(name)[0] for name in ENGINE_NAMES}
    differences = []
    for i, case in enumerate(CASES, start=1):
        seen = {name: (type(rows[i][case.column]).__name__, rows[i][case.column]) if i in rows else "quarantined"
                for name, rows in results.items()}
        if len(set(map(repr, seen.values()))) > 1:
            differences.append(f"{case.describe()}: {seen}")
    assert not differences, f"{len(differences)} cases differ between engines:\n" + "\n".join(differences[:40])


# ---- required columns: invalid and ambiguous values quarantine the row -------------------------------
def pick(column: str, outcome: str):
    """A clear case of the column: canonical input for a clean value, no doubtful (UNSURE) case for a bad one."""
    found = [c for c in CASES if c.column == column and c.outcome == outcome and c.input.strip()
             and "UNSURE" not in c.note]
    return next((c for c in found if c.input == c.value), found[0] if found else None)


CLEAN = {name: pick(name, "value") for name in COLUMNS}
CURRENCY = next(c for c in CASES if c.column == "amount" and c.input == "€12.50")  # reason "in EUR, not USD"
BAD = [case for name in COLUMNS for case in (pick(name, "invalid"), pick(name, "ambiguous")) if case] + [CURRENCY]


@once
def required_result(engine: str):
    spec = parse_spec(spec_dict(CASES, required=True))
    clean = {name: case.input for name, case in CLEAN.items()}
    rows = [{"row_id": "1", **clean}]
    rows += [{**clean, "row_id": str(i), case.column: case.input} for i, case in enumerate(BAD, start=2)]
    result = ENGINES[engine]().clean_table(bronze(rows), plan_table(spec, "cases"), {})
    silver = {row["row_id"]: row for row in result.silver.to_pylist()}
    quarantine = {int(q["row_id"]): q for q in result.quarantine.to_pylist()}
    return silver, quarantine


def test_required_columns_keep_a_clean_row(engine):
    silver, _ = required_result(engine)
    assert list(silver) == [1], f"{engine}: only the clean row belongs in Silver, got rows {sorted(silver)}"
    wrong = {name: silver[1][name] for name, case in CLEAN.items() if not matches(case, silver[1][name])}
    assert not wrong, f"{engine}: clean values changed: {wrong}"


def test_required_columns_quarantine_invalid_and_ambiguous_values(engine):
    _, quarantine = required_result(engine)
    problems = []
    for i, case in enumerate(BAD, start=2):
        q = quarantine.get(i)
        reason = "" if q is None else str(q.get("_reason") or "")
        if q is None:
            problems.append(f"{case.describe()} ({case.outcome}) was not quarantined")
        elif case.column not in reason:
            problems.append(f"{case.describe()}: the reason {reason!r} does not name the column {case.column}")
        elif (case.outcome == "ambiguous") != ("ambiguous" in reason.lower()):
            problems.append(f"{case.describe()}: the reason {reason!r} should say whether the value is ambiguous "
                            f"(expected {case.outcome})")
        if case == CURRENCY and "in EUR, not USD" not in reason:
            problems.append(f"{case.describe()}: the reason {reason!r} should say 'in EUR, not USD'")
    assert not problems, f"{engine}:\n" + "\n".join(problems)
