"""The number and timestamp parsers (cleaning/parsers): the contract's cases, Babel as the oracle for
locale numbers, round trips of formatted datetimes, and the fast-path regexes under RE2 (DuckDB)."""
from __future__ import annotations

import datetime as dt
import random
import re
from decimal import Decimal

import duckdb
import pytest
from babel.numbers import (
    NumberFormatError,
    format_currency,
    format_decimal,
    get_currency_symbol,
    parse_decimal,
)

from orchestrator_assets.cleaning.parsers import numbers as N
from orchestrator_assets.cleaning.parsers import timestamps as T
from orchestrator_assets.cleaning.parsers.numbers import parse_number
from orchestrator_assets.cleaning.parsers.timestamps import parse_timestamp
from orchestrator_assets.generation.conventions import number_convention

ORACLE_LOCALES = ["en_US", "de_DE", "fr_FR", "de_CH", "en_IN", "pt_BR"]

# (text, locale, currency or None for the locale's, integer column, expected canonical text or problem)
NUMBER_CASES = [
    # plain and signed
    ("12", "en_US", None, True, "12"),
    ("-12", "en_US", None, True, "-12"),
    ("+12", "de_DE", None, True, "12"),
    ("\u221212.5", "en_US", None, False, "-12.5"),
    ("12.50-", "en_US", None, False, "-12.5"),
    ("(12.50)", "en_US", None, False, "-12.5"),
    ("($12.50)", "en_US", None, False, "-12.5"),
    ("-0", "en_US", None, False, "0"),
    ("0.0", "en_US", None, False, "0"),
    ("007", "en_US", None, True, "7"),
    (".5", "en_US", None, False, "0.5"),
    (",5", "de_DE", None, False, "0.5"),
    ("30.0", "en_US", None, True, "30"),
    ("1,234.00", "en_US", None, True, "1234"),
    ("1200", "en_US", None, False, "1200"),
    ("0.001", "en_US", None, False, "0.001"),
    # both separators: the last is the decimal mark
    ("1,234.50", "en_US", None, False, "1234.5"),
    ("1.234,50", "en_US", None, False, "1234.5"),
    ("1.234,50", "de_DE", None, False, "1234.5"),
    ("1,234.50", "de_DE", None, False, "1234.5"),
    ("1.234.567,891", "de_DE", None, False, "1234567.891"),
    ("1,234,567.5", "pt_BR", None, False, "1234567.5"),
    # one separator repeated: grouping
    ("1,234,567", "en_US", None, True, "1234567"),
    ("1.234.567", "en_US", None, True, "1234567"),
    ("1.234.567", "de_DE", None, False, "1234567"),
    # single separator, 1, 2 or 4+ digits: the decimal mark
    ("12,5", "en_US", None, False, "12.5"),
    ("1,50", "en_US", None, False, "1.5"),
    ("12.5", "de_DE", None, False, "12.5"),
    ("1,2345", "en_US", None, False, "1.2345"),
    ("0,234", "en_US", None, False, "0.234"),
    # single separator + 3 digits: the locale decides
    ("1,234", "en_US", None, False, "1234"),
    ("1.234", "en_US", None, False, "1.234"),
    ("1,234", "de_DE", None, False, "1.234"),
    ("1.234", "de_DE", None, False, N.AMBIGUOUS),  # the JSON number 1.234 reads the same
    ("1.234 €", "de_DE", None, False, "1234"),
    ("1.234.567", "de_DE", None, False, "1234567"),
    ("1234.567", "de_DE", None, False, "1234.567"),
    ("1,234", "en_IN", None, True, "1234"),
    ("1.234", "pt_BR", None, True, N.AMBIGUOUS),
    ("R$ 1.234", "pt_BR", None, True, "1234"),
    ("1,234", "fr_FR", None, False, "1.234"),
    ("1.234", "de_CH", None, False, "1.234"),
    # ... or cannot: ambiguous
    ("1.234", "fr_FR", None, False, N.AMBIGUOUS),
    ("1,234", "de_CH", None, False, N.AMBIGUOUS),
    ("1.234", "en_US", None, True, N.AMBIGUOUS),
    ("1,234", "de_DE", None, True, N.AMBIGUOUS),
    ("1,234 €", "de_DE", None, False, N.AMBIGUOUS),
    ("$1.234", "en_US", None, False, N.AMBIGUOUS),
    ("€1,234", "en_US", "EUR", False, "1234"),
    ("1.234 €", "de_DE", None, False, "1234"),
    # spaces and apostrophes group by 3
    ("1 234,50", "fr_FR", None, False, "1234.5"),
    ("1\u202f234,50", "fr_FR", None, False, "1234.5"),
    ("1\u00a0234\u00a0567", "fr_FR", None, True, "1234567"),
    ("1\u2009234.5", "en_US", None, False, "1234.5"),
    ("1\u2019234.50", "de_CH", None, False, "1234.5"),
    ("1'234'567", "de_CH", None, True, "1234567"),
    ("1 234,567", "fr_FR", None, False, "1234.567"),
    ("12 34", "fr_FR", None, False, N.BAD_GROUPING),
    ("1 234'567", "de_CH", None, False, N.BAD_GROUPING),
    # Indian grouping only where CLDR groups so
    ("12,34,567.50", "en_IN", None, False, "1234567.5"),
    ("1,23,456", "en_IN", None, True, "123456"),
    ("1,234,567", "en_IN", None, True, "1234567"),
    ("12,34,567.50", "en_US", None, False, N.BAD_GROUPING),
    ("1,23,4567", "en_IN", None, True, N.BAD_GROUPING),
    # inconsistent grouping
    ("1,234,5", "en_US", None, False, N.BAD_GROUPING),
    ("1,23,456", "en_US", None, True, N.BAD_GROUPING),
    ("1,234.567,8", "en_US", None, False, N.BAD_GROUPING),
    ("01,234,567", "en_US", None, True, N.BAD_GROUPING),
    ("1234,567,890", "en_US", None, True, N.BAD_GROUPING),
    # currencies: the column's own, on either side
    ("$12.50", "en_US", None, False, "12.5"),
    ("12.50$", "en_US", None, False, "12.5"),
    ("12.50 USD", "en_US", None, False, "12.5"),
    ("USD 12.50", "en_US", None, False, "12.5"),
    ("usd12.50", "en_US", None, False, "12.5"),
    ("-$1,234.50", "en_US", None, False, "-1234.5"),
    ("$-5", "en_US", None, True, "-5"),
    ("€ 12,50", "de_DE", None, False, "12.5"),
    ("12,50€", "de_DE", None, False, "12.5"),
    ("-1.234,50\u00a0€", "de_DE", None, False, "-1234.5"),
    ("CHF-1\u2019234.50", "de_CH", None, False, "-1234.5"),
    ("R$\u00a01.234,50", "pt_BR", None, False, "1234.5"),
    ("\u20b912,34,567.50", "en_IN", None, False, "1234567.5"),
    ("$12.50", "en_CA", None, False, "12.5"),
    ("CA$12.50", "en_US", "CAD", False, "12.5"),
    ("$12.50", "en_US", "CAD", False, "12.5"),
    ("12,50 kr", "sv_SE", None, False, "12.5"),
    ("12,50 kr.", "da_DK", None, False, "12.5"),
    ("\u00a512", "ja_JP", None, True, "12"),
    # ... or another one
    ("$12.50", "en_US", "EUR", False, N.OTHER_CURRENCY + ", not EUR"),
    ("12.50 EUR", "en_US", None, False, "is in EUR, not USD"),
    ("CA$12.50", "en_US", None, False, N.OTHER_CURRENCY + ", not USD"),
    ("US$12.50", "de_DE", None, False, N.OTHER_CURRENCY + ", not EUR"),
    ("\u00a312.50", "en_US", None, False, "is in GBP, not USD"),
    ("EUR 12,50", "de_CH", None, False, "is in EUR, not CHF"),
    # not numbers
    ("12.50 apples", "en_US", None, False, N.NOT_A_NUMBER),
    ("$12.50 USD", "en_US", None, False, N.NOT_A_NUMBER),
    ("--5", "en_US", None, True, N.NOT_A_NUMBER),
    ("(-5)", "en_US", None, True, N.NOT_A_NUMBER),
    ("(5", "en_US", None, True, N.NOT_A_NUMBER),
    ("5.", "en_US", None, False, "5"),
    ("1..5", "en_US", None, False, N.NOT_A_NUMBER),
    ("\u0661\u0662", "ar_EG", None, True, N.NOT_A_NUMBER),
    ("twelve", "en_US", None, True, N.NOT_A_NUMBER),
    ("NaN", "en_US", None, False, N.NOT_FINITE),
    ("-inf", "en_US", None, False, N.NOT_FINITE),
    ("Infinity", "de_DE", None, False, N.NOT_FINITE),
    # exponents: only on a plain mantissa
    ("1.5e3", "en_US", None, True, "1500"),
    ("2E-4", "en_US", None, False, "0.0002"),
    ("1,5e3", "de_DE", None, False, "1500"),
    ("1,234.5e3", "en_US", None, False, N.NOT_A_NUMBER),
    ("$1e3", "en_US", None, False, N.NOT_A_NUMBER),
    ("1e400", "en_US", None, False, N.OUT_OF_RANGE),
    ("1e-400", "en_US", None, False, N.OUT_OF_RANGE),
    # whole numbers and precision
    ("30.5", "en_US", None, True, N.NOT_WHOLE),
    ("12,5", "de_DE", None, True, N.NOT_WHOLE),
    ("9223372036854775807", "en_US", None, True, "9223372036854775807"),
    ("9223372036854775808", "en_US", None, True, N.OUT_OF_RANGE),
    ("123456789012345", "en_US", None, False, "123456789012345"),
    ("1234567890123456", "en_US", None, False, N.TOO_PRECISE),
    ("0.1000000000000000000000000000001", "en_US", None, False, N.TOO_PRECISE),
    ("1000000000000000000000", "en_US", None, False, "1000000000000000000000"),
]


