"""Interim: replaced by the number parser."""
from decimal import Decimal, InvalidOperation

CANONICAL_FLOAT = r"-?\d{1,9}(\.\d{1,6})?"
CANONICAL_INT = r"-?\d{1,15}"


def parse_number(text, convention, integer):
    t = text.replace("$", "").replace("USD", "").replace(",", "").strip()
    try:
        d = Decimal(t)
    except InvalidOperation:
        return None, "is not a number"
    if not d.is_finite() or (integer and d != d.to_integral_value()):
        return None, "is not a number"
    return (str(int(d)) if integer else format(d.normalize(), "f")), None
