"""Numbers in the column's locale: decimal mark, grouping, currency and sign as real exports write them."""
from __future__ import annotations

import functools

from ...generation.conventions import number_convention
from ..parsers import numbers
from .base import NULL_OR_QUARANTINE
from .library import LibraryRule


class ParseNumber(LibraryRule):
    id = "parse_number"
    checks = "text is a number in the column's locale, with at most its own currency on either side"
    repair = "strip the currency and grouping, read the decimal mark by the locale, cast; integers must be whole"
    on_failure = NULL_OR_QUARANTINE + "; another currency and separators the locale cannot settle included"
    decided_by = "cleaning/parsers/numbers.py (CLDR symbols from Babel; tested against babel.numbers.parse_decimal)"

    def output_type(self, params):
        return "int64" if params["integer"] else "float64"

    def parser(self, params):
        convention = number_convention(params["locale"], params["currency"])
        return functools.partial(numbers.parse_number, convention=convention, integer=params["integer"])

    def pattern(self, params):
        return numbers.CANONICAL_INT if params["integer"] else numbers.CANONICAL_FLOAT


RULES = [ParseNumber()]