@pytest.mark.parametrize(("text", "locale", "currency", "integer", "expected"), NUMBER_CASES)
def test_number_cases(text, locale, currency, integer, expected):
    got = parse_number(text, number_convention(locale, currency), integer)
    assert got == ((None, expected) if _problem(expected) else (expected, None))


def _problem(expected: str) -> bool:
    return expected in N.PROBLEMS or expected.startswith(("is in ", N.OTHER_CURRENCY))


def test_unambiguous_cases_agree_with_babel():
    """Where a case has a value, carries no currency and Babel's strict parse accepts it, both agree."""
    compared = 0
    for text, locale, currency, integer, expected in NUMBER_CASES:
        if _problem(expected) or currency or not re.fullmatch(r"[-+0-9.,\s'\u2019]+", text):
            continue
        try:
            oracle = parse_decimal(text, locale, strict=True)
        except NumberFormatError:
            continue
        assert Decimal(expected) == oracle, (text, locale)
        compared += 1
    assert compared >= 25


def _strip_currency(formatted: str, currency: str, locale: str) -> str:
    bare = formatted.replace(get_currency_symbol(currency, locale), "").strip()
    return re.sub(r"^-\s+", "-", bare)


def _canonical(value: Decimal) -> str:
    return "0" if value == 0 else format(value.normalize(), "f")


