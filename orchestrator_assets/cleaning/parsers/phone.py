"""Phone numbers to E.164, decided by libphonenumber (the `phonenumbers` package), and a fast-path regex.

parse_phone(text, region) -> (canonical, None) or (None, problem). The library parses with the column's
region, so a trunk prefix ("(0)30 ...", "020 ...", "1-415-...") and an international prefix of that region
("00 49 ...", "011 44 ...") are understood; a prefix of another country's ("001 ..." from the US) is not, and
such a number is invalid. An extension is dropped (E.164 has none): "ext. 3", "ext 3", "extn 3",
"extension 3", "x3" and the RFC 3966 ";ext=3", written after the number. A leading "tel:" is unwrapped.

libphonenumber is lenient where a cleaning rule must not be, so the text is checked before it is handed over:
- it reads letters as keypad digits ("1-800-FLOWERS") and skips words around a number ("call 415 555 2671"):
  any letter outside an extension marker makes the value invalid;
- it treats "," ";" "#" as dialling pauses, turning "415 555 2671, 2672" into an extension: those characters,
  and any other symbol that is not phone punctuation, make the value invalid;
- a second number (after a separator, a second "+", or when both halves of the text are valid numbers on their
  own) makes the value invalid rather than one of the two being picked;
- every written digit must be accounted for: the national number is the tail of the digits, and what precedes
  it is only a country code, an international prefix, or a trunk prefix.
"""
from __future__ import annotations

import re
from functools import cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat

from .digit_languages import DigitLanguages

NOT_VALID = "is not a valid phone number"
LETTERS = "contains letters"
SYMBOLS = "contains characters that are not part of a phone number"
SEVERAL = "holds more than one phone number"
PROBLEMS = (NOT_VALID, LETTERS, SYMBOLS, SEVERAL)

_TEL = re.compile(r"tel:\s*", re.IGNORECASE)
_EXTENSION = re.compile(r"(?:;ext=|,?\s*(?:ext\.?|extn\.?|extension|x)\s*)(\d{1,9})\s*$", re.IGNORECASE)
# Phone punctuation: spaces, hyphens and dashes, dots, brackets, a slash; "+" is checked separately.
_PUNCTUATION = set(" \u00a0\u2009\u202f-\u2010\u2011\u2012\u2013\u2014\u2212.()/")
_PLUS = "+\uff0b"
_SEPARATORS = re.compile(r"[,;|&]")
_LEADING_PLUS = re.compile(r"\(?\s*[+\uff0b]")
_SPLIT_POINT = re.compile(r"[\s/]+")

# The number-type descriptions is_valid_number consults (phonenumberutil._number_type_helper).
_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail",
          "fixed_line", "mobile")
_MAX_NSN = 17  # phonenumberutil._MAX_LENGTH_FOR_NSN


def parse_phone(text: str, region: str) -> tuple[str | None, str | None]:
    """`text` (trimmed, non-empty) as E.164 for a column whose numbers are from `region` (e.g. "US").
    An unknown region is the spec's error, not the cell's: ValueError."""
    _known_region(region)
    number = _TEL.sub("", text, count=1) if _TEL.match(text) else text
    extension = _EXTENSION.search(number)
    if extension:
        number = number[: extension.start()].rstrip()
    if any(ch.isalpha() for ch in number):
        return None, LETTERS
    if _SEPARATORS.search(number):
        parts = [p for p in _SEPARATORS.split(number) if sum(ch.isdecimal() for ch in p) >= 3]
        return None, SEVERAL if len(parts) > 1 else SYMBOLS
    plus_count = sum(number.count(p) for p in _PLUS)
    if plus_count > 1:
        return None, SEVERAL if re.search(r"\d[\s\S]*[+\uff0b]", number) else SYMBOLS
    if plus_count == 1 and not _LEADING_PLUS.match(number):
        return None, SYMBOLS
    if any(not (ch.isdecimal() or ch.isspace() or ch in _PUNCTUATION or ch in _PLUS) for ch in number):
        return None, SYMBOLS
    parsed = _valid_number(number, region)
    if parsed is None or not _digits_accounted_for(number, parsed, region):
        return None, SEVERAL if _two_numbers(number, region, written_in_full=False) else NOT_VALID
    if _two_numbers(number, region, written_in_full=True):
        return None, SEVERAL
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164), None


def _valid_number(number: str, region: str):
    try:
        parsed = phonenumbers.parse(number, region)
    except NumberParseException:
        return None
    if parsed.extension or not phonenumbers.is_valid_number(parsed):
        return None
    return parsed


