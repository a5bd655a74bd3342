"""The corpus checked against the libraries that own each problem, independently of the cleaning code.

Every expected value must itself be valid and canonical (a valid E.164 number, a normalised e-mail, a real
UTC timestamp, a plain decimal). Every case is also read by the oracle library (phonenumbers, email_validator,
Babel's strict parse_decimal, datetime.fromisoformat or dateutil); where the library's reading differs from
the expected outcome, the case must say so in `library:` with the library's exact reading, so every place
where the contract overrides a library is written down and stays true.
"""
import datetime as dt
import re
from collections import Counter
from decimal import Decimal

import phonenumbers
import pytest
from babel import Locale
from babel.numbers import NumberFormatError, get_currency_symbol, parse_decimal
from dateutil import parser as dateutil_parser
from email_validator import EmailNotValidError, validate_email

from orchestrator_assets.generation.spec import parse_spec
from tests.support.corpus import ALLOWED_PARAMS, NULL_OUTCOMES, columns, load_cases, spec_dict

CASES = load_cases()
DEFAULT_LOCALE, DEFAULT_REGION = "en_US", "US"
INT64 = (-(2**63), 2**63 - 1)
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?")
DECIMAL = re.compile(r"-?\d+(\.\d+)?")
SIGNS = ("-", "+", "\u2212")


def currency_of(case) -> str:
    from babel.numbers import get_territory_currencies

    if case.param("currency"):
        return case.param("currency")
    return get_territory_currencies(Locale.parse(case.param("locale", DEFAULT_LOCALE)).territory)[0]


# ---- the libraries' readings --------------------------------------------------------------------------
def phone_reading(case) -> str:
    try:
        number = phonenumbers.parse(case.input.strip(), case.param("region", DEFAULT_REGION))
    except phonenumbers.NumberParseException:
        return "invalid"
    if not phonenumbers.is_valid_number(number):
        return "invalid"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email_reading(text: str) -> str:
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return "invalid"


def plain(number: Decimal) -> str:
    if not number.is_finite():
        return str(number)
    return "0" if number == 0 else format(number.normalize(), "f")


def number_reading(case) -> str:
    """Babel's strict reading of the number once the column's own currency and one sign marker are taken off."""
    locale = case.param("locale", DEFAULT_LOCALE)
    code = currency_of(case)
    decorations = sorted({code, get_currency_symbol(code, locale)}, key=len, reverse=True)
    text, signs, negative, stripped_currency = case.input.strip(), 0, False, False
    while True:
        before = text
        for mark in decorations if not stripped_currency else ():
            if text.startswith(mark) or text.endswith(mark):
                text = (text[len(mark):] if text.startswith(mark) else text[:-len(mark)]).strip()
                stripped_currency = True
                break
        if text.startswith("(") and text.endswith(")"):
            text, signs, negative = text[1:-1].strip(), signs + 1, True
        elif text[:1] in SIGNS:
            text, signs, negative = text[1:].strip(), signs + 1, text[0] != "+"
        elif text.endswith("-"):
            text, signs, negative = text[:-1].strip(), signs + 1, True
        if text == before:
            break
    if signs > 1 or not text:
        return "invalid"
    try:
        number = parse_decimal(text, locale, strict=True)
    except NumberFormatError:
        return "invalid"
    number = -number if negative else number
    if case.type == "int":
        if not number.is_finite() or number != number.to_integral_value():
            return "invalid"
        low, high = case.param("min"), case.param("max")
        if (low is not None and number < low) or (high is not None and number > high):
            return "invalid"
    return plain(number)


def day_first(locale: str) -> bool:
    pattern = Locale.parse(locale).date_formats["short"].pattern.lower()
    return pattern.index("d") < pattern.index("m")


def datetime_reading(case) -> str:
    text = case.input.strip()
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            value = dateutil_parser.parse(text, dayfirst=day_first(case.param("locale", DEFAULT_LOCALE)))
        except (ValueError, OverflowError):
            return "invalid"
    if case.type == "date":
        return value.date().isoformat()
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return canonical_timestamp(value)


def canonical_timestamp(value: dt.datetime) -> str:
    return value.isoformat(sep=" ")  # microseconds only when non-zero, the year always 4 digits


