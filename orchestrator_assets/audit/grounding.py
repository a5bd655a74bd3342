"""Every number a model writes must come from a tool result: extract, compare, drop what is made up."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# A number that is not part of a word or an id (job-1, j2, sha256): digits with optional thousands commas,
# decimals and a percent sign.
NUMBER = re.compile(r"(?<![\w.\-/])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?|(?<![\w.\-/])-?\d+(?:\.\d+)?%?(?![\w\-])")


def numbers_in(text: str) -> list[str]:
    return [m.group(0).rstrip(".") for m in NUMBER.finditer(text or "")]


def evidence_numbers(*values) -> set[Decimal]:
    """Every number in the evidence: numeric values, and numbers written inside its strings."""
    out: set[Decimal] = set()

    def walk(v):
        if isinstance(v, bool) or v is None:
            return
        if isinstance(v, (int, float)):
            out.add(Decimal(str(v)))
        elif isinstance(v, str):
            for token in numbers_in(v):
                out.add(_value(token))
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)

    for v in values:
        walk(v)
    return out


def _value(token: str) -> Decimal:
    return Decimal(token.rstrip("%").replace(",", ""))


def _decimals(token: str) -> int:
    body = token.rstrip("%")
    return len(body.split(".")[1]) if "." in body else 0


def grounded(token: str, known: set[Decimal]) -> bool:
    """The token equals an evidence number as written, as rounded to the token's precision, or (for a
    percentage) as a share times 100."""
    try:
        x = _value(token)
    except InvalidOperation:
        return False
    q = Decimal(1).scaleb(-_decimals(token))
    for v in known:
        if v == x or v.quantize(q) == x:
            return True
        if token.endswith("%") and (v * 100).quantize(q) == x:
            return True
    return False


def ungrounded(text: str, known: set[Decimal]) -> list[str]:
    return [t for t in numbers_in(text) if not grounded(t, known)]


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", (text or "").strip()) if s]
