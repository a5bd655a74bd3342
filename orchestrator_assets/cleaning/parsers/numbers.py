"""Locale-aware numbers: one Bronze text -> the canonical decimal text of an int or float cell.

`parse_number(text, convention, integer)` returns (canonical, None) or (None, problem), where problem is one of
PROBLEMS. The column's NumberConvention (generation/conventions.py) supplies the decimal mark, the grouping
symbol and the currency; the rules are those of the Issue 10 contract.

Accepted, in order of decoding:
- Not-a-number words (NaN, inf, Infinity, ∞, with a sign) -> "is not a finite number".
- One currency decoration before or after the digits, with or without a space: an ISO 4217 code ("USD 12.50",
  "12.50 usd") or a symbol. A symbol counts as the column's currency when Babel writes that currency with it
  in the column's locale, in English, or in a locale of a country that uses it, so "$" passes in USD, CAD, AUD
  and MXN columns (the column says which dollar), "kr" in SEK/NOK/DKK columns, "R$" in BRL. A code or symbol
  of any other currency ("$" in a EUR column, "CA$" in a USD column, "EUR" in a CHF column), or any token
  holding a currency sign (Unicode Sc: "US$" in a EUR column) -> "is in another currency": never
  converted. A decoration that is no currency at all -> "is not a number".
- One sign: a leading "+", "-" or U+2212 (before or after a leading currency: "-$5", "$-5", "CHF-5"), a
  trailing "-" ("12.50-", "12.50 €-"), or accounting parentheses around everything ("(12.50)", "($12.50)").
  Two sign marks -> "is not a number".
- Digits 0-9 only (other scripts' digits are not guessed), with separators "." "," and, for grouping only,
  space, NBSP, U+202F, U+2009, "'" and "’" (one separator between digit runs):
  * a grouping separator is grouping; if "." or "," also appears it must be the single, last separator and
    is the decimal mark ("1 234,50", "1’234.50");
  * both "." and "," present: the last one is the decimal mark (once), the other groups ("1.234,50");
  * one of "." / "," appearing more than once: grouping ("1,234,567");
  * a single "." or "," followed by 1, 2 or 4+ digits, or after a lone "0" / a leading zero ("0,234", which
    cannot be grouping), or with no digits before it (".5"): the decimal mark;
  * a single "." or "," followed by exactly 3 digits ("1,234" / "1.234"): the column's locale decides (its
    decimal mark -> decimal, its grouping symbol -> grouping). It stays AMBIGUOUS (-> "is ambiguous: the
    separator can be a decimal mark or a thousands separator") when something else speaks against the
    locale's answer or the locale has none:
      - the separator is neither the locale's decimal mark nor its grouping symbol (fr_FR "1.234", whose
        grouping is a narrow space; de_CH "1,234", whose grouping is "’");
      - the locale makes it a decimal but the value carries a currency whose minor unit has fewer than 3
        digits ("1,234 €" in a de_DE column: a 3-decimal euro amount is far less likely than a misplaced
        thousands separator);
      - the locale makes it a decimal but the column is an integer column, where the grouping reading is the
        only one that would fit ("1.234" in an en_US int column);
      - the locale groups with "." and no currency is written ("1.234" in a de_DE column): Bronze holds JSON
        numbers as text too, and the JSON number 1.234 is one point two three four.
    A "." after more than 3 digits ("1234.567") can only be a decimal mark, as JSON writes it.
    A currency symbol is NOT taken as evidence about the writer's convention otherwise ("€1,234" in an
    en_US/EUR column is 1234: the locale is the column's declared convention, Irish English writes it so).
  * groups: 3 digits each, the first 1-3 digits without a leading zero; in locales whose CLDR decimal
    pattern groups Indian-style ("#,##,##0.###", en_IN, hi_IN) also a last group of 3 with 2-digit groups
    before it ("12,34,567.50"). Anything else -> "has inconsistent digit grouping".
- An exponent ("1.5e3", "2E-4") only on a plain mantissa (digits, optionally one "." or "," as the decimal
  mark): no grouping, no currency.
- Value checks: an integer column needs a whole value ("30.0" -> "30"; "30.5" -> "is not a whole number") in
  the BIGINT range; a float needs at most 15 significant digits (a double holds 15 exactly: more is refused,
  "has more significant digits than a float holds", rather than rounded) and a normal double's magnitude.
  Anything out of range -> "is out of range". Texts over MAX_LENGTH (400) characters -> "is not a number".

Output: an integer as its plain digits ("30", "-1234"); a float as the shortest exact decimal of the parsed
value, no exponent, no trailing zeros, zero as "0" ("1234.5", "-12.5", "0.001", "1200").

Fast paths: CANONICAL_INT (integer columns) and CANONICAL_FLOAT (float columns), RE2, for full matching. For
every convention, a text that fully matches one satisfies parse_number(text, convention, integer) ==
(text, None) for its column type: the strong guarantee, not only equal casts. CANONICAL_FLOAT therefore leaves out exactly-3-digit fractions ("1.234" is 1234 in a
de_DE column), trailing zeros ("1.50" canonicalises to "1.5"), leading zeros and "-0"; it bounds the digits
to 15 significant (<= 9 before the point and <= 6 after, or <= 15 without a point) so the DOUBLE cast of the
canonical text is exact.

The parser sees text only, and a raw JSON number reaches it as its text: that is why a lone "." before 3 digits
in a "."-grouping locale is ambiguous rather than grouping.
"""
from __future__ import annotations

