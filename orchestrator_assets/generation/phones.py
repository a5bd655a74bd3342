"""Real phone numbers per region, and the ways people write them, all checked against libphonenumber.

Clean phones are drawn from a pool of numbers that `phonenumbers.is_valid_number` accepts. The pool depends
only on the region (built once per process and cached, like the Faker pools), so a million rows only sample
indices. Dirty forms are made per distinct number and each one is checked: a form that is meant to repair
must parse (with the column's region) back to exactly the clean E.164 number, and a malformed one must not
be a valid number at all. A form that fails its check is not injected.
"""
from __future__ import annotations

import functools
import re
import zlib

import numpy as np
import pyarrow as pa

POOL_SIZE = 10_000  # distinct numbers per region; rows share them
_SUFFIX_DIGITS = 1  # a valid number's last digit is varied to fill the pool cheaply (each variant is checked)
_MAX_TRIES = 200_000


def region_for(country_code: int, column_region: str | None, default_region: str) -> str:
    """The region whose numbers a `phone` source with this calling code produces."""
    import phonenumbers

    for region in (column_region, default_region):
        if region and phonenumbers.country_code_for_region(region.upper()) == country_code:
            return region.upper()
    main = phonenumbers.region_code_for_country_code(country_code)
    if main in (None, "ZZ", "001"):
        raise ValueError(f"calling code +{country_code} belongs to no region libphonenumber knows")
    return main


def _lengths(region: str) -> list[int]:
    """National number lengths as people meet them: those of the region's fixed-line and mobile examples."""
    import phonenumbers
    from phonenumbers import PhoneNumberType

    found = set()
    for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is not None:
            found.add(len(phonenumbers.national_significant_number(example)))
    if not found:
        found = set(phonenumbers.PhoneMetadata.metadata_for_region(region).general_desc.possible_length)
    return sorted(found)


@functools.lru_cache(maxsize=32)
def pool(region: str, size: int = POOL_SIZE) -> pa.Array:
    """`size` distinct valid numbers of the region in E.164, the same in every process."""
    import phonenumbers

    region = region.upper()
    code = phonenumbers.country_code_for_region(region)
    if not code:
        raise ValueError(f"unknown phone region {region!r}")
    rng = np.random.default_rng(zlib.crc32(f"phones|{region}|{size}".encode()))
    lengths, step = _lengths(region), 10**_SUFFIX_DIGITS
    # libphonenumber tries the main region of a calling code first, so a number valid for it is valid; numbers
    # of the other regions sharing the code (CA under +1) are checked again as is_valid_number sees them.
    recheck = phonenumbers.region_code_for_country_code(code) != region
    found: dict[str, None] = {}
    tries = 0
    while len(found) < size and tries < _MAX_TRIES:
        length = int(rng.choice(lengths))
        stem = int(rng.integers(10 ** (length - 1), 10**length)) // step * step
        tries += 1
        if not _personal(region, phonenumbers.PhoneNumber(country_code=code, national_number=stem + 1)):
            continue
        for suffix in range(step):  # neighbours of a valid number are mostly valid: cheap, and each is checked
            tries += 1
            number = phonenumbers.PhoneNumber(country_code=code, national_number=stem + suffix)
            if _personal(region, number) and (not recheck or phonenumbers.is_valid_number(number)):
                found[phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)] = None
    if len(found) < size:
        raise ValueError(f"found only {len(found):,} valid {region} numbers in {tries:,} tries")
    return pa.array(list(found)[:size], pa.string())


def _personal(region: str, number) -> bool:
    """A fixed-line or mobile number of this very region (not a neighbour sharing its calling code, not a
    toll-free or premium-rate service number): what a customer gives as their phone."""
    import phonenumbers

    if not phonenumbers.is_valid_number_for_region(number, region):
        return False
    national = phonenumbers.national_significant_number(number)
    return any(p.fullmatch(national) for p in _personal_patterns(region))


@functools.lru_cache(maxsize=64)
def _personal_patterns(region: str) -> tuple[re.Pattern, ...]:
    from phonenumbers import PhoneMetadata

    meta = PhoneMetadata.metadata_for_region(region)
    return tuple(re.compile(desc.national_number_pattern) for desc in (meta.fixed_line, meta.mobile)
                 if desc is not None and desc.national_number_pattern)


