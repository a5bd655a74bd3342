"""How each kind of data-quality error corrupts a clean value.

Every function takes the clean values of the rows chosen for that error and returns their dirty
Bronze text plus a flag per row: raw JSON (numbers, null) or a JSON string. All of it is vectorised.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import phones
from .conventions import number_convention
from .spec import Column, ColumnType, ErrorKind
from .values import epoch_seconds

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"
# Formats a careless upstream system might use; the cleaning catalogue parses every one of them.
# The all-numeric "%m/%d/%Y" is written day first ("%d/%m/%Y") where the column's locale reads dates day first.
DIRTY_TIMESTAMP_FORMATS = ["%Y/%m/%d %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d %b %Y %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"]
DIRTY_DATE_FORMATS = ["%Y/%m/%d", "%m/%d/%Y", "%d %b %Y", "%B %d, %Y"]
NAMED_MONTH_TIMESTAMP = ["%B %d, %Y %H:%M:%S", "%d %B %Y %H:%M:%S", "%a, %d %b %Y %H:%M:%S GMT"]
NAMED_MONTH_DATE = ["%B %d, %Y", "%d %B %Y", "%a, %d %b %Y"]
# Non-zero UTC offsets as ISO 8601 writes them: (text, minutes east of UTC).
OFFSETS = [("+02:00", 120), ("-05:00", -300), ("+05:30", 330), ("+09:00", 540), ("-03:00", -180),
           ("+0100", 60), ("-0700", -420), ("+10:00", 600)]
# Grouping symbols of comma-decimal locales (de_DE ".", fr_FR U+202F, others a space or NBSP), or none.
COMMA_DECIMAL_GROUPS = [".", " ", "\u00a0", "\u202f", ""]
UNPARSEABLE = ["not a date", "2024-13-45 25:61:00", "N/A", "00/00/0000", "tomorrow"]


@dataclass
class Dirty:
    text: pa.Array  # Bronze text of the dirty value
    raw: np.ndarray  # True: emit text as raw JSON (number/null); False: as a JSON string


def as_text(arr: pa.Array, ctype: ColumnType) -> pa.Array:
    """The Bronze text of clean values, as the ledger records them."""
    if pa.types.is_timestamp(arr.type):
        return pc.strftime(arr, TIMESTAMP_FORMAT)
    if pa.types.is_date(arr.type):
        return pc.strftime(arr.cast(pa.timestamp("s")), DATE_FORMAT)
    return pc.cast(arr, pa.string())


def _pick(rng: np.random.Generator, n: int, variants: list[pa.Array]) -> pa.Array:
    return pc.choose(pa.array(rng.integers(0, len(variants), n), pa.int8()), *variants)


def _pick_each(rng: np.random.Generator, values, makers: list) -> pa.Array:
    """As _pick over [make(values) for make in makers], but each maker runs only on the rows that get it."""
    n = len(values)
    choice = rng.integers(0, len(makers), n)
    order = np.argsort(choice, kind="stable")
    pieces = []
    for j, make in enumerate(makers):
        rows = order[choice[order] == j]
        subset = values[rows] if isinstance(values, np.ndarray) else values.take(pa.array(rows))
        pieces.append(make(subset))
    out = pa.concat_arrays([p.cast(pa.string()) for p in pieces])
    inverse = np.empty(n, np.int64)
    inverse[order] = np.arange(n)
    return out.take(pa.array(inverse))


def _const(values: list[str], rng: np.random.Generator, n: int) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(rng.integers(0, len(values), n)))


def _string(text: pa.Array) -> Dirty:
    return Dirty(text, np.zeros(len(text), bool))


def _raw(text: pa.Array) -> Dirty:
    return Dirty(text, np.ones(len(text), bool))


def _bound_seconds(value) -> int:
    return int(np.datetime64(str(value), "s").astype(np.int64))


def expected_text(kind: ErrorKind, clean: pa.Array, clean_text: pa.Array) -> pa.Array:
    """The Silver value a right cleaning gives for these cells, as text like the ledger's clean_value.

    The clean value, except: date_only keeps only the date, so Silver holds that day at midnight; e-mails that
    break the dot rules have no right repair (null: they are to be nulled or their row quarantined).
    """
    if kind == ErrorKind.date_only:
        return pc.strftime(pc.floor_temporal(clean.cast(pa.timestamp("s")), unit="day"), TIMESTAMP_FORMAT)
    if kind == ErrorKind.email_dots:
        return pa.nulls(len(clean), pa.string())
    return clean_text


def eligible(kind: ErrorKind, clean: pa.Array) -> np.ndarray | None:
    """Which clean values a kind can be shown on, for kinds that need something of the value (else None)."""
    if kind == ErrorKind.idn_email:
        return pc.fill_null(pc.match_substring_regex(clean, r"@.*[^\x00-\x7f]"), False).to_numpy(zero_copy_only=False)
    return None


def corrupt(kind: ErrorKind, clean: pa.Array, col: Column, rng: np.random.Generator, orphan_from: int = 0,
            region: str = "US", locale: str = "en_US") -> Dirty:
    """Dirty text of `clean` for `kind`; `region` is the column's phone region, `locale` its CLDR locale."""
    n = len(clean)
    if kind == ErrorKind.whitespace:
        pads = [("  ", ""), ("", "  "), (" ", " "), ("\t", ""), ("", " \n")]
        pick = rng.integers(0, len(pads), n)
        left = pa.array([p[0] for p in pads]).take(pa.array(pick))
        right = pa.array([p[1] for p in pads]).take(pa.array(pick))
        return _string(pc.binary_join_element_wise(left, clean, right, ""))
    if kind == ErrorKind.wrong_case:
        if col.case == "lower":
            return _string(pc.utf8_upper(clean))
        if col.case == "upper":
            return _string(pc.utf8_lower(clean))
        return _string(_pick(rng, n, [pc.utf8_upper(clean), pc.utf8_lower(clean)]))
    if kind == ErrorKind.email_case:
        return _string(_pick(rng, n, [pc.utf8_upper(clean), pc.utf8_title(clean)]))
    if kind == ErrorKind.invalid_email:
        return _string(_pick(rng, n, [
            pc.replace_substring(clean, "@", ""),
            pc.replace_substring(clean, "@", "@@"),
            pc.replace_substring_regex(clean, r"\.[a-z]+$", ""),
            pc.replace_substring(clean, "@", " at "),
        ]))
    if kind in (ErrorKind.phone_format, ErrorKind.malformed_phone, ErrorKind.trunk_prefix,
                ErrorKind.phone_extension):
        return _string(phones.corrupt(kind.value, clean, region, rng))
    if kind == ErrorKind.email_dots:
        doubled = pc.replace_substring_regex(clean, r"^([^@.]+)\.", r"\1..")
        leading = pc.binary_join_element_wise(".", clean, "")
        trailing = pc.replace_substring(clean, "@", ".@", max_replacements=1)
        doubled = pc.if_else(pc.equal(doubled, clean), leading, doubled)
        return _string(_pick(rng, n, [doubled, leading, trailing]))
    if kind == ErrorKind.idn_email:
        return _string(_idn_forms(clean, rng))
    if kind in (ErrorKind.date_format, ErrorKind.named_month):
        ts = clean.cast(pa.timestamp("s")) if pa.types.is_date(clean.type) else clean
        if kind == ErrorKind.named_month:
            formats = NAMED_MONTH_DATE if col.type == ColumnType.date else NAMED_MONTH_TIMESTAMP
        else:
            formats = DIRTY_DATE_FORMATS if col.type == ColumnType.date else DIRTY_TIMESTAMP_FORMATS
            if number_convention(locale).day_first:
                formats = [f.replace("%m/%d/%Y", "%d/%m/%Y") for f in formats]
        return _string(_pick_each(rng, ts, [functools.partial(pc.strftime, format=f) for f in formats]))
    if kind == ErrorKind.iso_offset:
        pick = rng.integers(0, len(OFFSETS), n)
        minutes = np.array([m for _, m in OFFSETS])[pick]
        local = pa.array((epoch_seconds(clean) + minutes * 60).astype("datetime64[s]"), pa.timestamp("s"))
        offset = pa.array([t for t, _ in OFFSETS]).take(pa.array(pick))
        return _string(pc.binary_join_element_wise(pc.strftime(local, "%Y-%m-%dT%H:%M:%S"), offset, ""))
    if kind == ErrorKind.date_only:
        return _string(pc.strftime(clean.cast(pa.timestamp("s")), DATE_FORMAT))
    if kind == ErrorKind.unparseable_date:
        return _string(_const(UNPARSEABLE, rng, n))
    if kind == ErrorKind.date_out_of_range:
        day = 86400
        below = _bound_seconds(col.min) - rng.integers(1, 3650, n) * day
        above = _bound_seconds(col.max) + rng.integers(1, 3650, n) * day
        secs = np.where(rng.random(n) < 0.5, below, above)
        ts = pa.array(secs.astype("datetime64[s]"), pa.timestamp("s"))
        if col.type == ColumnType.date:
            return _string(pc.strftime(ts, DATE_FORMAT))
        return _string(pc.strftime(ts, TIMESTAMP_FORMAT))
    if kind == ErrorKind.out_of_range:
        v = np.abs(clean.cast(pa.float64()).to_numpy(zero_copy_only=False))
        below = float(col.min) - 1 - (v % 10)
        above = float(col.max) + 1 + (v % 50) if col.max is not None else below
        out = np.where(rng.random(n) < 0.5, below, above)
        return _raw(_number_text(out, col))
    if kind == ErrorKind.negative_amount:
        v = np.abs(clean.cast(pa.float64()).to_numpy(zero_copy_only=False))
        return _raw(_number_text(-np.where(v == 0, 1.0, v), col))
    if kind == ErrorKind.number_as_string:
        text = _plain_number(clean, col, ".")
        code, symbol = _currency(col, locale)
        return _string(_pick(rng, n, [
            text,
            pc.binary_join_element_wise(symbol, text, ""),
            pc.binary_join_element_wise(text, f" {code}", ""),
            pc.binary_join_element_wise(" ", text, " ", ""),
        ]))
    if kind == ErrorKind.locale_decimal:
        v = clean.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return _string(_pick_each(rng, v, [functools.partial(decimal_text, mark=",", group=group)
                                           for group in COMMA_DECIMAL_GROUPS]))
    if kind == ErrorKind.currency_code:
        text = _plain_number(clean, col, number_convention(locale).decimal)
        code, symbol = _currency(col, locale)
        return _string(_pick(rng, n, [
            pc.binary_join_element_wise(f"{code} ", text, ""),
            pc.binary_join_element_wise(text, f" {code}", ""),
            pc.binary_join_element_wise(symbol, text, ""),
            pc.binary_join_element_wise(text, symbol, ""),
        ]))
    if kind == ErrorKind.missing:
        return _raw(pa.array(["null"] * n, pa.string()))
    if kind == ErrorKind.empty_string:
        return _string(_const(["", "   "], rng, n))
    if kind == ErrorKind.orphan_fk:
        keys = orphan_from + rng.integers(1, 1_000_000, n)
        return _raw(pc.cast(pa.array(keys), pa.string()))
    raise ValueError(f"{kind.value} is not a cell error")