import functools
import math
import re
import sys
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from orchestrator_assets.generation.conventions import NumberConvention

NOT_A_NUMBER = "is not a number"
NOT_FINITE = "is not a finite number"
OTHER_CURRENCY = "is in another currency"  # followed by the one it is in, when known, and the column's
AMBIGUOUS = "is ambiguous: the separator can be a decimal mark or a thousands separator"
BAD_GROUPING = "has inconsistent digit grouping"
NOT_WHOLE = "is not a whole number"
TOO_PRECISE = "has more significant digits than a float holds"
OUT_OF_RANGE = "is out of range"
PROBLEMS = (NOT_A_NUMBER, NOT_FINITE, OTHER_CURRENCY, AMBIGUOUS, BAD_GROUPING, NOT_WHOLE, TOO_PRECISE, OUT_OF_RANGE)

CANONICAL_INT = r"0|-?[1-9][0-9]{0,17}"
_FRACTION = r"\.([0-9]?[1-9]|[0-9]{3,5}[1-9])"
CANONICAL_FLOAT = rf"0|-?[1-9][0-9]{{0,14}}|-?[1-9][0-9]{{0,8}}{_FRACTION}|-?0{_FRACTION}"

FLOAT_DIGITS = 15
MAX_LENGTH = 400  # room for a double's full range written out ("0.000...1"), none for pasted text
INT_MIN, INT_MAX = -(2**63), 2**63 - 1

# Symbols real exports write without a country prefix; each names the currencies Babel writes with it.
BARE_SYMBOLS = ("$", "€", "£", "¥", "₹", "CHF", "kr")
_SPACES = " \u00a0\u202f\u2009"
_APOSTROPHES = "'\u2019"
_SEPARATORS = ".," + _SPACES + _APOSTROPHES
_MINUS = "-\u2212"
_NOT_FINITE = re.compile(r"[-+\u2212]?\s*(nan|inf|infinity|∞)", re.IGNORECASE)
# A currency decoration: a run of anything but digits, signs, parentheses, spaces and separators; a trailing
# "." belongs to it only at a boundary ("kr." / "Rs."), so "$.5" keeps its decimal point.
_CUR = r"[^0-9\s()+\-\u2212.,'\u2019]+(?:\.(?=\s|$))?"
_CORE = rf"(?:[.,][0-9]+|[0-9]+(?:[{_SEPARATORS}][0-9]+)*\.?)(?:[eE][-+]?[0-9]+)?"
_SHAPE = re.compile(
    rf"(?P<open>\()?\s*(?P<sign1>[-+\u2212])?\s*(?P<cur1>{_CUR})?\s*(?P<sign2>[-+\u2212])?\s*"
    rf"(?P<num>{_CORE})\s*(?P<trail1>-)?\s*(?P<shut>\))?\s*(?P<cur2>{_CUR})?\s*(?P<trail2>-)?\s*(?P<close>\))?"
)
_RUNS = re.compile(rf"[0-9]+|[{_SEPARATORS}]")
_PLAIN = re.compile(r"[0-9]*[.,]?[0-9]+")


