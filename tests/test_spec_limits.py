"""Specs that validate must not blow up generation: sizes, Faker providers and locales are checked up front.

Every test here stays far below a second: sizes are worked out, never generated.
"""
import copy
import inspect
import time
from decimal import Decimal

import pytest

from orchestrator_assets import cli
from orchestrator_assets.generation import limits, sizing
from orchestrator_assets.generation.faker_names import LOCALES, PROVIDERS
from orchestrator_assets.generation.generator import generate
from orchestrator_assets.generation.spec import SpecError, load_spec, parse_spec
from orchestrator_assets.generation.values import check_pools, faker_pool
from orchestrator_assets.requests import JobRequest, build_request, load_request, save_request
from orchestrator_assets.settings import storage_settings
from orchestrator_assets.storage.backends import open_storage
from orchestrator_assets.storage.local import LocalStorage


def _id():
    return {"type": "id", "source": {"kind": "sequence"}}


def _fk(table):
    return {"type": "id", "source": {"kind": "foreign_key", "table": table}}


SHOP = {
    "name": "shop", "anchor": "orders",
    "tables": {
        "orders": {"rows": {"count": 10}, "primary_key": "order_id", "columns": {
            "order_id": _id(),
            "city": {"type": "string", "source": {"kind": "faker", "provider": "city", "pool_size": 20}}}},
        "events": {"rows": {"per": "orders", "ratio": 2}, "primary_key": "event_id",
                   "columns": {"event_id": _id()}},
        "items": {"rows": {"children_of": "orders", "via": "order_id", "max_children": 3},
                  "primary_key": "item_id", "columns": {"item_id": _id(), "order_id": _fk("orders")}},
    },
}

# state_abbr is an en_US provider: de_DE lacks it, which only building the pool finds out.
GERMAN_STATES = {"kind": "faker", "provider": "state_abbr", "locale": "de_DE", "pool_size": 5}


def shop(**edit):
    data = copy.deepcopy(SHOP)
    for path, value in edit.items():
        *parents, last = path.split("__")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value
    return data


def refused(data) -> str:
    with pytest.raises(SpecError) as err:
        parse_spec(data, "test")
    return str(err.value)


# ---- absurd numbers fail at parse time, naming the field ---------------------------------------------------
@pytest.mark.parametrize("rows, field, limit", [
    ({"count": 10**12}, "tables.events.rows.count", "100000000"),
    ({"count": 400_000_000}, "tables.events.rows.count", "100000000"),
    ({"per": "orders", "ratio": 1e11}, "tables.events.rows.ratio", "1000"),
    ({"per": "orders", "ratio": 2, "at_least": 10**12}, "tables.events.rows.at_least", "100000000"),
])
def test_absurd_row_numbers_are_refused_at_parse_time(rows, field, limit):
    message = refused(shop(tables__events__rows=rows))
    assert f"{field}: Input should be less than or equal to {limit}" in message


def test_children_explosion_is_refused_for_the_job_that_would_cause_it():
    data = shop(tables__items__rows={"children_of": "orders", "via": "order_id", "max_children": 1000})
    data["tables"]["parts"] = {
        "rows": {"children_of": "items", "via": "item_id", "max_children": 1000}, "primary_key": "part_id",
        "columns": {"part_id": _id(), "item_id": _fk("items")}}
    spec = parse_spec(data)  # 1 order -> up to 1,000,000 parts: fine on its own
    with pytest.raises(SpecError) as err:
        sizing.check_size(spec, 1000)
    message = str(err.value)
    assert "tables.parts.rows: up to 1,000,000,000 rows for 1,000 rows of orders" in message
    assert "allows at most 100 rows of orders" in message
    assert sizing.max_anchor_rows(spec) == 100
    started = time.monotonic()
    with pytest.raises(SpecError, match="tables.parts.rows"):
        generate(spec, 1000, 1, "u", "j")  # refused before anything is allocated
    assert time.monotonic() - started < 0.5


def test_a_spec_too_big_even_for_one_anchor_row_is_refused_at_parse_time():
    data = shop()
    for name in ("deep1", "deep2", "deep3"):
        parent = {"deep1": "orders", "deep2": "deep1", "deep3": "deep2"}[name]
        data["tables"][name] = {"rows": {"per": parent, "ratio": 1000}, "primary_key": "k",
                                "columns": {"k": _id()}}
    message = refused(data)
    assert "tables.deep3.rows: up to 1,000,000,000 rows for 1 rows of orders" in message
    assert "no number of anchor rows fits" in message