def _currency(col: Column, locale: str) -> tuple[str, str]:
    """The column's ISO 4217 code and its symbol in the column's locale."""
    from babel.numbers import get_currency_symbol

    code = number_convention(locale, col.currency).currency
    return code, get_currency_symbol(code, locale)


def _plain_number(clean: pa.Array, col: Column, mark: str) -> pa.Array:
    if col.type == ColumnType.int:
        return pc.cast(clean, pa.string())
    return decimal_text(clean.cast(pa.float64()).to_numpy(zero_copy_only=False), mark, "")


def decimal_text(values: np.ndarray, mark: str, group: str) -> pa.Array:
    """Numbers written with `mark` as decimal mark and `group` between thousands, in a form no reader can take
    two ways: at least two decimals, and never exactly three ("1,234" could be 1234 or 1.234), so 1.234 is
    written 1,2340. Values with more than six decimals are written in full."""
    a = np.abs(values)
    scaled = np.rint(a * 1e6).astype(np.int64)
    exact = np.isclose(scaled / 1e6, a, rtol=0, atol=0) & (a < 1e9)
    whole = pc.cast(pa.array(scaled // 1_000_000), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(scaled % 1_000_000), pa.string()), 6, "0")
    frac = pc.utf8_rpad(pc.replace_substring_regex(frac, "0+$", ""), 2, "0")
    frac = pc.if_else(pc.equal(pc.utf8_length(frac), 3), pc.binary_join_element_wise(frac, "0", ""), frac)
    if group:
        # Insert the group symbol every three digits from the right (RE2 has no look-ahead: work reversed).
        rev = pc.replace_substring_regex(pc.utf8_reverse(whole), r"(\d\d\d)", "\\1" + group)
        whole = pc.utf8_reverse(pc.replace_substring_regex(rev, f"{re.escape(group)}$", ""))
    sign = pa.array(np.where(values < 0, "-", ""), pa.string())
    text = pc.binary_join_element_wise(sign, whole, mark, frac, "")
    full = pc.replace_substring(pc.cast(pa.array(values), pa.string()), ".", mark)
    return pc.if_else(pa.array(exact), text, full)


def _idn_forms(clean: pa.Array, rng: np.random.Generator) -> pa.Array:
    """The address with its domain in punycode (ASCII) or in upper-case Unicode: both name the same mailbox."""
    parts = pc.extract_regex(clean, r"^(?P<local>.*)@(?P<domain>[^@]*)$")
    local, domain = pc.struct_field(parts, "local"), pc.struct_field(parts, "domain")
    distinct = pc.unique(domain)
    ascii_form = pa.array([_punycode(d) for d in distinct.to_pylist()], pa.string())
    puny = ascii_form.take(pc.index_in(domain, value_set=distinct))
    forms = [puny, pc.utf8_upper(domain), pc.utf8_upper(puny)]
    joined = [pc.binary_join_element_wise(local, f, "@") for f in forms]
    return pc.if_else(pc.is_valid(parts), _pick(rng, len(clean), joined), clean)


def _punycode(domain: str | None) -> str | None:
    import idna

    if domain is None:
        return None
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return domain


def _number_text(values: np.ndarray, col: Column) -> pa.Array:
    if col.type == ColumnType.int:
        return pc.cast(pa.array(values.astype(np.int64)), pa.string())
    return pc.cast(pa.array(np.round(values, 2)), pa.string())
