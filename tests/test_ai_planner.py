"""The offline planner on requests written as users write them; the expected spec facts were written first.

Each case lists only the facts it is about; every planned spec must also validate and generate.
Facts: rows, dropped (tables left out), kept (tables that must stay), rate (dataset error rate),
table_rate {table: share of dirty rows}, column {(table, column): share of rows with an error there},
kind {(table, kind): share of rows}, locale / region / currency, age / price / items (min, max),
years (first, last), departments, unhonoured (substrings of the not-honoured notes), clean (nothing unhonoured).
"""
from __future__ import annotations

import phonenumbers
import pytest
from email_validator import validate_email

from orchestrator_assets.ai.ask import column_share, error_profile, locale_facts
from orchestrator_assets.ai.planner import COUNTRIES, PlanError, plan
from orchestrator_assets.generation.generator import generate
from orchestrator_assets.generation.spec import parse_spec

ALL = {"locations", "users", "categories", "products", "orders", "order_items", "payments", "shipments", "reviews",
       "web_events"}



def facts(**expected) -> dict:
    return expected


CASES = [
    ("50k orders from a German fashion shop, 20% of e-mails dirty, no reviews table",
     facts(rows=50_000, dropped={"reviews"}, locale="de_DE", region="DE", currency="EUR",
          column={("users", "email"): 0.20}, departments=["fashion"])),
    ("2 million orders", facts(rows=2_000_000, dropped=set(), rate=0.3, clean=True)),
    ("1.5M orders", facts(rows=1_500_000, clean=True)),
    ("50,000 orders", facts(rows=50_000, clean=True)),
    ("10 000 orders", facts(rows=10_000)),
    ("give me 250k rows", facts(rows=250_000, clean=True)),
    ("3 thousand orders with clean data", facts(rows=3000, rate=0.0, clean=True)),
    ("orders: 12000, no errors", facts(rows=12_000, rate=0.0, clean=True)),
    ("a small shop, 500 orders, error-free", facts(rows=500, rate=0.0)),
    ("100k orders with 10% errors", facts(rows=100_000, rate=0.10, clean=True)),
    ("error rate of 5%", facts(rows=100_000, rate=0.05, clean=True)),
    ("40% dirty rows please", facts(rate=0.40, clean=True)),
    ("10% of users dirty", facts(table_rate={"users": 0.10, "orders": 0.3}, clean=True)),
    ("orders 50% dirty, 20k orders", facts(rows=20_000, table_rate={"orders": 0.5}, clean=True)),
    ("clean orders but dirty everything else", facts(table_rate={"orders": 0.0, "users": 0.3})),
    ("no errors in payments", facts(kind={("payments", "orphan_fk"): 0.0, ("payments", "whitespace"): 0.0},
                                   table_rate={"users": 0.3}, clean=True)),
    ("20% of phone numbers dirty", facts(column={("users", "phone"): 0.20, ("users", "email"): 0.05}, clean=True)),
    ("5% duplicates", facts(kind={("users", "exact_duplicate"): 0.025, ("orders", "near_duplicate"): 0.025,
                                 ("products", "exact_duplicate"): 0.05}, clean=True)),
    ("no duplicates", facts(kind={("users", "exact_duplicate"): 0.0, ("web_events", "exact_duplicate"): 0.0},
                           rate=0.3, clean=True)),
    ("no errors, but 20% of e-mails dirty", facts(rate=0.0, column={("users", "email"): 0.20},
                                                   table_rate={"orders": 0.0}, clean=True)),
    ("15% missing values", facts(kind={("users", "missing"): 0.15, ("shipments", "missing"): 0.15},
                                unhonoured=["changed along"])),
    ("10% invalid e-mails", facts(kind={("users", "invalid_email"): 0.10}, unhonoured=["changed along"])),
    ("without web events", facts(dropped={"web_events"}, clean=True)),
    ("no reviews and no web events", facts(dropped={"reviews", "web_events"}, clean=True)),
    ("skip shipments, payments and reviews", facts(dropped={"shipments", "payments", "reviews"}, clean=True)),
    ("drop the clickstream", facts(dropped={"web_events"}, clean=True)),
    ("no products table", facts(dropped=set(), kept={"products"}, unhonoured=["products cannot be left out"])),
    ("without users", facts(dropped=set(), kept={"users"}, unhonoured=["users cannot be left out"])),
    ("no order items", facts(dropped=set(), unhonoured=["order_items cannot be left out", "computed from it"])),
    ("no orders", facts(dropped=set(), unhonoured=["orders cannot be left out"])),
    ("only users and orders", facts(dropped={"payments", "shipments", "reviews", "web_events"},
                                   kept={"users", "orders", "order_items", "products", "categories", "locations"},
                                   unhonoured=["also kept"])),
    ("a French shop", facts(locale="fr_FR", region="FR", currency="EUR", clean=True)),
    ("UK customers, 30k orders", facts(rows=30_000, locale="en_GB", region="GB", currency="GBP", clean=True)),
    ("an Indian electronics store", facts(locale="en_IN", region="IN", currency="INR",
                                         departments=["electronics"])),
    ("Japanese shop", facts(locale="ja_JP", region="JP", currency="JPY", clean=True)),
    ("Spanish shop with prices in euros", facts(locale="es_ES", region="ES", currency="EUR", clean=True)),
    ("an American store, prices in GBP", facts(locale="en_US", region="US", currency="GBP", clean=True)),
    ("customers aged 18-65", facts(age=(18, 65), clean=True)),
    ("customers aged 5-12", facts(age=(16, 90), unhonoured=["ages run from 13 to 120"])),
    ("ages between 20 and 40", facts(age=(20, 40), clean=True)),
    ("users 25 to 35 years old", facts(age=(25, 35), clean=True)),
    ("prices between 5 and 200", facts(price=(5, 200), clean=True)),
    ("product prices from $10 to $500", facts(price=(10, 500), clean=True)),
    ("orders in 2023", facts(years=(2023, 2023), clean=True)),
    ("orders from 2021 to 2023", facts(years=(2021, 2023), clean=True)),
    ("2 to 6 items per order", facts(items=(2, 6), clean=True)),
    ("one item per order", facts(items=(1, 1), clean=True)),
    ("10k users, 50k orders", facts(rows=50_000, users=10_000, clean=True)),
    ("a bookshop with 5k orders", facts(rows=5000, departments=["books"])),
    ("50k orders with purple unicorns", facts(rows=50_000, unhonoured=["not understood: 'purple unicorns'"])),
    ("200% errors", facts(rate=0.3, unhonoured=["0% to 100%"])),
    ("20k orders for a German shop, no errors, no web events, customers aged 18 to 30",
     facts(rows=20_000, rate=0.0, dropped={"web_events"}, locale="de_DE", age=(18, 30), clean=True)),
    ("Canadian store, 1.2 million orders, 25% errors, without reviews",
     facts(rows=1_200_000, locale="en_CA", region="CA", currency="CAD", rate=0.25, dropped={"reviews"}, clean=True)),
    ("80% of e-mails dirty", facts(column={("users", "email"): 0.80}, unhonoured=["reduced to make room"])),
]