def library_reading(case) -> str | None:
    """The oracle's outcome for a case, or None where no library owns the answer (dates that stay null)."""
    if case.type == "phone":
        return phone_reading(case)
    if case.type == "email":
        return email_reading(case.input)
    if case.type in ("float", "int"):
        return number_reading(case)
    return datetime_reading(case) if case.value is not None else None


def agrees(case, reading: str) -> bool:
    if case.value is None:
        return reading == "invalid"
    if case.type in ("float", "int") and DECIMAL.fullmatch(reading):
        return Decimal(reading) == Decimal(case.value)
    return reading == case.value


# ---- the tests ----------------------------------------------------------------------------------------
def test_corpus_is_large_and_covers_every_outcome():
    assert len(CASES) >= 350, len(CASES)
    by = Counter((c.file, c.outcome) for c in CASES)
    for file in {c.file for c in CASES}:
        assert by[(file, "value")] and by[(file, "invalid")], file
    assert sum(n for (_, outcome), n in by.items() if outcome == "ambiguous") >= 15


def test_cases_are_well_formed_and_unique():
    problems = []
    seen = set()
    for case in CASES:
        if not isinstance(case.input, str):
            problems.append(f"{case.id}: input must be text, got {case.input!r}")
        if not (case.expect in NULL_OUTCOMES or (isinstance(case.expect, dict) and set(case.expect) == {"value"}
                                                 and isinstance(case.expect["value"], str))):
            problems.append(f"{case.id}: expect must be {{value: <text>}}, invalid or ambiguous: {case.expect!r}")
        if not case.note:
            problems.append(f"{case.id}: every case says why (note)")
        if not {k for k, _ in case.params} <= ALLOWED_PARAMS[case.type]:
            problems.append(f"{case.id}: parameters {case.params} do not apply to {case.type}")
        key = (case.file, case.input, case.params)
        if key in seen:
            problems.append(f"{case.id}: duplicate input {case.input!r}")
        seen.add(key)
    assert not problems, "\n".join(problems)


def test_the_corpus_spec_is_a_valid_spec():
    for required in (False, True):
        spec = parse_spec(spec_dict(CASES, required))
        assert set(spec.tables["cases"].columns) == {"row_id", *columns(CASES)}


def canonical_problem(case) -> str | None:
    value = case.value
    if case.type == "phone":
        number = phonenumbers.parse(value, None)
        if not phonenumbers.is_valid_number(number):
            return "not a valid number"
        if phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) != value:
            return "not E.164"
    elif case.type == "email":
        if email_reading(value) != value:
            return f"not canonical (library: {email_reading(value)})"
    elif case.type == "timestamp":
        if not TIMESTAMP.fullmatch(value) or canonical_timestamp(dt.datetime.fromisoformat(value)) != value:
            return "not YYYY-MM-DD HH:MM:SS[.ffffff]"
    elif case.type == "date":
        if dt.date.fromisoformat(value).isoformat() != value:
            return "not YYYY-MM-DD"
    elif not DECIMAL.fullmatch(value):
        return "not a plain decimal"
    elif case.type == "int":
        number = int(value)
        low, high = case.param("min", INT64[0]), case.param("max", INT64[1])
        if not (INT64[0] <= number <= INT64[1]) or not (low <= number <= high):
            return "outside int64 or the column's range"
    return None


@pytest.mark.parametrize("case", [c for c in CASES if c.value is not None], ids=lambda c: c.id)
def test_expected_values_are_valid_and_canonical(case):
    problem = canonical_problem(case)
    assert problem is None, f"{case.describe()}: expected {case.value!r} is {problem}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_library_disagreements_are_written_down(case):
    reading = library_reading(case)
    if reading is None:
        assert case.library is None, f"{case.describe()}: no library owns this case; drop `library:`"
        return
    if agrees(case, reading):
        assert case.library is None, f"{case.describe()}: the library agrees ({reading!r}); drop `library:`"
    else:
        assert case.library is not None, (f"{case.describe()}: the library reads {reading!r}, the corpus expects "
                                          f"{case.expect!r}; write `library: {reading!r}` and say why in the note")
        assert agrees_text(case, case.library, reading), (
            f"{case.describe()}: `library: {case.library!r}` but the library reads {reading!r}")


def agrees_text(case, noted: str, reading: str) -> bool:
    if case.type in ("float", "int") and DECIMAL.fullmatch(noted) and DECIMAL.fullmatch(reading):
        return Decimal(noted) == Decimal(reading)
    return noted == reading