def test_babel_round_trip():
    """20,000 random numbers written by Babel in six locales: parse_number reads what Babel's strict parse
    reads (the currency taken off for Babel), and calls ambiguous only what the contract does: one "." before
    3 digits, no currency, in a locale that groups with "." (a JSON number would read the same)."""
    rng = random.Random(10)
    checked = 0
    for i in range(20_000):
        locale = ORACLE_LOCALES[i % len(ORACLE_LOCALES)]
        convention = number_convention(locale)
        whole = rng.randrange(10 ** rng.randint(1, 9))
        places = rng.randint(0, 6)
        value = Decimal(f"{'-' if rng.random() < 0.3 else ''}{whole}.{rng.randrange(10 ** places):0{places}d}"
                        if places else f"{whole}")
        if rng.random() < 0.5:
            formatted = format_decimal(value, locale=locale, decimal_quantization=False)
            babel_text = formatted
        else:
            formatted = format_currency(value, convention.currency, locale=locale)
            babel_text = _strip_currency(formatted, convention.currency, locale)
        try:
            oracle = parse_decimal(babel_text, locale, strict=True)
        except NumberFormatError:
            continue
        if convention.group == "." and re.fullmatch(r"-?\d{1,3}\.\d{3}", formatted):
            assert parse_number(formatted, convention, False) == (None, N.AMBIGUOUS)
            continue
        assert parse_number(formatted, convention, False) == (_canonical(oracle), None), (formatted, locale)
        if oracle == oracle.to_integral_value():
            assert parse_number(formatted, convention, True) == (str(int(oracle)), None), (formatted, locale)
        checked += 1
    assert checked > 19_000


