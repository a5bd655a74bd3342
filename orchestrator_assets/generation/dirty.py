"""How each kind of data-quality error corrupts a clean value.

Every function takes the clean values of the rows chosen for that error and returns their dirty
Bronze text plus a flag per row: raw JSON (numbers, null) or a JSON string. All of it is vectorised.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .spec import Column, ColumnType, ErrorKind

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"
# Formats a careless upstream system might use; the cleaning catalogue parses every one of them.
DIRTY_TIMESTAMP_FORMATS = ["%Y/%m/%d %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d %b %Y %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"]
DIRTY_DATE_FORMATS = ["%Y/%m/%d", "%m/%d/%Y", "%d %b %Y", "%B %d, %Y"]
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


def _const(values: list[str], rng: np.random.Generator, n: int) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(rng.integers(0, len(values), n)))


def _string(text: pa.Array) -> Dirty:
    return Dirty(text, np.zeros(len(text), bool))


def _raw(text: pa.Array) -> Dirty:
    return Dirty(text, np.ones(len(text), bool))


def _seconds(arr: pa.Array) -> np.ndarray:
    if pa.types.is_date(arr.type):
        arr = arr.cast(pa.timestamp("s"))
    return arr.cast(pa.int64()).to_numpy(zero_copy_only=False)


def _bound_seconds(value) -> int:
    return int(np.datetime64(str(value), "s").astype(np.int64))


def corrupt(kind: ErrorKind, clean: pa.Array, col: Column, rng: np.random.Generator, orphan_from: int = 0) -> Dirty:
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
    if kind in (ErrorKind.phone_format, ErrorKind.malformed_phone):
        national = pc.utf8_slice_codeunits(clean, -10)
        area, mid = pc.utf8_slice_codeunits(national, 0, 3), pc.utf8_slice_codeunits(national, 3, 6)
        last = pc.utf8_slice_codeunits(national, 6, 10)
        code = pc.utf8_slice_codeunits(clean, 1, -10)
        if kind == ErrorKind.phone_format:
            return _string(_pick(rng, n, [
                pc.binary_join_element_wise("(", area, ") ", mid, "-", last, ""),
                pc.binary_join_element_wise(area, mid, last, "."),
                pc.binary_join_element_wise(area, mid, last, "-"),
                pc.binary_join_element_wise(code, area, mid, last, " "),
                pc.binary_join_element_wise("+", code, " (", area, ") ", mid, "-", last, ""),
            ]))
        return _string(_pick(rng, n, [
            pc.utf8_slice_codeunits(national, 0, 5),
            pc.binary_join_element_wise(area, pc.utf8_slice_codeunits(mid, 0, 2), "-"),
            _const(["n/a", "unknown", "000"], rng, n),
        ]))
    if kind == ErrorKind.date_format:
        ts = clean.cast(pa.timestamp("s")) if pa.types.is_date(clean.type) else clean
        formats = DIRTY_DATE_FORMATS if col.type == ColumnType.date else DIRTY_TIMESTAMP_FORMATS
        return _string(_pick(rng, n, [pc.strftime(ts, f) for f in formats]))
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
        text = pc.cast(clean, pa.string())
        return _string(_pick(rng, n, [
            text,
            pc.binary_join_element_wise("$", text, ""),
            pc.binary_join_element_wise(text, " USD", ""),
            pc.binary_join_element_wise(" ", text, " ", ""),
        ]))
    if kind == ErrorKind.missing:
        return _raw(pa.array(["null"] * n, pa.string()))
    if kind == ErrorKind.empty_string:
        return _string(_const(["", "   "], rng, n))
    if kind == ErrorKind.orphan_fk:
        keys = orphan_from + rng.integers(1, 1_000_000, n)
        return _raw(pc.cast(pa.array(keys), pa.string()))
    raise ValueError(f"{kind.value} is not a cell error")


def _number_text(values: np.ndarray, col: Column) -> pa.Array:
    if col.type == ColumnType.int:
        return pc.cast(pa.array(values.astype(np.int64)), pa.string())
    return pc.cast(pa.array(np.round(values, 2)), pa.string())
