"""Every rule of the catalogue on hand-made dirty inputs, through every engine."""
import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from orchestrator_assets.cleaning.catalogue import plan_table, table_order
from orchestrator_assets.cleaning.engine import ParentKeys
from orchestrator_assets.cleaning.engines import ENGINES
from orchestrator_assets.cleaning.rules import CATALOGUE
from orchestrator_assets.cleaning.rules.base import Rule
from orchestrator_assets.generation.spec import parse_spec

SPEC = parse_spec({
    "name": "rules", "anchor": "people",
    "tables": {
        "teams": {"rows": {"count": 3}, "primary_key": "team_id",
                  "columns": {"team_id": {"type": "id", "source": {"kind": "sequence"}}}},
        "people": {
            "rows": {"count": 10}, "primary_key": "person_id", "updated_at": "updated_at",
            "columns": {
                "person_id": {"type": "id", "source": {"kind": "sequence"}},
                "team_id": {"type": "id", "source": {"kind": "foreign_key", "table": "teams"}},
                "buddy_team": {"type": "id", "required": False,
                               "source": {"kind": "foreign_key", "table": "teams"}},
                "name": {"type": "string", "case": "proper", "source": {"kind": "faker", "provider": "first_name"}},
                "email": {"type": "email", "required": False,
                          "source": {"kind": "template", "template": "x{person_id}@example.com"}},
                "phone": {"type": "phone", "required": False, "source": {"kind": "phone"}},
                "status": {"type": "enum", "case": "lower", "source": {"kind": "choice", "values": ["active", "gone"]}},
                "age": {"type": "int", "required": False, "min": 13, "max": 120,
                        "source": {"kind": "int_range", "min": 20, "max": 60}},
                "amount": {"type": "float", "min": 0, "source": {"kind": "float_range", "min": 1, "max": 9}},
                "joined_at": {"type": "timestamp", "min": "2000-01-01", "max": "2030-01-01",
                              "source": {"kind": "datetime_range", "start": "2020-01-01", "end": "2021-01-01"}},
                "updated_at": {"type": "timestamp",
                               "source": {"kind": "after", "column": "joined_at", "max_hours": 10}},
            },
        },
    },
})
PLAN = plan_table(SPEC, "people")
GOOD = {"person_id": "1", "team_id": "1", "buddy_team": "2", "name": "Ann", "email": "ann@example.com",
        "phone": "+12025550143", "status": "active", "age": "30", "amount": "5.5",
        "joined_at": "2020-05-01 10:00:00", "updated_at": "2020-05-01 11:00:00"}
PARENTS = {"teams": ParentKeys(np.array([1, 2, 3]), np.array([4]))}
ENGINE = {}


@pytest.fixture(params=sorted(ENGINES), autouse=True)
def engine(request):
    """Each test below runs once per engine: the catalogue must mean the same everywhere."""
    ENGINE["current"] = ENGINES[request.param]()
    yield request.param
    ENGINE.clear()


def run(*rows, malformed=None):
    records = [{**GOOD, "person_id": str(i + 1), **r} for i, r in enumerate(rows)]
    cols = {c: pa.array([r.get(c) for r in records], pa.string()) for c in GOOD}
    cols["_bronze_row"] = pa.array(range(len(records)), pa.int64())
    cols["_malformed"] = pa.array(malformed or [None] * len(records), pa.string())
    result = ENGINE["current"].clean_table(pa.table(cols), PLAN, PARENTS)
    return result.silver.to_pylist(), result.quarantine.to_pylist(), result.stats.by_rule()


def cleaned(column, value):
    silver, quarantine, _ = run({column: value})
    assert not quarantine, quarantine
    return silver[0][column]


def quarantined(column, value):
    silver, quarantine, _ = run({column: value})
    assert not silver
    return quarantine[0]


def test_every_engine_implements_the_whole_catalogue(engine):
    assert ENGINE["current"].rules == frozenset(CATALOGUE)
    assert PLAN.rule_ids <= set(CATALOGUE)