def _check(request: str, want: dict) -> list[str]:
    """The facts of the planned spec that differ from what was written down."""
    p = plan(request)
    spec = parse_spec(p.spec, request)
    bad = []

    def expect(name, got, exp, tol=0.0):
        ok = abs(got - exp) <= tol if isinstance(exp, float) else got == exp
        if not ok:
            bad.append(f"{name}: expected {exp!r}, got {got!r}")

    if "rows" in want:
        expect("rows", p.rows, want["rows"])
    if "dropped" in want:
        expect("dropped", set(p.dropped), want["dropped"])
        expect("tables", set(spec.tables), ALL - want["dropped"])
    for table in want.get("kept", ()):
        expect(f"kept {table}", table in spec.tables, True)
    if "rate" in want:
        expect("error_rate", spec.error_rate, want["rate"], 1e-9)
    for table, share in want.get("table_rate", {}).items():
        expect(f"{table} dirty", error_profile(spec, table)[0], share, 1e-6)
    for (table, column), share in want.get("column", {}).items():
        expect(f"{table}.{column} share", column_share(spec, table, (column,)), share, 1e-4)
    for (table, kind), share in want.get("kind", {}).items():
        expect(f"{table} {kind} share", error_profile(spec, table)[1].get(kind, 0.0), share, 1e-4)
    facts = locale_facts(spec)
    if "locale" in want:
        expect("faker locales", facts["faker_locales"], [want["locale"]])
    if "region" in want:
        expect("phone region", facts["phone_region"], want["region"])
    if "currency" in want:
        expect("currency", facts["currency"], [want["currency"]])
    users = spec.tables["users"].columns if "users" in spec.tables else {}
    if "age" in want:
        src = users["age"].source
        expect("age", (src.min, src.max), want["age"])
    if "price" in want:
        src = spec.tables["products"].columns["price"].source
        expect("price", (src.min, src.max), tuple(float(v) for v in want["price"]))
    if "years" in want:
        src = spec.tables["orders"].columns["ordered_at"].source
        expect("years", (src.start, src.end), (f"{want['years'][0]}-01-01", f"{want['years'][1] + 1}-01-01"))
    if "items" in want:
        rows = spec.tables["order_items"].rows
        expect("items", (rows.min_children, rows.max_children), want["items"])
    if "users" in want:
        rows = spec.tables["users"].rows
        expect("users rows", round(p.rows * rows.ratio), want["users"])
    if "departments" in want:
        expect("departments", spec.tables["categories"].columns["department"].source.values, want["departments"])
    for text in want.get("unhonoured", ()):
        if not any(text in note for note in p.not_honoured):
            bad.append(f"no not-honoured note with {text!r}: {p.not_honoured}")
    if want.get("clean"):
        expect("not honoured", p.not_honoured, [])
    return bad