def _digits_accounted_for(number: str, parsed, region: str) -> bool:
    digits = phonenumbers.normalize_digits_only(number)
    nsn = phonenumbers.national_significant_number(parsed)
    cc = str(parsed.country_code)
    home = PhoneMetadata.metadata_for_region(region)
    if not digits.endswith(nsn):
        # The region's own national-prefix rewrite: a short local form gains its area code ("462 1234" in
        # Antigua), an Argentine mobile "011 15-2345-6789" becomes 9 11 2345 6789. Only a national form
        # (no "+") is rewritten.
        return bool(home and home.national_prefix_transform_rule) and not _LEADING_PLUS.match(number)
    prefix = digits[: len(digits) - len(nsn)]
    main = PhoneMetadata.metadata_for_region(phonenumbers.region_code_for_country_code(parsed.country_code))
    trunk = re.escape(main.national_prefix) if main and main.national_prefix else ""
    after_cc = f"{cc}(?:{trunk})?" if trunk else cc
    if _LEADING_PLUS.match(number):
        return re.fullmatch(after_cc, prefix) is not None
    international = home.international_prefix if home and home.international_prefix else None
    if international and re.fullmatch(f"(?:{international})?{after_cc}", prefix):
        return True
    if prefix == "" or re.fullmatch(after_cc, prefix):
        return True
    national = home.national_prefix_for_parsing if home else None
    found = re.match(national, digits) if national else None
    return found is not None and found.end() == len(prefix)


def _two_numbers(number: str, region: str, written_in_full: bool) -> bool:
    """Both sides of some space or slash are complete valid numbers: a list, not one number. When the whole
    text is itself a valid number, only a second half written in full ("+..." or national "0...") counts, so
    that a number's own groups are not read as two numbers."""
    for point in _SPLIT_POINT.finditer(number):
        left, right = number[: point.start()], number[point.end():]
        if not right or sum(ch.isdecimal() for ch in left) < 4:
            continue
        if written_in_full and not re.match(r"\(?\s*[+\uff0b0]", right):
            continue
        if _valid_number(left, region) and _valid_number(right, region):
            return True
    return False


def canonical_pattern(region: str) -> str:
    """A portable regex (RE2, DuckDB, Spark, Python) whose full matches are canonical E.164 numbers of
    `region`'s calling code that parse_phone returns unchanged; it covers every such number except the few the
    library would re-read (a national number starting with the trunk prefix)."""
    return _pattern_for_code(phonenumbers.country_code_for_region(_known_region(region)))


def _known_region(region: str) -> str:
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{region!r} is not a region libphonenumber knows (use a code like 'US' or 'DE')")
    return region


@cache
def _pattern_for_code(code: int) -> str:
    langs = DigitLanguages()
    valid = _valid_national_numbers(langs, code)
    main = PhoneMetadata.metadata_for_region(phonenumbers.region_code_for_country_code(code))
    if main.national_prefix_for_parsing:
        # parse() strips a leading trunk prefix from "+cc..." when what remains still matches the general
        # pattern, which changes the number: leave every number that could happen to to the library. An
        # empty match strips nothing. A "$" in the prefix pattern is over-read as "anything may follow", and
        # a prefix that rewrites the number (a transform rule) as "whatever remains": both only leave more
        # to the library.
        prefix = langs.difference(langs.from_regex(main.national_prefix_for_parsing), langs.EPSILON)
        if main.national_prefix_transform_rule:
            strippable = langs.with_prefix(prefix, _MAX_NSN)
        else:
            strippable = langs.concat(prefix, langs.from_regex(main.general_desc.national_number_pattern))
        valid = langs.difference(valid, strippable)
    if not valid:
        raise ValueError(f"no canonical pattern for calling code {code}")
    return rf"\+{code}" + "(?:" + langs.to_regex(valid) + ")"


def _valid_national_numbers(langs: DigitLanguages, code: int) -> int:
    """National numbers is_valid_number accepts for `code`: the first region of the code that claims a number
    (by its leading digits, or for a region without them by typing the number) decides it."""
    valid = langs.EMPTY
    claimed = langs.EMPTY
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]:
        metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            continue
        general = _desc(langs, metadata.general_desc)
        typed = langs.union(*(_desc(langs, getattr(metadata, t)) for t in _TYPES))
        typed = langs.intersection(typed, general)
        if metadata.leading_digits:
            claims = _prefix_claims(langs, metadata.leading_digits)
            valid = langs.union(valid, langs.difference(langs.intersection(typed, claims), claimed))
            claimed = langs.union(claimed, claims)
        else:
            valid = langs.union(valid, langs.difference(typed, claimed))
            claimed = langs.union(claimed, typed)
    return valid


def _prefix_claims(langs: DigitLanguages, leading_digits: str) -> int:
    """Numbers whose start `re.match(leading_digits, ...)` accepts."""
    return langs.with_prefix(langs.from_regex(leading_digits), _MAX_NSN)


def _desc(langs: DigitLanguages, desc) -> int:
    if desc is None or not desc.national_number_pattern:
        return langs.EMPTY
    # As _is_number_matching_desc: a description without lengths is bounded by the general one's,
    # which every type is intersected with anyway.
    lengths = desc.possible_length
    pattern = langs.from_regex(desc.national_number_pattern)
    if not lengths:
        return pattern
    return langs.intersection(pattern, langs.of_lengths(n for n in lengths if n > 0))
