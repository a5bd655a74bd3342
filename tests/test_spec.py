import json
import re

import pytest
import yaml

from orchestrator_assets.cli import SCHEMA_FILE
from orchestrator_assets.generation.spec import SpecError, export_json_schema, load_spec, parse_spec


def builtin_dict():
    return yaml.safe_load((SCHEMA_FILE.parent / "ecommerce.yaml").read_text())


def test_builtin_spec_has_ten_related_tables(spec):
    assert len(spec.tables) >= 10
    assert {"users", "orders", "order_items", "products", "payments", "shipments"} <= set(spec.tables)
    assert spec.error_rate == 0.3


def test_committed_json_schema_is_current():
    assert json.loads(SCHEMA_FILE.read_text()) == export_json_schema()


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["tables"]["orders"]["columns"]["user_id"]["source"].update(table="customers"),
     "foreign_key to unknown table 'customers'"),
    (lambda d: d["tables"]["users"]["columns"]["age"].update(errors=["invalid_email"]),
     "error 'invalid_email' does not apply to type 'int'"),
    (lambda d: d["tables"]["users"]["columns"]["age"].update(errors=["bogus"]), "errors.0"),
    (lambda d: d.update(error_rate=1.5), "error_rate: Input should be less than or equal to 1"),
    (lambda d: d["tables"]["orders"].update(primary_key="nope"), "primary_key 'nope' is not a column"),
    (lambda d: d["tables"]["users"]["columns"]["email"]["source"].update(template="{missing_col}@x.com"),
     "template uses unknown column 'missing_col'"),
    (lambda d: d["tables"]["order_items"]["columns"]["line_amount"]["source"].update(expr="quantity * __import__"),
     "expr uses unknown column '__import__'"),
    (lambda d: d["tables"]["users"]["rows"].update(count=5), "rows needs exactly one of"),
    (lambda d: d["tables"]["products"].update(row_errors=["near_duplicate"], updated_at=None),
     "near_duplicate needs updated_at"),
    (lambda d: d["tables"]["users"]["columns"]["first_name"].update(case="keep"),
     "wrong_case needs a canonical case"),
    (lambda d: d.update(anchor="nothing"), "anchor 'nothing' is not a table"),
    (lambda d: d["tables"]["users"]["columns"].update(Bad={"type": "int", "source": {"kind": "sequence"}}),
     "column names are lower_snake_case"),
    (lambda d: d["tables"]["users"]["columns"]["phone"]["source"].update(country_code=999),
     "calling code +999 belongs to no region"),
    (lambda d: d["tables"]["users"]["columns"]["age"].update(errors=["locale_decimal"]),
     "error 'locale_decimal' does not apply to type 'int'"),
    (lambda d: d["tables"]["users"]["columns"]["signup_at"].update(type="date", min=None, max=None,
                                                                    errors=["date_only"]),
     "error 'date_only' does not apply to type 'date'"),
])
def test_bad_specs_are_rejected_with_the_place_named(mutate, message):
    data = builtin_dict()
    mutate(data)
    with pytest.raises(SpecError) as err:
        parse_spec(data, "test")
    assert message in str(err.value)


def test_unreadable_spec_files(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tables: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(SpecError, match="mapping"):
        load_spec(listy)


def test_column_cycle_is_reported(spec):
    from orchestrator_assets.generation.generator import generate

    data = builtin_dict()
    cols = data["tables"]["users"]["columns"]
    cols["first_name"]["source"] = {"kind": "template", "template": "{last_name}"}
    cols["last_name"]["source"] = {"kind": "template", "template": "{first_name}"}
    with pytest.raises(SpecError, match="cycle"):
        generate(parse_spec(data), 10, 1, "u", "j")


@pytest.mark.parametrize("patch, message", [
    ({"locale": "xx_QQ"}, "locale: unknown locale 'xx_QQ'"),
    ({"default_phone_region": "QQ"}, "default_phone_region: unknown phone region 'QQ'"),
])
def test_dataset_conventions_are_checked(patch, message):
    data = yaml.safe_load((SCHEMA_FILE.parent / "ecommerce.yaml").read_text()) | patch
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_spec(data)


@pytest.mark.parametrize("column, patch, message", [
    ("total_amount", {"currency": "EURO"}, "currency: unknown currency 'EURO'"),
    ("status", {"currency": "EUR"}, "currency applies to number columns, not 'enum'"),
    ("status", {"locale": "de_DE"}, "locale applies to number and date columns"),
    ("total_amount", {"region": "DE"}, "region applies to phone columns"),
])
def test_column_conventions_are_checked(column, patch, message):
    data = yaml.safe_load((SCHEMA_FILE.parent / "ecommerce.yaml").read_text())
    data["tables"]["orders"]["columns"][column].update(patch)
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_spec(data)


def test_conventions_follow_the_locale():
    from orchestrator_assets.generation.conventions import number_convention

    de, us = number_convention("de_DE"), number_convention("en_US")
    assert (de.decimal, de.group, de.currency, de.day_first) == (",", ".", "EUR", True)
    assert (us.decimal, us.group, us.currency, us.day_first) == (".", ",", "USD", False)
    assert number_convention("de_DE", "CHF").currency == "CHF"