@dataclass(frozen=True)
class _Column:
    code: str  # the column's currency
    codes: frozenset[str]  # every ISO 4217 code Babel knows
    own: frozenset[str]  # codes and symbols that mean the column's currency
    known: frozenset[str]  # every currency code or symbol Babel knows in the column's locale or English
    precision: int  # the currency's minor-unit digits
    indian: bool  # CLDR groups by 2 after the first 3


def parse_number(text: str, convention: NumberConvention, integer: bool) -> tuple[str | None, str | None]:
    text = text.strip()  # callers trim already; a stray NBSP at the edge is not worth a quarantine
    if len(text) > MAX_LENGTH:
        return None, NOT_A_NUMBER
    if _NOT_FINITE.fullmatch(text):
        return None, NOT_FINITE
    m = _SHAPE.fullmatch(text)
    if m is None:
        return None, NOT_A_NUMBER
    g = m.groupdict()
    if g["shut"] and g["close"]:
        return None, NOT_A_NUMBER
    g["close"] = g["close"] or g["shut"]  # "(12.50) USD": the parentheses may close before the currency
    if bool(g["open"]) != bool(g["close"]) or (g["cur1"] and g["cur2"]):
        return None, NOT_A_NUMBER
    if g["num"].endswith("."):
        # "30." as spreadsheets and JavaScript write it: only where "." is the decimal mark.
        if convention.decimal != "." or g["num"][:-1].count(".") or "e" in g["num"].lower():
            return None, NOT_A_NUMBER
        g["num"] = g["num"][:-1]
    signs = [g[k] for k in ("open", "sign1", "sign2", "trail1", "trail2") if g[k]]
    if len(signs) > 1:
        return None, NOT_A_NUMBER
    negative = bool(signs) and signs[0] != "+"
    column = _column(convention)
    currency = g["cur1"] or g["cur2"]
    if currency:
        problem = _currency_problem(currency, column)
        if problem:
            return None, problem
    mantissa, _, exponent = g["num"].lower().partition("e")
    if exponent:
        # Scientific notation is machine output: a plain mantissa whose one separator is the decimal mark.
        if currency or not _PLAIN.fullmatch(mantissa):
            return None, NOT_A_NUMBER
        digits = mantissa.replace(",", ".")
    else:
        digits, problem = _digits(mantissa, convention, column, integer, bool(currency))
        if problem:
            return None, problem
    try:
        value = Decimal(("-" if negative else "") + digits + ("e" + exponent if exponent else ""))
    except InvalidOperation:
        return None, NOT_A_NUMBER
    return _canonical(value, integer)


def _digits(mantissa: str, convention: NumberConvention, column: _Column, integer: bool,
            has_currency: bool) -> tuple[str, str | None]:
    """The mantissa as plain "123.45" digits, after deciding what each separator is."""
    if mantissa[0] in ".,":  # ".5": nothing before the mark, so it cannot group
        return ("0." + mantissa[1:], None) if mantissa[1:].isdigit() else ("", NOT_A_NUMBER)
    parts = _RUNS.findall(mantissa)
    runs, seps = parts[0::2], parts[1::2]
    if not seps:
        return runs[0], None
    kinds = {_kind(s) for s in seps}
    grouping = kinds - {".", ","}
    if len(grouping) > 1:
        return "", BAD_GROUPING
    if grouping:
        decimal = seps[-1] if seps[-1] in ".," else None
        group_seps = seps[:-1] if decimal else seps
        if any(_kind(s) not in grouping for s in group_seps):
            return "", BAD_GROUPING
    elif len(kinds) == 2:
        decimal = seps[-1]
        group_seps = seps[:-1]
        if decimal in group_seps:
            return "", BAD_GROUPING
    elif len(seps) > 1:
        decimal, group_seps = None, seps
    else:
        decimal, problem = _single(seps[0], runs, convention, column, integer, has_currency)
        if problem:
            return "", problem
        group_seps = [] if decimal else seps
    whole = runs[: len(group_seps) + 1]
    if group_seps and not _grouped(whole, column.indian):
        return "", BAD_GROUPING
    fraction = runs[len(whole):]
    return "".join(whole) + ("." + fraction[0] if fraction else ""), None