def test_total_bronze_size_is_bounded():
    wide = {f"c{i}": {"type": "email", "source": {"kind": "template", "template": "x"}} for i in range(30)}
    data = shop(tables__events__rows={"count": 90_000_000},
                tables__events__columns={"event_id": _id(), **wide})
    message = refused(data)  # 90M rows x 30 emails x ~40 bytes, about 100 GiB
    assert "estimated Bronze size" in message and "over the limit of 64.0 GiB" in message
    assert "tables.events.rows" not in message  # the row count itself is within its limit


def test_row_cycles_are_reported_when_the_spec_is_read():
    data = shop(tables__events__rows={"per": "items", "ratio": 1})
    data["tables"]["items"]["rows"] = {"per": "events", "ratio": 1}
    assert "row counts form a cycle between tables: ['events', 'items']" in refused(data)


# ---- Faker providers and locales ---------------------------------------------------------------------------
PROVIDER_PATH = "tables.orders.columns.city.source.faker.provider"


@pytest.mark.parametrize("provider, expected", [
    ("__class__", "'__class__' is not a Faker provider (names starting with _ are Python internals)"),
    ("_private", "'_private' is not a Faker provider"),
    ("binary", "'binary' is not allowed: a provider must take no arguments and return text or a number (see docs"),
    ("pyobject", "Faker provider 'pyobject' is not allowed"),
    ("pydict", "Faker provider 'pydict' is not allowed"),
    ("date_object", "Faker provider 'date_object' is not allowed"),
    ("enum", "Faker provider 'enum' is not allowed"),  # needs an argument
    ("first_nam", "return text or a number; did you mean first_name, first_name_male?"),
])
def test_only_value_producing_providers_are_allowed(provider, expected):
    message = refused(shop(tables__orders__columns__city__source={"kind": "faker", "provider": provider}))
    assert f"{PROVIDER_PATH}: Value error, " in message and expected in message


@pytest.mark.parametrize("locale, expected", [
    ("xx_XX", "unknown Faker locale 'xx_XX' (see docs/spec.md)"),
    ("en_UK", "unknown Faker locale 'en_UK'; did you mean en_US, en_PK, en_KE?"),
])
def test_unknown_locales_are_refused_at_parse_time(locale, expected):
    source = {"kind": "faker", "provider": "city", "locale": locale}
    message = refused(shop(tables__orders__columns__city__source=source))
    assert "tables.orders.columns.city.source.faker.locale: Value error, " + expected in message


def test_provider_and_locale_lists_match_the_installed_faker():
    from faker import Faker
    from faker.config import AVAILABLE_LOCALES
    from faker.providers import BaseProvider

    assert LOCALES == set(AVAILABLE_LOCALES)
    documents = {"csv", "tsv", "psv", "dsv", "json", "xml", "fixed_width"}
    fake, derived = Faker("en_US"), set()
    for provider in fake.providers:
        for name in dir(provider):
            if name.startswith("_") or hasattr(BaseProvider, name) or name in documents:
                continue
            method = getattr(provider, name)
            if not callable(method):
                continue
            sig = inspect.signature(method)
            needs_args = any(p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                             for p in sig.parameters.values())
            if not needs_args and sig.return_annotation in (str, int, float, Decimal):
                derived.add(name)
    assert PROVIDERS == derived
    for name in sorted(PROVIDERS):  # and each really gives a short text or number
        value = getattr(fake, name)()
        assert isinstance(value, (str, int, float, Decimal)) and not isinstance(value, bool), name
        assert len(str(value)) <= limits.POOL_VALUE_CHARS, name


def test_pools_have_a_time_and_size_budget():
    started = time.monotonic()
    with pytest.raises(SpecError, match=r"Faker provider 'sentence' \(en_US\) is too slow: 100,000 values"):
        faker_pool("sentence", "en_US", 100_000, seconds=0.01)
    assert time.monotonic() - started < 0.5  # projected from the first values, not waited out
    with pytest.raises(SpecError, match="'paragraph' returned a value of .* characters; the limit is 10"):
        faker_pool("paragraph", "en_US", 5, max_chars=10)
    assert len(faker_pool("city", "en_US", 20)) == 20


def test_a_provider_missing_from_the_locale_is_named_with_its_column():
    spec = parse_spec(shop(tables__orders__columns__city__source=GERMAN_STATES))
    expected = "tables.orders.columns.city.source: Faker has no provider 'state_abbr' for locale de_DE"
    with pytest.raises(SpecError, match=expected):
        check_pools(spec)