def test_accounting_format_is_negative():
    for locale in ORACLE_LOCALES:
        convention = number_convention(locale)
        formatted = format_currency(Decimal("-1234.5"), convention.currency, locale=locale,
                                    format_type="accounting")
        assert parse_number(formatted, convention, False) == ("-1234.5", None), formatted


def _number_samples() -> list[str]:
    rng = random.Random(3)
    samples = ["0", "-0", "0.0", "1.50", "1.234", "007", "-0.5", "0.05", "1234567890", "123456789012345",
               "1234567890123456", "1234567890.5", "0.1234567", "12.123456", "12.1234567", "1e5", "1,234"]
    for _ in range(3000):
        digits = rng.randint(1, 16)
        text = str(rng.randrange(10 ** digits))
        if rng.random() < 0.6:
            text += "." + str(rng.randrange(10 ** rng.randint(1, 7))).zfill(rng.randint(1, 7))
        samples.append(("-" if rng.random() < 0.3 else "") + text)
    return samples


def test_fast_paths_guarantee_the_canonical_text():
    """Whatever fully matches CANONICAL_INT / CANONICAL_FLOAT parses to itself in every convention."""
    samples = _number_samples()
    conventions = [number_convention(loc) for loc in [*ORACLE_LOCALES, "en_CA", "es_ES", "it_CH"]]
    matched = {False: 0, True: 0}
    for integer, pattern in ((True, N.CANONICAL_INT), (False, N.CANONICAL_FLOAT)):
        for text in samples:
            if re.fullmatch(pattern, text):
                matched[integer] += 1
                for convention in conventions:
                    assert parse_number(text, convention, integer) == (text, None), (text, convention.locale)
    assert matched[True] > 500 and matched[False] > 1000
    for text in ("-0", "1.50", "1.234", "007", "1234567890.5", "12.1234567", "1234567890123456"):
        assert not re.fullmatch(N.CANONICAL_FLOAT, text), text


def test_fast_paths_are_re2():
    """DuckDB's regexp_full_match (RE2) compiles the patterns and agrees with Python on every sample."""
    samples = _number_samples() + ["2024-03-05", "2024-03-05 14:30:00", "2024-03-05 14:30:00.123456",
                                   "2024-03-05T14:30:00", "2024-03-05 14:30", "2024-03-05 14:30:00.5"]
    con = duckdb.connect()
    for pattern in (N.CANONICAL_INT, N.CANONICAL_FLOAT, T.CANONICAL_TEXT):
        got = con.execute("SELECT list(regexp_full_match(s, ?) ORDER BY i) FROM "
                          "(SELECT unnest(?) AS s, generate_subscripts(?, 1) AS i)",
                          [pattern, samples, samples]).fetchone()[0]
        assert got == [bool(re.fullmatch(pattern, s)) for s in samples], pattern


