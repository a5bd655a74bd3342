"""Locales, currencies and phone regions: what a spec may name, and what each one implies.

One place answers "which decimal mark, which currency, which day/month order, which calling region" for a
column, so the generator and every cleaning engine read the same conventions.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class NumberConvention:
    locale: str
    decimal: str  # the locale's decimal mark, "." or ","
    group: str  # the locale's grouping symbol as CLDR writes it (",", ".", NBSP, U+202F, "'", ...)
    currency: str  # ISO 4217
    day_first: bool  # all-numeric dates: day before month


@functools.lru_cache(maxsize=64)
def number_convention(locale: str, currency: str | None = None) -> NumberConvention:
    from babel import Locale
    from babel.numbers import get_decimal_symbol, get_group_symbol, get_territory_currencies

    loc = Locale.parse(locale)
    if currency is None:
        territory = loc.territory or Locale.parse(f"{locale}_{_likely_territory(loc)}").territory
        found = get_territory_currencies(territory) if territory else []
        currency = found[0] if found else "USD"
    pattern = loc.date_formats["short"].pattern.lower()
    day_first = pattern.index("d") < pattern.index("m")
    return NumberConvention(str(loc), get_decimal_symbol(loc), get_group_symbol(loc), currency, day_first)


def _likely_territory(loc) -> str:
    from babel.core import get_global

    likely = get_global("likely_subtags").get(loc.language, "")
    return likely.split("_")[-1] if "_" in likely else ""


def locale_problems(locale: str) -> list[str]:
    from babel import Locale, UnknownLocaleError

    try:
        Locale.parse(locale)
    except (UnknownLocaleError, ValueError, TypeError):
        return [f"unknown locale {locale!r} (a CLDR locale such as en_US, de_DE, fr_FR)"]
    return []


def currency_problems(code: str) -> list[str]:
    from babel.numbers import list_currencies

    if code not in list_currencies():
        return [f"unknown currency {code!r} (an ISO 4217 code such as USD, EUR)"]
    return []


def region_problems(region: str) -> list[str]:
    import phonenumbers

    if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        return [f"unknown phone region {region!r} (an ISO 3166 alpha-2 code such as US, DE)"]
    return []


def calling_code(region: str) -> int:
    """The country calling code of a phone region (49 for DE), or 0 for a region libphonenumber does not know."""
    import phonenumbers

    return phonenumbers.country_code_for_region(region.upper())