def _single(sep: str, runs: list[str], convention: NumberConvention, column: _Column, integer: bool,
            has_currency: bool) -> tuple[str | None, str | None]:
    """One "." or "," between two digit runs: the decimal mark (returned) or grouping (None)."""
    before, after = runs
    if len(after) != 3 or before.startswith("0") or (sep == "." and len(before) > 3):
        return sep, None
    if sep == convention.group == "." and not has_currency:
        # Bronze holds JSON numbers as text too, and JSON's "12.125" is twelve point one two five.
        return None, AMBIGUOUS
    if sep == convention.group:
        return None, None
    if sep != convention.decimal:
        return None, AMBIGUOUS
    if integer or (has_currency and column.precision < 3):
        return None, AMBIGUOUS
    return sep, None


def _kind(sep: str) -> str:
    if sep in _SPACES:
        return " "
    if sep in _APOSTROPHES:
        return "'"
    return sep


def _grouped(runs: list[str], indian: bool) -> bool:
    first, rest = runs[0], runs[1:]
    if not 1 <= len(first) <= 3 or first.startswith("0"):
        return False
    if all(len(r) == 3 for r in rest):
        return True
    return indian and len(first) <= 2 and len(rest[-1]) == 3 and all(len(r) == 2 for r in rest[:-1])


def _canonical(value: Decimal, integer: bool) -> tuple[str | None, str | None]:
    as_float = float(value)
    if not math.isfinite(as_float) or (value != 0 and abs(as_float) < sys.float_info.min):
        return None, OUT_OF_RANGE
    if integer:
        if value != value.to_integral_value():
            return None, NOT_WHOLE
        whole = int(value)
        if not INT_MIN <= whole <= INT_MAX:
            return None, OUT_OF_RANGE
        return str(whole), None
    if value == 0:
        return "0", None
    # Counted on the exact digits: normalize() would first round to the context's 28 digits.
    if len("".join(map(str, value.as_tuple().digits)).strip("0")) > FLOAT_DIGITS:
        return None, TOO_PRECISE
    return format(value.normalize(), "f"), None


def _is_currency_sign(char: str) -> bool:
    return unicodedata.category(char) == "Sc"


# Symbols that stand for one currency wherever they are written; "$", "¥" and "kr" stand for several.
_ONE_CURRENCY = {"€": "EUR", "£": "GBP", "₹": "INR", "CHF": "CHF", "₩": "KRW", "₽": "RUB", "₺": "TRY", "zł": "PLN"}


def _currency_problem(token: str, column: _Column) -> str | None:
    if token in column.own or token.upper() in column.own:
        return None
    if token in column.known or token.upper() in column.known or any(_is_currency_sign(c) for c in token):
        named = token.upper() if token.upper() in column.codes else _ONE_CURRENCY.get(token)
        return f"is in {named}, not {column.code}" if named else f"{OTHER_CURRENCY}, not {column.code}"
    return NOT_A_NUMBER


@functools.lru_cache(maxsize=256)
def _column(convention: NumberConvention) -> _Column:
    from babel import Locale
    from babel.numbers import get_currency_precision, list_currencies

    loc = Locale.parse(convention.locale)
    code = convention.currency
    own = {code} | _home_symbols(code) | {_symbol(code, convention.locale), _symbol(code, "en")}
    if any(s.startswith("kr") for s in own):
        own.add("kr")  # Scandinavian "kr" / "kr." / "Kr." are written interchangeably
    known = set(BARE_SYMBOLS) | set(list_currencies())
    for other in list_currencies():
        known |= {_symbol(other, convention.locale), _symbol(other, "en")}
    grouping = loc.decimal_formats[None].grouping
    return _Column(code, frozenset(list_currencies()), frozenset(own), frozenset(known), get_currency_precision(code), grouping[0] != grouping[1])


@functools.lru_cache(maxsize=512)
def _home_symbols(code: str) -> frozenset[str]:
    """How the currency is written in the locales of the countries that use it now (CLDR)."""
    from babel import localedata
    from babel.core import get_global

    available = set(localedata.locale_identifiers())
    languages = get_global("territory_languages")
    found = set()
    for territory, tenders in get_global("territory_currencies").items():
        if not any(c == code and end is None and tender for c, _, end, tender in tenders):
            continue
        for lang, info in languages.get(territory, {}).items():
            official = (info.get("official_status") or "") in ("official", "official_regional", "de_facto_official")
            if official and f"{lang}_{territory}" in available:
                found.add(_symbol(code, f"{lang}_{territory}"))
    return frozenset(found)


def _symbol(code: str, locale: str) -> str:
    from babel.numbers import get_currency_symbol

    return get_currency_symbol(code, locale)