def test_a_rule_missing_an_engine_familys_implementation_is_a_gap(engine, monkeypatch):
    class PandasOnly(Rule):
        id, checks, repair, on_failure = "pandas_only", "-", "-", "-"

        def pandas(self, t, col, step, s):
            return s

    monkeypatch.setitem(CATALOGUE, "pandas_only", PandasOnly())
    covered = ENGINE["current"].rules == frozenset(CATALOGUE)
    assert covered is (engine == "pandas")


def test_docs_say_for_every_rule_what_decides_it(engine):
    docs = (Path(__file__).parents[1] / "docs" / "cleaning.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in docs.splitlines() if line.startswith("| ")}
    for rule in CATALOGUE.values():
        assert rule.id in rows, rule.id
        assert rule.decided_by in rows[rule.id], rule.id


def test_clean_row_passes_untouched():
    silver, quarantine, stats = run({})
    assert quarantine == [] and len(silver) == 1
    assert silver[0]["joined_at"] == dt.datetime(2020, 5, 1, 10)
    assert all(v["repaired"] == 0 and v["quarantined"] == 0 for v in stats.values())


@pytest.mark.parametrize("value", ["  Ann", "Ann \n", "\tAnn"])
def test_trim(value):
    assert cleaned("name", value) == "Ann"


@pytest.mark.parametrize("value, expected", [("ANN", "Ann"), ("ann", "Ann"), ("McDonald", "McDonald"),
                                             ("o'neil", "O'Neil")])
def test_proper_case_only_touches_uniform_case(value, expected):
    assert cleaned("name", value) == expected


@pytest.mark.parametrize("value", ["ACTIVE", " Active ", "active"])
def test_enum_case_fold(value):
    assert cleaned("status", value) == "active"


def test_enum_outside_choices_quarantines_required_column():
    q = quarantined("status", "deleted")
    assert q["_rule"] == "accepted_values" and q["_column"] == "status" and q["status"] == "deleted"


@pytest.mark.parametrize("value, expected", [("Ann@Example.COM", "ann@example.com"), (" ann@example.com ", "ann@example.com"),
                                             ("ann@@example.com", None), ("ann.example.com", None),
                                             ("ann@example", None), ("ann at example.com", None), ("", None)])
def test_email(value, expected):
    assert cleaned("email", value) == expected


@pytest.mark.parametrize("value, expected", [
    ("(202) 555-0143", "+12025550143"), ("202.555.0143", "+12025550143"), ("202-555-0143", "+12025550143"),
    ("1 202 555 0143", "+12025550143"), ("+1 (202) 555-0143", "+12025550143"), ("+44 20 7946 0958", "+442079460958"),
    ("20255", None), ("n/a", None), ("202-55", None), (None, None),
])
def test_phone_e164(value, expected):
    assert cleaned("phone", value) == expected


@pytest.mark.parametrize("value", ["2020/05/01 10:00:00", "05/01/2020 10:00:00", "01 May 2020 10:00:00",
                                   "2020-05-01T10:00:00Z", "2020-05-01 10:00:00"])
def test_dates_in_every_known_format(value):
    assert cleaned("joined_at", value) == dt.datetime(2020, 5, 1, 10)


@pytest.mark.parametrize("value, rule", [("not a date", "parse_timestamp"), ("2024-13-45 25:61:00", "parse_timestamp"),
                                         ("1899-12-31 00:00:00", "date_range"), ("2031-01-01 00:00:00", "date_range"),
                                         (None, "required"), ("  ", "required")])
def test_bad_required_dates_are_quarantined(value, rule):
    q = quarantined("joined_at", value)
    assert q["_rule"] == rule and q["_column"] == "joined_at"


@pytest.mark.parametrize("value, expected", [("$5.50", 5.5), ("5.50 USD", 5.5), (" 5.5 ", 5.5), ("1,005.5", 1005.5)])
def test_amount_coercion(value, expected):
    assert cleaned("amount", value) == expected


@pytest.mark.parametrize("value, rule", [("-5.5", "numeric_range"), ("five", "parse_number"), ("", "required")])
def test_bad_amounts_are_quarantined(value, rule):
    assert quarantined("amount", value)["_rule"] == rule


@pytest.mark.parametrize("value, expected", [("30", 30), ('"30"', None), ("30.0", 30), ("12", None), ("121", None),
                                             ("-3", None), ("30.5", None), (None, None)])
def test_age_is_whole_and_in_range_or_nulled(value, expected):
    assert cleaned("age", value) == expected


def test_nulled_values_are_counted():
    _, _, stats = run({"age": "150"}, {"email": "bad"})
    assert stats["numeric_range"]["nulled"] == 1 and stats["email"]["nulled"] == 1


def test_foreign_keys():
    silver, quarantine, _ = run({"team_id": "9"}, {"team_id": "4"}, {"buddy_team": "9"}, {"team_id": "x"})
    reasons = {q["person_id"]: q["_reason"] for q in quarantine}
    assert reasons["1"] == "team_id has no matching teams row"
    assert reasons["2"] == "team_id: the teams row is quarantined"
    assert reasons["4"] == "team_id is not a whole-number key"
    assert [(r["person_id"], r["buddy_team"]) for r in silver] == [(3, None)]


def test_duplicates_keep_latest_version_and_quarantine_the_rest():
    silver, quarantine, stats = run(
        {"person_id": "1", "name": "Old", "updated_at": "2020-05-01 09:00:00"},
        {"person_id": "1", "name": "New", "updated_at": "2020-05-02 09:00:00"},
        {"person_id": "1", "name": "New", "updated_at": "2020-05-02 09:00:00"},
        {"person_id": "2"}, {"person_id": "2"},
    )
    assert sorted((r["person_id"], r["name"]) for r in silver) == [(1, "New"), (2, "Ann")]
    assert sorted(q["_rule"] for q in quarantine) == ["dedup_exact", "dedup_exact", "dedup_key"]
    assert stats["dedup_exact"]["quarantined"] == 2 and stats["dedup_key"]["quarantined"] == 1


def test_same_timestamp_ties_break_on_bronze_order():
    silver, _, _ = run({"person_id": "1", "name": "First"}, {"person_id": "1", "name": "Second"})
    assert [r["name"] for r in silver] == ["Second"]


def test_malformed_lines_are_quarantined_as_they_were():
    silver, quarantine, _ = run({}, {key: None for key in GOOD}, malformed=[None, '{"person_id": 2, broken'])
    assert len(silver) == 1
    assert quarantine[0]["_rule"] == "malformed_record" and quarantine[0]["_malformed"] == '{"person_id": 2, broken'


def test_nothing_vanishes():
    rows = [{"person_id": str(i % 7 + 1), "amount": ["1", "-1", "x", "$2"][i % 4]} for i in range(40)]
    silver, quarantine, _ = run(*rows)
    assert len(silver) + len(quarantine) == 40


def test_silver_types_follow_the_contract():
    result = ENGINE["current"].clean_table(
        pa.table({**{c: pa.array([v], pa.string()) for c, v in GOOD.items()},
                  "_bronze_row": pa.array([0], pa.int64()), "_malformed": pa.array([None], pa.string())}),
        PLAN, PARENTS)
    types = {f.name: str(f.type) for f in result.silver.schema}
    assert types["age"] == "int64" and types["amount"] == "double" and types["joined_at"] == "timestamp[us]"
    assert types["person_id"] == "int64" and types["email"] == "string"


def test_tables_are_cleaned_parents_first(spec):
    order = table_order(spec)
    for name in spec.tables:
        for parent in plan_table(spec, name).foreign_keys.values():
            assert order.index(parent) < order.index(name), (parent, name)


def test_keys_copied_through_lookups_are_checked_as_references(spec):
    assert plan_table(spec, "orders").foreign_keys["shipping_location_id"] == "locations"
    assert plan_table(spec, "shipments").foreign_keys["location_id"] == "locations"
    assert "order_id" not in plan_table(spec, "orders").foreign_keys


@pytest.mark.parametrize("padded", ["\tAnn\n", "\u00a0Ann\u2003", " \u3000Ann\r\n"])
def test_trim_strips_unicode_whitespace(padded):
    assert cleaned("name", padded) == "Ann"