def _parses_to(text: str, region: str, e164: str):
    """The number `text` reads as with the region, if it is exactly the valid number `e164` (else None)."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    ok = (phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == e164
          and phonenumbers.is_valid_number(number))
    return number if ok else None


def _is_invalid(text: str, region: str) -> bool:
    import phonenumbers

    try:
        return not phonenumbers.is_valid_number(phonenumbers.parse(text, region))
    except phonenumbers.NumberParseException:
        return True


# Forms per kind. Each is a function (number, e164, region, extension) -> text or None (no such form).
def _international(n, _e, _r, _x):
    import phonenumbers

    return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _national(n, _e, _r, _x):
    import phonenumbers

    return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.NATIONAL)


def _dotted(n, e, r, x):
    digits_groups = "".join(ch if ch.isdigit() else " " for ch in _national(n, e, r, x)).split()
    return ".".join(digits_groups)


def _dashed(n, e, r, x):
    import phonenumbers

    return phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.RFC3966).removeprefix("tel:")


def _national_digits(n, _e, _r, _x):
    import phonenumbers

    return phonenumbers.national_significant_number(n)


def _trunk_international(n, e, r, x):
    """"+49 (0)30 1234567": the trunk prefix, which callers from abroad must leave out, kept in brackets."""
    prefix = _national_prefix(r)
    if prefix != "0":
        return None
    code, _, rest = _international(n, e, r, x).partition(" ")
    return f"{code} (0){rest}"


def _trunk_national(n, e, r, x):
    """The national form with the trunk prefix: "030 1234567", or "1 (201) 555-0123" in NANP regions."""
    prefix = _national_prefix(r)
    if not prefix:
        return None
    text = _national(n, e, r, x)
    return text if text.startswith(prefix) else f"{prefix} {text}"


def _national_prefix(region: str) -> str | None:
    from phonenumbers import PhoneMetadata

    return PhoneMetadata.metadata_for_region(region).national_prefix


def _truncated(n, e, r, x):
    digits = _national_digits(n, e, r, x)
    return digits[: max(3, len(digits) // 2)]


def _with_extension(base):
    def form(n, e, r, x):
        return f"{base(n, e, r, x)}{x}"
    return form


def _e164(_n, e, _r, _x):
    return e


FORMS = {
    "phone_format": (_national, _international, _dotted, _dashed, _national_digits),
    "trunk_prefix": (_trunk_international, _trunk_national),
    "phone_extension": (_with_extension(_e164), _with_extension(_international), _with_extension(_national)),
    "malformed_phone": (_truncated,),
}
EXTENSIONS = (" ext. {}", " x{}", ";ext={}", " ext {}")
PLACEHOLDERS = ("n/a", "unknown", "000")


@functools.lru_cache(maxsize=50_000)
def _parsed(e164: str):
    """The clean number, or None when it is not a valid number (a phone column fed by some other source)."""
    import phonenumbers

    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def dirty_form(kind: str, e164: str, region: str, start: int, ext_digits: str) -> str | None:
    """One checked dirty form of the number: the form `start` picks, or the next one that passes its check."""
    number = _parsed(e164)
    if number is None:
        return None
    ext = EXTENSIONS[start % len(EXTENSIONS)].format(ext_digits)
    makers = FORMS[kind]
    for j in range(len(makers)):
        text = makers[(start + j) % len(makers)](number, e164, region, ext)
        if text is None or text == e164:
            continue
        if kind == "malformed_phone":
            if _is_invalid(text, region):
                return text
        else:
            read = _parses_to(text, region, e164)
            if read is not None and (kind != "phone_extension" or read.extension == ext_digits):
                return text
    return None


def corrupt(kind: str, clean: pa.Array, region: str, rng: np.random.Generator) -> pa.Array:
    """Dirty text per row; a row whose number has no checked form of this kind keeps its clean text.

    Only the rows drawn for the kind pass through here (a small share of a table), one form checked per row."""
    n = len(clean)
    pick = rng.integers(0, 1 << 30, n)
    ext = rng.integers(1, 1000, n)
    out = []
    for value, p, x in zip(clean.to_pylist(), pick.tolist(), ext.tolist(), strict=True):
        if kind == "malformed_phone" and p % 4 == 0:
            out.append(PLACEHOLDERS[p // 4 % len(PLACEHOLDERS)])
            continue
        text = dirty_form(kind, value, region, p // 4, str(x)) if value is not None else None
        out.append(value if text is None else text)
    return pa.array(out, pa.string())