def test_at_least_forty_requests():
    assert len(CASES) >= 40


@pytest.mark.parametrize("request_text, want", CASES, ids=[c[0][:50] for c in CASES])
def test_planner_honours_what_it_says(request_text, want):
    assert _check(request_text, want) == []


def test_planning_is_deterministic():
    a, b = plan(CASES[0][0]), plan(CASES[0][0])
    assert parse_spec(a.spec).digest() == parse_spec(b.spec).digest() and a.not_honoured == b.not_honoured


@pytest.mark.parametrize("request_text, message", [
    ("", "the request is empty"),
    ("   ", "the request is empty"),
    ("90 billion orders", "'90 billion orders' is 90,000,000,000 orders, above the limit"),
])
def test_refused_requests_name_what_was_typed(request_text, message):
    with pytest.raises(PlanError, match=message):
        plan(request_text)


def test_rows_given_separately_win_and_the_note_says_so():
    p = plan("50k orders", rows=700)
    assert p.rows == 700 and p.spec["tables"]["orders"]["rows"]["count"] == 700
    assert any("--rows 700" in note for note in p.not_honoured)


@pytest.mark.parametrize("country", sorted(COUNTRIES))
def test_every_country_generates_with_clean_values_that_pass_cleaning(country):
    """Faker has each provider in each locale, and clean e-mails / phones pass the oracles (email-validator,
    phonenumbers: a valid number of the country's region)."""
    words = COUNTRIES[country][0].split("|")[0].replace("\\", "").replace("s+", " ")
    p = plan(f"200 orders from a {words} shop, no errors")
    spec = parse_spec(p.spec)
    assert spec.tables["locations"].columns["country_code"].source.values == [country]
    ds = generate(spec, 200, 1, "t", "j")
    emails = ds.tables["users"].clean.column("email").to_pylist()
    bad = [e for e in emails if validate_email(e, check_deliverability=False).normalized.lower() != e]
    assert bad == []
    region = spec.default_phone_region
    phones = [phonenumbers.parse(ph) for ph in ds.tables["users"].clean.column("phone").to_pylist()]
    assert all(phonenumbers.is_valid_number(ph) and phonenumbers.region_code_for_number(ph) == region
               for ph in phones)


@pytest.mark.parametrize("request_text, table, column, kinds, share", [
    ("20% of e-mails dirty", "users", "email", None, 0.20),
    ("no errors, but 20% of e-mails dirty", "users", None, None, 0.20),
    ("5% duplicates", "orders", None, {"exact_duplicate", "near_duplicate"}, 0.05),
    ("10% of users dirty", "users", None, None, 0.10),
])
def test_the_generator_injects_the_shares_the_planner_promised(request_text, table, column, kinds, share):
    spec = parse_spec(plan(request_text, rows=20_000).spec)
    ds = generate(spec, 20_000, 3, "t", "j")
    ledger = ds.ledger.to_pylist()
    rows = ds.tables[table].clean.num_rows
    hit = {e["row_key"] for e in ledger if e["table"] == table and (column is None or e["column"] == column)
           and (kinds is None or e["error_kind"] in kinds)}
    assert abs(len(hit) / rows - share) < 0.02, (len(hit), rows)
