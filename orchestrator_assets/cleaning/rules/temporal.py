"""Dates and timestamps: ISO-8601 (offsets to UTC), named months, numeric dates read in the locale's order."""
from __future__ import annotations

import functools

import pyarrow as pa
import pyarrow.compute as pc

from ..parsers import timestamps
from .base import NULL_OR_QUARANTINE
from .library import LibraryRule

DAY = r"[1-9]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
# Whole seconds only: a fraction, hour 24 or a leap second goes to the parser.
TIME = r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d"


class ParseTimestamp(LibraryRule):
    id = "parse_timestamp"
    checks = "text is a date or timestamp in a form read without guessing"
    repair = "re-format as canonical; offsets converted to UTC; date-only timestamps at midnight"
    on_failure = NULL_OR_QUARANTINE + "; ambiguous day/month order, two-digit years and zone names included"
    decided_by = ("cleaning/parsers/timestamps.py: an explicit grammar that never fills in or guesses, the calendar "
                  "checked by datetime; tested against datetime.fromisoformat and python-dateutil")

    def output_type(self, params):
        return "timestamp[us]"

    def parser(self, params):
        return functools.partial(timestamps.parse_timestamp, day_first=params["day_first"], date=params["date"])

    def pattern(self, params):
        return DAY if params["date"] else f"{DAY} {TIME}"

    def arrow_fast(self, params):
        anchored = f"^(?:{self.pattern(params)})$"
        fmt = "%Y-%m-%d" if params["date"] else "%Y-%m-%d %H:%M:%S"

        def fast(values: pa.Array) -> pa.Array:
            # The pattern checks the shape, the round trip the calendar: Arrow's strptime rolls 30 February
            # over into March rather than refusing it.
            shaped = pc.match_substring_regex(values, anchored)
            parsed = pc.strptime(values, fmt, "us", error_is_null=True)
            day = pc.cast(pc.utf8_slice_codeunits(pc.if_else(shaped, values, "0000-00-01"), 8, 10), pa.int8())
            return pc.and_kleene(shaped, pc.equal(pc.day(parsed), day))
        return fast

    def sql_fast(self, d, s, params):
        return f"({d.full_match(s, self.pattern(params))} AND {d.cast(s, 'timestamp[us]')} IS NOT NULL)"


RULES = [ParseTimestamp()]