# (text, day_first, expected timestamp or problem, expected date or problem)
TIMESTAMP_CASES = [
    # canonical and ISO-8601
    ("2024-03-05 14:30:00", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("2024-03-05 14:30:00.250000", False, "2024-03-05 14:30:00.250000", "2024-03-05"),
    ("2024-03-05 14:30:00.000000", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("2024-03-05T14:30:00", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("2024-03-05T14:30:00Z", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("2024-03-05t14:30:00z", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("2024-03-05T14:30", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("2024-03-05T16:30:00+02:00", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("2024-03-05T16:30:00+0200", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("2024-03-05T09:30:00-05", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("2024-03-05 20:00:00 +05:30", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("2024-03-05T23:30:00-05:00", False, "2024-03-06 04:30:00", "2024-03-05"),
    ("2024-03-05T00:30:00+02:00", False, "2024-03-04 22:30:00", "2024-03-05"),
    ("2024-03-05T14:30:00.123Z", False, "2024-03-05 14:30:00.123000", "2024-03-05"),
    ("2024-03-05T14:30:00,5", False, "2024-03-05 14:30:00.500000", "2024-03-05"),
    ("2024-03-05T14:30:00.123456000", False, "2024-03-05 14:30:00.123456", "2024-03-05"),
    ("2024-03-05T14:30:00.1234567", False, T.TOO_PRECISE, T.TOO_PRECISE),
    ("2024-03-05 14:30:00 UTC", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("2024-03-05 16:30:00 GMT+2", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("2024-03-05 09:30:00 UTC-05:00", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("2024-03-05 14:30:00 \u221200:00", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("2024-3-5 9:05", False, "2024-03-05 09:05:00", "2024-03-05"),
    # date only -> midnight
    ("2024-03-05", False, "2024-03-05 00:00:00", "2024-03-05"),
    ("2024/03/05", False, "2024-03-05 00:00:00", "2024-03-05"),
    ("2024.03.05", True, "2024-03-05 00:00:00", "2024-03-05"),
    ("2024/03/05 14:30:00", False, "2024-03-05 14:30:00", "2024-03-05"),
    # named months, RFC 2822, ctime
    ("5 March 2024", False, "2024-03-05 00:00:00", "2024-03-05"),
    ("05 Mar 2024 14:30:00", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("05-Mar-2024", False, "2024-03-05 00:00:00", "2024-03-05"),
    ("5th March, 2024", False, "2024-03-05 00:00:00", "2024-03-05"),
    ("March 5, 2024", False, "2024-03-05 00:00:00", "2024-03-05"),
    ("March 5, 2024 14:30", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("march 5 2024, 2:30 pm", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("Sept. 30th 2024 at 9 a.m.", False, "2024-09-30 09:00:00", "2024-09-30"),
    ("2024-Mar-05", False, "2024-03-05 00:00:00", "2024-03-05"),
    ("Tue, 05 Mar 2024 14:30:00 GMT", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("Tue, 05 Mar 2024 15:30:00 +0100", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("Tuesday, March 5, 2024 2:30 PM", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("Tue Mar  5 14:30:00 2024", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("Tue Mar 5 14:30:00 UTC 2024", False, "2024-03-05 14:30:00", "2024-03-05"),
    ("Wed, 05 Mar 2024 14:30:00 GMT", False, T.WRONG_WEEKDAY, T.WRONG_WEEKDAY),
    # numeric day/month order
    ("05/03/2024", True, "2024-03-05 00:00:00", "2024-03-05"),
    ("05/03/2024", False, "2024-05-03 00:00:00", "2024-05-03"),
    ("05.03.2024 14:30", True, "2024-03-05 14:30:00", "2024-03-05"),
    ("05-03-2024", True, "2024-03-05 00:00:00", "2024-03-05"),
    ("13/03/2024", False, "2024-03-13 00:00:00", "2024-03-13"),
    ("03/13/2024", True, "2024-03-13 00:00:00", "2024-03-13"),
    ("3/5/2024 2:30:15 PM", False, "2024-03-05 14:30:15", "2024-03-05"),
    ("13/13/2024", True, T.IMPOSSIBLE, T.IMPOSSIBLE),
    ("05/03-2024", True, T.NOT_RECOGNISED, T.NOT_RECOGNISED),
    # 12-hour clock
    ("2024-03-05 12:00 AM", False, "2024-03-05 00:00:00", "2024-03-05"),
    ("2024-03-05 12:30 PM", False, "2024-03-05 12:30:00", "2024-03-05"),
    ("2024-03-05 0:30 AM", False, T.IMPOSSIBLE, T.IMPOSSIBLE),
    ("2024-03-05 13:30 PM", False, T.IMPOSSIBLE, T.IMPOSSIBLE),
    # two-digit years, zone names
    ("05/03/24", True, T.TWO_DIGIT_YEAR, T.TWO_DIGIT_YEAR),
    ("5 Mar 24", False, T.TWO_DIGIT_YEAR, T.TWO_DIGIT_YEAR),
    ("Tue, 05 Mar 24 14:30:00 GMT", False, T.TWO_DIGIT_YEAR, T.TWO_DIGIT_YEAR),
    ("2024-03-05 14:30 EST", False, T.ZONE_NAME, T.ZONE_NAME),
    ("2024-03-05 14:30:00 CET", False, T.ZONE_NAME, T.ZONE_NAME),
    ("2024-03-05 14:30 Europe/Berlin", False, T.ZONE_NAME, T.ZONE_NAME),
    ("Tue Mar 5 14:30:00 PST 2024", False, T.ZONE_NAME, T.ZONE_NAME),
    # numbers are not guessed
    ("1709649000", False, T.A_NUMBER, T.A_NUMBER),
    ("45356", False, T.A_NUMBER, T.A_NUMBER),
    ("45356.5", False, T.A_NUMBER, T.A_NUMBER),
    ("20240305", False, T.A_NUMBER, T.A_NUMBER),
    ("2024", False, T.A_NUMBER, T.A_NUMBER),
    ("12", False, T.A_NUMBER, T.A_NUMBER),
    # impossible and out of range
    ("2024-02-30", False, T.IMPOSSIBLE, T.IMPOSSIBLE),
    ("2023-02-29", False, T.IMPOSSIBLE, T.IMPOSSIBLE),
    ("2024-02-29", False, "2024-02-29 00:00:00", "2024-02-29"),
    ("2024-13-01", False, T.IMPOSSIBLE, T.IMPOSSIBLE),
    ("2024-13-45 25:61:00", False, T.IMPOSSIBLE, T.IMPOSSIBLE),
    ("2024-03-05 25:00", False, T.IMPOSSIBLE, T.IMPOSSIBLE),
    ("2024-03-05 24:00:00", False, T.IMPOSSIBLE, T.IMPOSSIBLE),
    ("2024-03-05 14:30:60", False, T.IMPOSSIBLE, T.IMPOSSIBLE),
    ("2024-03-05T14:30:00+19:00", False, T.IMPOSSIBLE, T.IMPOSSIBLE),
    ("00/00/0000", False, T.OUT_OF_RANGE, T.OUT_OF_RANGE),
    ("0999-12-31", False, T.OUT_OF_RANGE, T.OUT_OF_RANGE),
    ("9999-12-31T23:00:00-05:00", False, T.OUT_OF_RANGE, "9999-12-31"),
    ("1000-01-01T00:30:00+02:00", False, T.OUT_OF_RANGE, "1000-01-01"),
    # incomplete or not dates
    ("May", False, T.NOT_RECOGNISED, T.NOT_RECOGNISED),
    ("March 2024", False, T.NOT_RECOGNISED, T.NOT_RECOGNISED),
    ("2024-03", False, T.NOT_RECOGNISED, T.NOT_RECOGNISED),
    ("March 5, 14:30", False, T.NOT_RECOGNISED, T.NOT_RECOGNISED),
    ("14:30", False, T.NOT_RECOGNISED, T.NOT_RECOGNISED),
    ("2024-03-05 14", False, T.NOT_RECOGNISED, T.NOT_RECOGNISED),
    ("2024/03/05T14:30", False, T.NOT_RECOGNISED, T.NOT_RECOGNISED),
    ("2024-W10-2", False, T.NOT_RECOGNISED, T.NOT_RECOGNISED),
    ("2024-065", False, T.NOT_RECOGNISED, T.NOT_RECOGNISED),
    ("5 Marz 2024", False, T.NOT_RECOGNISED, T.NOT_RECOGNISED),
    ("not a date", False, T.NOT_RECOGNISED, T.NOT_RECOGNISED),
    ("tomorrow", False, T.NOT_RECOGNISED, T.NOT_RECOGNISED),
    ("N/A", False, T.NOT_RECOGNISED, T.NOT_RECOGNISED),
    ("due 2024-03-05", False, T.NOT_RECOGNISED, T.NOT_RECOGNISED),
    ("2024-03-05 14:30 please", False, T.NOT_RECOGNISED, T.NOT_RECOGNISED),
]


@pytest.mark.parametrize(("text", "day_first", "timestamp", "date"), TIMESTAMP_CASES)
def test_timestamp_cases(text, day_first, timestamp, date):
    for as_date, expected in ((False, timestamp), (True, date)):
        got = parse_timestamp(text, day_first, as_date)
        assert got == ((None, expected) if expected in T.PROBLEMS else (expected, None)), as_date


def test_formatted_datetimes_round_trip():
    """Random instants written in the generator's dirty formats and others: each reads back exactly."""
    rng = random.Random(7)
    formats = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y/%m/%d %H:%M:%S", "%d %b %Y %H:%M:%S",
               "%B %d, %Y %H:%M:%S", "%a, %d %b %Y %H:%M:%S GMT", "%A, %B %d, %Y %I:%M:%S %p",
               "%Y-%m-%dT%H:%M:%S.%f", "%c"]
    for _ in range(2000):
        moment = dt.datetime(1000, 1, 1) + dt.timedelta(seconds=rng.randrange(9000 * 365 * 86400))
        moment = moment.replace(microsecond=rng.choice([0, rng.randrange(1, 10**6)]))
        fmt = rng.choice(formats)
        expected = moment if "%f" in fmt else moment.replace(microsecond=0)
        want = expected.strftime("%Y-%m-%d %H:%M:%S") + (f".{expected.microsecond:06d}" if expected.microsecond
                                                         else "")
        assert parse_timestamp(moment.strftime(fmt), False, False) == (want, None), moment.strftime(fmt)
        for day_first, order in ((True, "%d/%m/%Y"), (False, "%m/%d/%Y")):
            assert parse_timestamp(moment.strftime(order), day_first, True) == (moment.strftime("%Y-%m-%d"), None)


def test_offsets_convert_to_the_same_instant():
    rng = random.Random(8)
    for _ in range(500):
        utc = dt.datetime(2000, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=rng.randrange(30 * 365 * 86400))
        zone = dt.timezone(dt.timedelta(minutes=rng.choice([-720, -300, -210, 0, 60, 120, 330, 345, 840])))
        text = utc.astimezone(zone).isoformat()
        assert parse_timestamp(text, True, False) == (utc.strftime("%Y-%m-%d %H:%M:%S"), None), text
        written = utc.astimezone(zone).strftime("%Y-%m-%d")
        assert parse_timestamp(text, True, True) == (written, None), text


def test_timestamps_agree_with_the_standard_parsers():
    """Where datetime.fromisoformat (ISO-8601) or python-dateutil (named months, RFC 2822, 12-hour clocks)
    read a text without guessing, parse_timestamp gives the same instant in UTC."""
    import datetime as dt
    from email.utils import format_datetime

    from dateutil import parser as dateutil_parser

    from orchestrator_assets.cleaning.parsers.timestamps import parse_timestamp

    rng = random.Random(11)
    for _ in range(3000):
        offset = dt.timezone(dt.timedelta(minutes=15 * rng.randint(-48, 56)))
        moment = dt.datetime(rng.randint(1900, 2100), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                             rng.randint(0, 59), rng.randint(0, 59), tzinfo=offset)
        iso = moment.isoformat(sep=rng.choice("T "))
        expected = dt.datetime.fromisoformat(iso).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        assert parse_timestamp(iso, False, False) == (expected, None), iso
        for text in (format_datetime(moment), moment.strftime("%d %B %Y %H:%M:%S %z"),
                     moment.strftime("%B %d, %Y %I:%M:%S %p %z")):
            oracle = dateutil_parser.parse(text).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
            assert parse_timestamp(text, False, False) == (oracle, None), text


def test_the_iso_shortcut_reads_what_the_general_grammar_reads():
    import datetime as dt

    from orchestrator_assets.cleaning.parsers import timestamps as T

    rng = random.Random(12)
    for _ in range(3000):
        text = (f"{rng.randint(900, 10000):04d}-{rng.randint(0, 13):02d}-{rng.randint(0, 32):02d}"
                + (f"{rng.choice('T ')}{rng.randint(0, 25):02d}:{rng.randint(0, 60):02d}:{rng.randint(0, 60):02d}"
                   + rng.choice(["", f".{rng.randint(0, 999999):06d}", f".{rng.randint(0, 999):d}"])
                   + rng.choice(["", "Z", f"{rng.choice('+-')}{rng.randint(0, 19):02d}:{rng.choice([0, 30, 45]):02d}"])
                   if rng.random() < 0.8 else ""))
        assert T._ISO_COMMON.fullmatch(text), text
        for date in (False, True):
            try:
                general = T._parse_general(text, False, date), None
            except T._Refused as refused:
                general = None, refused.problem
            got = T.parse_timestamp(text, False, date)
            assert (got[0] is None) == (general[0] is None) and got[0] == general[0], (text, date, got, general)
    assert dt.datetime  # the module under test reads with datetime.fromisoformat