# ---- fine specs stay fine; the job's rows are checked with its spec ----------------------------------------
def test_a_fine_custom_spec_validates_and_its_bounds_hold():
    spec = parse_spec(shop())
    sized = sizing.check_size(spec, 1000)
    assert sized.rows == {"orders": 1000, "events": 2000, "items": 3000}
    # A line: 2 + per column len(name) + 4 + VALUE_BYTES; orders 2 + 20 + 28, events 2 + 20, items 2 + 19 + 20
    assert sized.bytes == {"orders": 50_000, "events": 44_000, "items": 123_000}
    ds = generate(spec, 1000, 3, "u", "j")
    assert ds.tables["events"].clean.num_rows == 2000 and 1000 <= ds.tables["items"].clean.num_rows <= 3000


def test_the_builtin_spec_at_the_largest_job():
    spec = load_spec()
    assert sizing.max_anchor_rows(spec) == 25_000_000  # order_items: up to 4 per order, 100M rows at most
    at_limit = sizing.check_size(spec, 25_000_000)
    assert at_limit.rows["order_items"] == limits.MAX_TABLE_ROWS
    assert at_limit.total_bytes < limits.MAX_BRONZE_BYTES
    with pytest.raises(SpecError) as err:
        JobRequest("ann", "big", limits.MAX_ROWS, 1, spec)
    message = str(err.value)
    assert "job ann.big" in message and "tables.order_items.rows: up to 200,000,000 rows" in message
    assert "this spec allows at most 25,000,000 rows of orders" in message
    assert JobRequest("ann", "ok", 1000, 1, spec).rows == 1000


# ---- a refused request stores nothing ----------------------------------------------------------------------
@pytest.mark.parametrize("source, rows, message", [
    ({"kind": "faker", "provider": "binary"}, 100, "Faker provider 'binary' is not allowed"),
    ({"kind": "faker", "provider": "city", "locale": "xx_XX"}, 100, "unknown Faker locale 'xx_XX'"),
    (GERMAN_STATES, 100, "no provider 'state_abbr'"),
    (SHOP["tables"]["orders"]["columns"]["city"]["source"], 40_000_000, "tables.items.rows: up to 120,000,000"),
])
def test_a_refused_submit_stores_nothing_and_the_job_id_stays_free(tmp_path, monkeypatch, capsys,
                                                                 source, rows, message):
    import yaml

    monkeypatch.setenv("ORCHESTRATOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    bad, fixed = tmp_path / "bad.yaml", tmp_path / "fixed.yaml"
    bad.write_text(yaml.safe_dump(shop(tables__orders__columns__city__source=source)))
    fixed.write_text(yaml.safe_dump(shop()))
    args = ["submit", "--user", "ann", "--job", "j1", "--rows", str(rows), "--spec", str(bad)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "data").exists() or not list((tmp_path / "data").rglob("request.json"))
    assert not (tmp_path / "home").exists()  # refused before Dagster was started

    store = open_storage(storage_settings())  # where submit stores requests, from the same environment
    assert load_request(store, "ann", "j1") is None
    request = build_request("ann", "j1", 100, 1, fixed)
    assert save_request(store, request) is True
    assert load_request(store, "ann", "j1").same_as(request)


def test_save_request_checks_pools_of_a_hand_made_request(tmp_path):
    spec = parse_spec(shop(tables__orders__columns__city__source=GERMAN_STATES))
    request = JobRequest("ann", "j2", 10, 1, spec)
    store = LocalStorage(tmp_path)
    with pytest.raises(SpecError, match="no provider 'state_abbr'"):
        save_request(store, request)
    assert not list(tmp_path.rglob("*.json"))


# ---- orchestrator validate ---------------------------------------------------------------------------------
def test_validate_reports_rows_and_size_for_the_requested_job(tmp_path, capsys):
    import yaml

    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(shop()))
    assert cli.main(["validate", str(path), "--rows", "1000"]) == 0
    out = capsys.readouterr().out
    assert "ok: shop with 3 tables, for 1,000 rows of orders" in out
    assert "items" in out and "3,000" in out and "estimated Bronze size: 211.9 KiB (limit 64.0 GiB)" in out
    assert "largest job this spec allows: 33,333,333 rows of orders" in out  # items: 3 per order
    assert cli.main(["validate", str(path), "--rows", "40000000"]) == 2
    err = capsys.readouterr().err
    assert "tables.items.rows: up to 120,000,000 rows for 40,000,000 rows of orders" in err
    assert "this spec allows at most 33,333,333 rows of orders" in err
