"""Timestamps and dates: one Bronze text -> the canonical Silver text of a timestamp or date cell.

`parse_timestamp(text, day_first, date)` returns (canonical, None) or (None, problem), problem one of PROBLEMS.
Canonical: a timestamp as "YYYY-MM-DD HH:MM:SS", with ".ffffff" only when the fraction is not zero, in UTC;
a date (date=True) as "YYYY-MM-DD", the calendar date as written: an offset is checked but not applied and a
time part is checked and dropped. A date-only text in a timestamp column is that day at midnight.

The grammar is this module's own (regular expressions, then datetime for validity) rather than dateutil's
parser: dateutil fills missing parts from a default and guesses around unknown words, which is exactly the
silent guessing the contract forbids, and every accepted form has to be listed here anyway. Case is ignored.

Accepted, as "[weekday] DATE [TIME [AM/PM] [ZONE]]":
- weekday (optional, first): "Tue", "Tues", "Tuesday", with "," or "." after; it must be the date's weekday
  ("names a weekday that does not match the date" otherwise).
- DATE, one of
  * ISO "2024-03-05" (month/day may have one digit; the only form that may take "T" before the time);
  * "2024/03/05", "2024.03.05";
  * numeric "05/03/2024", "05.03.2024", "05-03-2024" (the same separator twice): when both first numbers
    are <= 12 the column's day_first decides D/M/Y against M/D/Y; when one is > 12 it is the day (the only
    valid reading); both > 12 -> "is not a real date or time";
  * named English months, full or 3-letter ("Sept" too, optional "."): "5 March 2024", "05-Mar-2024",
    "5th March, 2024", "March 5, 2024", "Mar 5th 2024", "2024-Mar-05";
  * ctime / Unix date: "Tue Mar  5 14:30:00 2024", "Tue Mar 5 14:30:00 UTC 2024";
  * ISO 8601 basic format with its "T" ("20240305T143000Z", "20240305T1430+0100"), by datetime.fromisoformat.
  A two-digit year in any of them ("05/03/24", "5 Mar 24", RFC 2822's obsolete form) -> "is ambiguous: the
  year has only two digits" (the century and, for numbers, even the field order are guesses).
- TIME after a space, "T" (ISO only), ", " or " at ": "14:30", "14:30:05", "14:30:05.123456" (or ","),
  up to 9 fraction digits of which those past the 6th must be zero ("is more precise than a microsecond");
  12-hour "2:30 PM", "2:30:05 a.m.", "2 pm" (hour 1-12 with AM/PM; 12 AM is midnight).
- ZONE, only after a time: "Z", "UTC", "GMT", "UT", an offset "+02:00" / "+0200" / "+02" / "-05" (also
  U+2212), or "UTC+2" / "GMT+02:00" / "GMT-0500" (sign as read by people, not POSIX's inverted TZ names);
  offsets up to 18 hours. Converted to UTC; no zone -> taken as UTC. Any zone NAME (2-5 capitals: "EST",
  "CET", "IST"; or an IANA "Europe/Berlin") -> "is ambiguous: a time-zone name instead of an offset": no
  table of abbreviations, because the common ones clash ("CST" is US Central and China, "IST" India,
  Ireland and Israel) and the zone-less ones hide daylight saving ("EST" written in July). The same in date
  columns, for one rule. Other words after the time ("14:30 please", lower-case "est") -> not recognised.
- Refused: a bare number, signed or decimal ("1709650200", "45356", "20240305": epoch seconds, Excel serials
  and compact dates are not guessed) -> "is a bare number, not a date"; impossible values (Feb 30, month 13,
  hour 24 or 25, second 60, AM/PM with hour 0 or 13+) -> "is not a real date or time"; a year outside
  1000-9999, before or after the UTC conversion -> "has a year outside 1000-9999"; anything else (a month
  or year alone, "May", "2024-03", ISO week or ordinal dates, words around the value, over 100 characters)
  -> "is not a recognised date or time".

CANONICAL_TEXT (RE2) matches the shape of both canonical forms. It is a shape, not a guarantee: it admits
"2024-02-30" and a ".000000" fraction; engines decide validity with their own canonical try-parse.
"""
from __future__ import annotations

import datetime as dt
import re

NOT_RECOGNISED = "is not a recognised date or time"
A_NUMBER = "is a bare number, not a date"
IMPOSSIBLE = "is not a real date or time"
TWO_DIGIT_YEAR = "is ambiguous: the year has only two digits"
ZONE_NAME = "is ambiguous: a time-zone name instead of an offset"
OUT_OF_RANGE = "has a year outside 1000-9999"
TOO_PRECISE = "is more precise than a microsecond"
WRONG_WEEKDAY = "names a weekday that does not match the date"
PROBLEMS = (NOT_RECOGNISED, A_NUMBER, IMPOSSIBLE, TWO_DIGIT_YEAR, ZONE_NAME, OUT_OF_RANGE, TOO_PRECISE,
            WRONG_WEEKDAY)

CANONICAL_TEXT = r"[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?)?"

MIN_YEAR, MAX_YEAR = 1000, 9999
MAX_OFFSET_HOURS = 18
MAX_LENGTH = 100  # the longest accepted form is about 60 characters

