"""Interim: replaced by the timestamp parser."""
import datetime as dt

CANONICAL_TEXT = r"\d{4}-\d\d-\d\d( \d\d:\d\d:\d\d)?"
FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d %b %Y %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ",
           "%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%d %b %Y", "%B %d, %Y"]


def parse_timestamp(text, day_first, date):
    for f in FORMATS:
        try:
            v = dt.datetime.strptime(text, f)
        except ValueError:
            continue
        return (v.strftime("%Y-%m-%d") if date else v.strftime("%Y-%m-%d %H:%M:%S")), None
    return None, "is not a date in a known format"
