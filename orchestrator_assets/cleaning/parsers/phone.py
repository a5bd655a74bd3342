"""Interim: replaced by the phone parser."""
import functools

import phonenumbers

PROBLEMS = ("is not a valid phone number",)


def parse_phone(text, region):
    try:
        n = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None, PROBLEMS[0]
    if not phonenumbers.is_valid_number(n):
        return None, PROBLEMS[0]
    return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164), None


@functools.lru_cache
def canonical_pattern(region):
    return None