_MONTHS = {name: i for i, names in enumerate(
    [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
     ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"),
     ("november", "nov"), ("december", "dec")], start=1) for name in names}
_WEEKDAYS = {name: i for i, names in enumerate(
    [("monday", "mon"), ("tuesday", "tue", "tues"), ("wednesday", "wed"), ("thursday", "thu", "thur", "thurs"),
     ("friday", "fri"), ("saturday", "sat"), ("sunday", "sun")]) for name in names}

_I = re.IGNORECASE
_NUMBER = re.compile(r"[-+\u2212]?[0-9]+(?:[.,][0-9]+)?(?:e[-+]?[0-9]+)?", _I)
_WEEKDAY = re.compile(r"(?P<wd>[a-z]+)\.?(?:\s*,\s*|\s+)", _I)
_YEAR = r"(?P<y>[0-9]{4}|[0-9]{2})(?![0-9])"
_ORD = r"(?:st|nd|rd|th)?"
_TIME = (r"(?P<H>[0-9]{1,2})(?::(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?:[.,](?P<F>[0-9]{1,9}))?)?)?"
         r"(?:\s*(?P<ampm>[ap])\.?\s?m\.?)?")
# (pattern, ISO: may take "T"); each names y and m/d, or a/b for the two numeric fields of D/M or M/D.
_DATES = [
    (re.compile(r"(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})-(?P<d>[0-9]{1,2})(?![0-9])", _I), True),
    (re.compile(r"(?P<y>[0-9]{4})(?P<s>[/.])(?P<m>[0-9]{1,2})(?P=s)(?P<d>[0-9]{1,2})(?![0-9])", _I), False),
    (re.compile(r"(?P<a>[0-9]{1,2})(?P<s>[/.-])(?P<b>[0-9]{1,2})(?P=s)" + _YEAR, _I), False),
    (re.compile(r"(?P<d>[0-9]{1,2})" + _ORD + r"(?:\s+|-)(?P<mon>[a-z]+)\.?(?:\s*,\s*|\s+|-)" + _YEAR, _I), False),
    (re.compile(r"(?P<mon>[a-z]+)\.?\s+(?P<d>[0-9]{1,2})" + _ORD + r"(?:\s*,\s*|\s+)" + _YEAR, _I), False),
    (re.compile(r"(?P<y>[0-9]{4})-(?P<mon>[a-z]+)-(?P<d>[0-9]{1,2})(?![0-9])", _I), False),
]
_CTIME = re.compile(r"(?P<mon>[a-z]+)\s+(?P<d>[0-9]{1,2})\s+" + _TIME + r"(?:\s+(?P<zone>[a-z]+))?\s+"
                    + r"(?P<y>[0-9]{4})", _I)
_TAIL = re.compile(r"(?:\s*t\s*|\s+at\s+|\s*,\s*|\s+)" + _TIME + r"\s*(?P<zone>.*)", _I)
_ZONE = re.compile(r"(?:(?P<utc>z|utc|gmt|ut)\s*(?P<loose>[-+\u2212](?P<lh>[0-9]{1,2})(?::?(?P<lm>[0-9]{2}))?)?"
                   r"|(?P<off>[-+\u2212](?P<oh>[0-9]{2})(?::?(?P<om>[0-9]{2}))?))", _I)
# Zone abbreviations are written in capitals ("EST", "ACWST"); IANA names as Area/City ("America/New_York").
_ZONE_NAME = re.compile(r"[A-Z]{2,5}|[A-Z][A-Za-z_]+(?:/[A-Za-z0-9_+\-]+)+")


# ISO 8601's basic format ("20240305T143000Z"): read by datetime.fromisoformat; the "T" tells it from a number.
_ISO_BASIC = re.compile(r"[0-9]{8}T[0-9]{4}(?:[0-9]{2}(?:[.,][0-9]{1,6})?)?(?:Z|[-+][0-9]{2}(?::?[0-9]{2})?)?", _I)


# The extended ISO forms most exports write, read the same way: datetime.fromisoformat is exact and far quicker
# than the general grammar below, which reads them identically (a test holds the two together).
_ISO_COMMON = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
                         r"(?:Z|[-+][0-9]{2}:[0-9]{2})?)?")


def _iso_basic(text: str, date: bool) -> str:
    try:
        written = dt.datetime.fromisoformat(text.upper().replace(",", "."))
    except ValueError:
        raise _Refused(IMPOSSIBLE) from None
    if not MIN_YEAR <= written.year <= MAX_YEAR:
        raise _Refused(OUT_OF_RANGE)
    offset = written.utcoffset()
    if offset is not None and abs(offset) >= dt.timedelta(hours=MAX_OFFSET_HOURS + 1):
        raise _Refused(IMPOSSIBLE)
    if date:
        return written.strftime("%Y-%m-%d")
    try:
        utc = written.astimezone(dt.UTC).replace(tzinfo=None) if written.tzinfo else written
    except OverflowError:
        raise _Refused(OUT_OF_RANGE) from None
    if not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise _Refused(OUT_OF_RANGE)
    return utc.strftime("%Y-%m-%d %H:%M:%S") + (f".{utc.microsecond:06d}" if utc.microsecond else "")


class _Refused(Exception):
    def __init__(self, problem: str):
        self.problem = problem


def parse_timestamp(text: str, day_first: bool, date: bool) -> tuple[str | None, str | None]:
    text = text.strip()
    if len(text) > MAX_LENGTH:
        return None, NOT_RECOGNISED
    try:
        return _parse(text, day_first, date), None
    except _Refused as refused:
        return None, refused.problem


def _parse(text: str, day_first: bool, date: bool) -> str:
    if _ISO_BASIC.fullmatch(text) or _ISO_COMMON.fullmatch(text):
        return _iso_basic(text, date)
    return _parse_general(text, day_first, date)


def _parse_general(text: str, day_first: bool, date: bool) -> str:
    if _NUMBER.fullmatch(text):
        raise _Refused(A_NUMBER)
    weekday = None
    wd = _WEEKDAY.match(text)
    if wd and wd["wd"].lower() in _WEEKDAYS:
        weekday, text = _WEEKDAYS[wd["wd"].lower()], text[wd.end():]
    fields = _fields(text)
    if fields is None:
        raise _Refused(NOT_RECOGNISED)
    if len(fields["y"]) != 4:
        raise _Refused(TWO_DIGIT_YEAR)
    year, month, day = _ymd(fields, day_first)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise _Refused(OUT_OF_RANGE)
    hour, minute, second, micro = _clock(fields)
    try:
        written = dt.datetime(year, month, day, hour, minute, second, micro)
    except ValueError:
        raise _Refused(IMPOSSIBLE) from None
    if weekday is not None and written.weekday() != weekday:
        raise _Refused(WRONG_WEEKDAY)
    offset = _offset(fields.get("zone") or "")
    if date:
        return written.strftime("%Y-%m-%d")
    try:
        utc = written - offset
    except OverflowError:
        raise _Refused(OUT_OF_RANGE) from None
    if not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise _Refused(OUT_OF_RANGE)
    return utc.strftime("%Y-%m-%d %H:%M:%S") + (f".{utc.microsecond:06d}" if utc.microsecond else "")


def _fields(text: str) -> dict[str, str] | None:
    """The named parts of the first form that reads the whole text, or None."""
    ctime = _CTIME.fullmatch(text)
    if ctime and ctime["mon"].lower() in _MONTHS and ctime["M"] is not None:
        return {k: v for k, v in ctime.groupdict().items() if v is not None}
    for pattern, iso in _DATES:
        m = pattern.match(text)
        if m is None or (m.groupdict().get("mon") and m["mon"].lower() not in _MONTHS):
            continue
        fields = {k: v for k, v in m.groupdict().items() if v is not None}
        rest = text[m.end():]
        if not rest:
            return fields
        tail = _TAIL.fullmatch(rest)
        if tail is None or (tail["M"] is None and tail["ampm"] is None):
            return None
        if not iso and rest.lstrip()[:1].lower() == "t":
            return None
        fields.update({k: v for k, v in tail.groupdict().items() if v})
        return fields
    return None


def _ymd(fields: dict[str, str], day_first: bool) -> tuple[int, int, int]:
    year = int(fields["y"])
    if "mon" in fields:
        return year, _MONTHS[fields["mon"].lower()], int(fields["d"])
    if "m" in fields:
        return year, int(fields["m"]), int(fields["d"])
    a, b = int(fields["a"]), int(fields["b"])
    if a > 12 and b > 12:
        raise _Refused(IMPOSSIBLE)
    if a > 12 or (b <= 12 and day_first):
        return year, b, a
    return year, a, b


def _clock(fields: dict[str, str]) -> tuple[int, int, int, int]:
    if "H" not in fields:
        return 0, 0, 0, 0
    hour = int(fields["H"])
    fraction = fields.get("F", "")
    if fraction[6:].strip("0"):
        raise _Refused(TOO_PRECISE)
    ampm = fields.get("ampm", "").lower()
    if ampm:
        if not 1 <= hour <= 12:
            raise _Refused(IMPOSSIBLE)
        hour = hour % 12 + (12 if ampm == "p" else 0)
    return hour, int(fields.get("M", 0)), int(fields.get("S", 0)), int(fraction[:6].ljust(6, "0"))


def _offset(zone: str) -> dt.timedelta:
    zone = zone.strip()
    if not zone:
        return dt.timedelta(0)
    m = _ZONE.fullmatch(zone)
    if m is None:
        raise _Refused(ZONE_NAME if _ZONE_NAME.fullmatch(zone) else NOT_RECOGNISED)
    sign_text = m["loose"] or m["off"]
    if not sign_text:
        return dt.timedelta(0)
    hours, minutes = int(m["lh"] or m["oh"]), int(m["lm"] or m["om"] or 0)
    if hours > MAX_OFFSET_HOURS or minutes > 59:
        raise _Refused(IMPOSSIBLE)
    sign = 1 if sign_text[0] == "+" else -1
    return sign * dt.timedelta(hours=hours, minutes=minutes)
