"""The offline planner: a request in plain words, mapped deterministically onto the built-in e-commerce spec.

It recognises row counts, overall / per-table / per-column / per-kind error rates, a country or locale,
tables to leave out (never one another table needs), a few value ranges (ages, prices, order years, items per
order) and a shop's departments. Everything else it reports, word for word, as not honoured.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from ..generation import conventions
from ..generation.generator import ROW_LEVEL, _candidates
from ..generation.spec import BUILTIN_DIR, parse_spec
from ..requests import MAX_ROWS

DEFAULT_ROWS = 100_000

# Longer names first: "order items" must win over "orders", "web events" over "events".
TABLE_WORDS = {
    "order_items": r"order[\s_-]?items?|line[\s_-]?items?|order[\s_-]?lines?|basket[\s_-]?items?",
    "web_events": r"web[\s_-]?events?|click[\s_-]?streams?|web[\s_-]?traffic|page[\s_-]?views?|events?|sessions?",
    "locations": r"locations?|address(?:es)?",
    "users": r"users?|customers?|clients?|buyers?|shoppers?|accounts?",
    "categories": r"categor(?:y|ies)",
    "products": r"products?|catalog(?:ue)?s?|articles?",
    "orders": r"orders?|purchases?|checkouts?",
    "payments": r"payments?|transactions?",
    "shipments": r"shipments?|deliver(?:y|ies)|parcels?",
    "reviews": r"reviews?",
}
TABLE = "(?:" + "|".join(TABLE_WORDS.values()) + ")"
# Columns a request may name, with the table they live in.
COLUMN_WORDS = {
    ("users", ("email",)): r"emails?(?:\s+address(?:es)?)?|mail\s+address(?:es)?",
    ("users", ("phone",)): r"phones?(?:\s+numbers?)?|telephone\s+numbers?",
    ("users", ("age",)): r"ages?",
    ("users", ("first_name", "last_name")): r"(?:customer\s+|user\s+)?names?",
    ("users", ("signup_at",)): r"sign[\s-]?up\s+dates?|signups?",
    ("products", ("price",)): r"prices?",
    ("orders", ("total_amount",)): r"order\s+totals?|totals?|amounts?",
    ("orders", ("status",)): r"(?:order\s+)?status(?:es)?",
    ("orders", ("ordered_at",)): r"order\s+dates?",
    ("locations", ("city",)): r"cit(?:y|ies)",
    ("locations", ("postal_code",)): r"postal\s+codes?|post\s*codes?|zip(?:\s+codes?)?",
    ("reviews", ("rating",)): r"ratings?",
}
KIND_WORDS = {
    ("exact_duplicate",): r"exact\s+duplicates?",
    ("near_duplicate",): r"near[\s-]duplicates?|stale\s+versions?",
    ("exact_duplicate", "near_duplicate"): r"duplicates?(?:\s+rows)?|dupes|duplicated\s+rows",
    ("missing",): r"missing\s+values?|missing|nulls?(?:\s+values)?",
    ("empty_string",): r"empty\s+strings?|blanks?",
    ("invalid_email",): r"invalid\s+e?mails?|broken\s+e?mails?|bad\s+e?mails?",
    ("orphan_fk",): r"orphan(?:ed)?(?:\s+(?:foreign\s+)?keys?|\s+rows)?|dangling\s+(?:foreign\s+)?keys?|broken\s+keys?",
    ("whitespace",): r"(?:extra\s+)?whitespace|extra\s+spaces|padding",
    ("wrong_case", "email_case"): r"wrong\s+case|casing\s+errors?|case\s+errors?",
    ("date_format",): r"(?:mixed\s+)?date\s+formats?",
    ("unparseable_date",): r"(?:unparseable|invalid|bad|broken)\s+dates?",
    ("date_out_of_range",): r"out[\s-]of[\s-]range\s+dates?",
    ("out_of_range",): r"out[\s-]of[\s-]range(?:\s+(?:values?|numbers?))?",
    ("negative_amount",): r"negative\s+(?:amounts?|values?|numbers?|prices?)",
    ("number_as_string",): r"numbers?\s+as\s+(?:strings?|text)",
    ("phone_format",): r"phone\s+formats?|(?:mis)?formatted\s+phones?",
    ("malformed_phone",): r"malformed\s+phones?(?:\s+numbers?)?|invalid\s+phones?(?:\s+numbers?)?|bad\s+phones?",
}


def _alt(words: dict) -> str:
    return "(?:" + "|".join(words.values()) + ")"


TARGET = f"(?:{_alt(KIND_WORDS)}|{_alt(COLUMN_WORDS)}|{TABLE})"
NUM = r"(\d{1,3}(?:[ ,.]\d{3})+(?![.,]?\d)|\d+(?:[.,]\d+)?)"
SCALE = r"(k|m|mio|mil|mn|million|millions|thousand|thousands|bn|billion|billions)"
PCT = r"(\d+(?:\.\d+)?)\s*(?:%|percent|per\s?cent)"
DIRTY = r"(?:dirty|bad|broken|invalid|wrong|corrupt(?:ed)?|errors?|messy|noisy|erroneous|faulty|wrong)"
NEG = r"(?:no|without|skip|skipping|drop|dropping|exclude|excluding|omit|omitting|minus|leave\s+out|remove)"
# Words that carry no request of their own.
_STOP_WORDS = """a an the of from for with and or in on at to by as is are be should have has having some any all
my our your me us we i it its this that these those please give make create generate build want need like
would could get just also plus each every per than about around roughly approximately approx ca data dataset
datasets set shop store webshop web-shop online e-commerce ecommerce retailer retail business company site
rows records table tables lines entries sample test realistic synthetic fake dirty messy mostly but
"""
STOP = frozenset(_STOP_WORDS.split())

COUNTRIES = {
    # code: (words, Faker locale, currency, region names for locations.state)
    "US": (r"usa|u\.s\.|american|united\s+states|us-based", "en_US", "USD",
           ["CA", "TX", "NY", "FL", "IL", "PA", "OH", "GA", "NC", "MI", "WA", "AZ", "MA", "CO", "OR"]),
    "DE": (r"german[a-z]*|deutsch[a-z]*", "de_DE", "EUR",
           ["BW", "BY", "BE", "BB", "HB", "HH", "HE", "MV", "NI", "NW", "RP", "SL", "SN", "ST", "SH", "TH"]),
    "AT": (r"austria|austrian", "de_AT", "EUR", ["W", "NOE", "OOE", "ST", "T", "K", "S", "V", "B"]),
    "FR": (r"french|france", "fr_FR", "EUR",
           ["IDF", "ARA", "NAQ", "OCC", "HDF", "GES", "PAC", "BRE", "NOR", "PDL", "BFC", "CVL", "COR"]),
    "GB": (r"british|britain|uk|u\.k\.|united\s+kingdom|england|english", "en_GB", "GBP", ["ENG", "SCT", "WLS", "NIR"]),
    "CA": (r"canada|canadian", "en_CA", "CAD", ["ON", "QC", "BC", "AB", "MB", "SK", "NS", "NB", "NL", "PE"]),
    "IN": (r"india|indian", "en_IN", "INR", ["MH", "DL", "KA", "TN", "UP", "WB", "GJ", "RJ", "TG", "KL"]),
    "AU": (r"australia|australian|aussie", "en_AU", "AUD", ["NSW", "VIC", "QLD", "WA", "SA", "TAS", "ACT", "NT"]),
    "CN": (r"china|chinese", "zh_CN", "CNY", ["BJ", "SH", "GD", "ZJ", "JS", "SC", "HB", "SD"]),
    "ES": (r"spain|spanish", "es_ES", "EUR", ["MD", "CT", "AN", "VC", "GA", "PV", "CL", "IB"]),
    "IT": (r"italy|italian", "it_IT", "EUR", ["LAZ", "LOM", "CAM", "SIC", "VEN", "PIE", "TOS", "EMR"]),
    "NL": (r"dutch|netherlands|holland", "nl_NL", "EUR", ["NH", "ZH", "UT", "NB", "GE", "OV", "LI", "GR"]),
    "JP": (r"japan|japanese", "ja_JP", "JPY", ["TKY", "OSK", "KNG", "AIC", "HKD", "FKO", "KYT"]),
    "BR": (r"brazil|brazilian", "pt_BR", "BRL", ["SP", "RJ", "MG", "BA", "RS", "PR", "PE", "CE"]),
}
CURRENCY_WORDS = {
    "EUR": r"euros?|eur|€", "USD": r"us\s+dollars?|usd|\$", "GBP": r"pounds?(?:\s+sterling)?|gbp|£",
    "JPY": r"yen|jpy", "INR": r"rupees?|inr", "CAD": r"cad|canadian\s+dollars?", "AUD": r"aud|australian\s+dollars?",
    "CNY": r"yuan|renminbi|rmb|cny", "BRL": r"reais|brl", "CHF": r"swiss\s+francs?|chf",
}
DEPARTMENTS = {
    "electronics": r"electronics?|gadgets?|tech", "home": r"home(?:ware)?|furniture|household",
    "fashion": r"fashion|clothing|clothes|apparel|shoes", "sports": r"sports?|outdoor|fitness",
    "beauty": r"beauty|cosmetics?", "toys": r"toys?", "grocery": r"grocer(?:y|ies)|food|supermarket",
    "books": r"books?|bookshop|bookstore",
}


@dataclass
class Plan:
    spec: dict
    rows: int
    honoured: list[str] = field(default_factory=list)
    not_honoured: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


class PlanError(ValueError):
    """A request the planner refuses outright (the message quotes what was typed)."""


def base_spec() -> dict:
    return yaml.safe_load((BUILTIN_DIR / "ecommerce.yaml").read_text())


def table_of(word: str) -> str | None:
    word = word.strip()
    for name, pattern in TABLE_WORDS.items():
        if re.fullmatch(pattern, word):
            return name
    return None


def number(digits: str, scale: str | None) -> float:
    """'50,000' '1.000.000' '1.5' + 'm' -> a number; a separator before exactly three digits groups thousands."""
    if re.fullmatch(r"\d{1,3}([ ,.]\d{3})+", digits) and not scale:
        return float(re.sub(r"[ ,.]", "", digits))
    value = float(digits.replace(",", "."))
    factor = {"k": 1e3, "thousand": 1e3, "thousands": 1e3, "bn": 1e9, "billion": 1e9, "billions": 1e9}
    return value * (factor.get(scale or "", 1e6 if scale else 1))


class _Text:
    """The request and the parts of it already understood."""

    def __init__(self, request: str):
        text = request.lower().replace("e-mail", "email").replace("’", "'")
        self.text = re.sub(r"\s+", " ", text)
        self.used = [False] * len(self.text)

    def find(self, pattern: str):
        # Understood parts are masked, so a later pattern neither matches across them nor loses a shorter match.
        masked = "".join("\0" if used else c for c, used in zip(self.text, self.used, strict=True))
        for m in re.finditer(r"(?<![\w.])" + pattern + r"(?![\w])", masked):
            if not any(self.used[m.start():m.end()]):
                yield m

    def take(self, m) -> None:
        self.used[m.start():m.end()] = [True] * (m.end() - m.start())

    def leftovers(self) -> list[str]:
        parts, current = [], []
        for m in re.finditer(r"[\w%$€£'.-]+", self.text):
            word = m.group().strip(".-'")
            if any(self.used[m.start():m.end()]) or not word or word in STOP:
                if current:
                    parts.append(" ".join(current))
                    current = []
                continue
            current.append(word)
        if current:
            parts.append(" ".join(current))
        return parts


def plan(request: str, rows: int | None = None) -> Plan:
    if not request.strip():
        raise PlanError("the request is empty; describe the data, e.g. \"50k orders from a German shop\"")
    t = _Text(request)
    spec = base_spec()
    p = Plan(spec, DEFAULT_ROWS)
    _ranges(t, p)
    rates = _rates(t, p)
    _drops(t, p)
    counts = _counts(t, p)
    anchor = counts.pop("orders", None)
    if rows is not None:
        if anchor is not None and anchor != rows:
            p.not_honoured.append(f"{anchor:,} orders: --rows {rows:,} was given and wins")
        anchor = rows
    p.rows = anchor or DEFAULT_ROWS
    spec["tables"]["orders"]["rows"]["count"] = p.rows
    p.honoured.append(f"orders: {p.rows:,} rows" + ("" if anchor else " (the default; no size was asked for)"))
    _table_counts(counts, p)
    _locale(t, p)
    _departments(t, p)
    _apply_rates(rates, p)
    for part in t.leftovers():
        p.not_honoured.append(f"not understood: {part!r}")
    spec["description"] = f"Planned offline from the request: {request.strip()[:400]}"
    return p


# ---- value ranges --------------------------------------------------------------------------------
def _ranges(t: _Text, p: Plan) -> None:
    cols = p.spec["tables"]
    span = r"(?:between|from|of|ranging\s+from|in\s+the\s+range(?:\s+of)?)?\s*"
    to = r"\s*(?:-|–|to|and)\s*"
    for m in t.find(r"(?:aged?|ages?|customers?\s+aged?)\s*" + span + r"(\d{1,3})" + to + r"(\d{1,3})(?:\s*years?(?:\s+old)?)?"):
        t.take(m)
        _age(p, int(m.group(1)), int(m.group(2)), m.group())
    for m in t.find(r"(?:(?:users?|customers?|people|shoppers?)\s+)?(\d{1,3})" + to + r"(\d{1,3})[\s-]*years?[\s-]*old"):
        t.take(m)
        _age(p, int(m.group(1)), int(m.group(2)), m.group())
    money = r"[$€£]?\s*(\d+(?:\.\d+)?)\s*(?:[$€£]|eur|euros?|usd|dollars?|gbp|pounds?)?"
    for m in t.find(r"(?:product\s+)?(?:prices?|priced)\s*" + span + money + to + money):
        t.take(m)
        low, high = float(m.group(1)), float(m.group(2))
        if not 0 <= low < high:
            p.not_honoured.append(f"{m.group()!r}: a price range needs 0 <= low < high")
            continue
        cols["products"]["columns"]["price"]["source"].update(min=low, max=high)
        p.honoured.append(f"products.price: {low:g} to {high:g}")
    for m in t.find(r"(?:prices?|priced)\s+(?:under|below|up\s+to|at\s+most)\s+" + money):
        t.take(m)
        high = float(m.group(1))
        src = cols["products"]["columns"]["price"]["source"]
        src.update(min=min(src["min"], high / 10), max=high)
        p.honoured.append(f"products.price: {src['min']:g} to {high:g}")
    for m in t.find(r"(?:orders?\s+|placed\s+|ordered\s+)?(?:in|during|from|for)\s+(?:the\s+year\s+)?(20\d\d|19\d\d)"
                    r"(?:\s*(?:-|–|to|until|through|and)\s*(20\d\d|19\d\d))?"):
        t.take(m)
        first, last = int(m.group(1)), int(m.group(2) or m.group(1))
        if last < first:
            p.not_honoured.append(f"{m.group()!r}: the years run backwards")
            continue
        _years(p, first, last)
    for m in t.find(r"(\d{1,2})" + to + r"(\d{1,2})\s+items?\s+(?:per|an?|each)\s+order"):
        t.take(m)
        _items(p, int(m.group(1)), int(m.group(2)), m.group())
    for m in t.find(r"(?:up\s+to|at\s+most|max(?:imum)?(?:\s+of)?)\s+(\d{1,2})\s+items?\s+(?:per|an?|each)\s+order"):
        t.take(m)
        _items(p, 1, int(m.group(1)), m.group())
    for m in t.find(r"(?:one|1|a\s+single)\s+item\s+(?:per|an?|each)\s+order"):
        t.take(m)
        _items(p, 1, 1, m.group())


def _age(p: Plan, low: int, high: int, said: str) -> None:
    if not 13 <= low < high <= 120:
        # Gold's age bands run from 13-17 to 65+, and the built-in spec treats other ages as errors.
        p.not_honoured.append(f"{said!r}: ages run from 13 to 120 here, low below high")
        return
    age = p.spec["tables"]["users"]["columns"]["age"]
    age["source"] = {"kind": "int_range", "min": low, "max": high, "distribution": "normal",
                     "mean": (low + high) / 2, "sd": max(1.0, (high - low) / 4)}
    p.honoured.append(f"users.age: {low} to {high}")


def _years(p: Plan, first: int, last: int) -> None:
    tables = p.spec["tables"]
    start, end = f"{first}-01-01", f"{last + 1}-01-01"
    ordered = tables["orders"]["columns"]["ordered_at"]
    ordered["source"].update(start=start, end=end)
    ordered["min"] = min(ordered["min"], f"{first - 1}-01-01")
    ordered["max"] = max(ordered["max"], f"{last + 2}-01-01")
    tables["web_events"]["columns"]["occurred_at"]["source"].update(start=start, end=end)
    tables["reviews"]["columns"]["reviewed_at"]["source"].update(start=start, end=f"{last + 1}-03-01")
    p.honoured.append(f"orders, web events and reviews dated {first}" + (f" to {last}" if last != first else ""))


def _items(p: Plan, low: int, high: int, said: str) -> None:
    if not 1 <= low <= high <= 50:
        p.not_honoured.append(f"{said!r}: items per order must be 1 to 50, low <= high")
        return
    p.spec["tables"]["order_items"]["rows"].update(min_children=low, max_children=high)
    p.honoured.append(f"order_items: {low} to {high} per order")


# ---- error rates ---------------------------------------------------------------------------------
@dataclass
class _Rate:
    share: float
    table: str | None = None  # None: every table (with kind) or the whole dataset (without)
    columns: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    said: str = ""


def _target(word: str) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    word = word.strip()
    for kinds, pattern in KIND_WORDS.items():
        if re.fullmatch(pattern, word):
            return None, (), kinds
    for (table, columns), pattern in COLUMN_WORDS.items():
        if re.fullmatch(pattern, word):
            return table, columns, ()
    return table_of(word), (), ()


def _rates(t: _Text, p: Plan) -> list[_Rate]:
    rates: list[_Rate] = []
    clean = r"(?:no|zero|without(?:\s+any)?)\s+(?:errors?|dirty\s+(?:data|rows)|data\s+quality\s+(?:issues|problems))" \
            r"|error[\s-]free|clean\s+data|perfectly\s+clean|all\s+clean|fully\s+clean|0\s*%\s+errors?"
    for m in t.find(r"(?:" + clean + r")(?!\s+in\b)"):
        t.take(m)
        rates.append(_Rate(0.0, said=m.group()))
    pct_word = r"(?:\s+(?:are|is|should\s+be|to\s+be|with|have|having|being|that\s+are))?"
    for m in t.find(PCT + r"\s+(?:of\s+)?(?:the\s+|all\s+)?(" + TARGET + r")" + pct_word + r"(?:\s+" + DIRTY + r")?"):
        t.take(m)
        table, columns, kinds = _target(m.group(2))
        rates.append(_Rate(float(m.group(1)) / 100, table, columns, kinds, m.group()))
    # "orders with 10% errors" means the whole dataset, so "with" does not tie a share to a table.
    for m in t.find(r"(" + TARGET + r")\s+(?:at\s+|around\s+)?" + PCT + r"(?:\s+" + DIRTY + r")?"):
        t.take(m)
        table, columns, kinds = _target(m.group(1))
        rates.append(_Rate(float(m.group(2)) / 100, table, columns, kinds, m.group()))
    overall = [PCT + r"\s+(?:of\s+(?:the\s+)?(?:rows|records|data|values)\s+)?(?:are\s+|being\s+)?" + DIRTY,
               r"error[\s_-]?rate\s+(?:of\s+|at\s+|=\s*)?" + PCT, PCT + r"\s+error[\s_-]?rate",
               PCT + r"\s+(?:dirty|noise|corruption)"]
    for pattern in overall:
        for m in t.find(pattern):
            t.take(m)
            rates.append(_Rate(float(m.group(1)) / 100, said=m.group()))
    no_errors_in = r"(?:no\s+errors?\s+in|clean|error[\s-]free|without\s+errors?\s+in)\s+(?:the\s+)?(" + TARGET + r")"
    for m in t.find(no_errors_in):
        t.take(m)
        table, columns, kinds = _target(m.group(1))
        rates.append(_Rate(0.0, table, columns, kinds, m.group()))
    for m in t.find(r"(" + TARGET + r")\s+(?:are\s+|is\s+|should\s+be\s+)?(?:clean|error[\s-]free|without\s+errors)"):
        t.take(m)
        table, columns, kinds = _target(m.group(1))
        rates.append(_Rate(0.0, table, columns, kinds, m.group()))
    for m in t.find(NEG + r"\s+(?:any\s+)?(" + _alt(KIND_WORDS) + r")"):
        t.take(m)
        rates.append(_Rate(0.0, None, (), _target(m.group(1))[2], m.group()))
    return rates


def _apply_rates(rates: list[_Rate], p: Plan) -> None:
    # The broad ones first, so "no errors, but 20% of e-mails dirty" reads as a person means it.
    order = sorted(rates, key=lambda r: (bool(r.table or r.kinds), bool(r.columns)))
    for rate in order:
        if not 0 <= rate.share <= 1:
            p.not_honoured.append(f"{rate.said!r}: a share is 0% to 100%")
            continue
        if rate.table and rate.table not in p.spec["tables"]:
            p.not_honoured.append(f"{rate.said!r}: table {rate.table} was left out")
            continue
        if rate.table is None and not rate.kinds:
            p.spec["error_rate"] = rate.share
            for table in p.spec["tables"].values():
                table.pop("error_rate", None)
            p.honoured.append(f"error rate {rate.share:.0%} of rows in every table")
            continue
        if not rate.columns and not rate.kinds:
            p.spec["tables"][rate.table]["error_rate"] = rate.share
            p.honoured.append(f"{rate.table}: {rate.share:.0%} of rows dirty")
            continue
        tables = [rate.table] if rate.table else list(p.spec["tables"])
        hits = [_set_share(p, name, rate) for name in tables]
        if not any(hits):
            p.not_honoured.append(f"{rate.said!r}: no table carries that error")


def _targeted(rate: _Rate, column: str, kind: str) -> bool:
    if rate.columns and column not in rate.columns:
        return False
    return not rate.kinds or kind in rate.kinds


def _set_share(p: Plan, tname: str, rate: _Rate) -> bool:
    """Make the targeted errors hit `share` of the table's rows, the other errors keeping their share."""
    table = p.spec["tables"][tname]
    spec = parse_spec(p.spec, "planner")
    cands = _candidates(spec, tname)
    hit = [(c, k, w) for c, k, w in cands if _targeted(rate, c, k.value)]
    if not hit:
        return False
    what = f"{tname}." + "/".join(rate.columns) if rate.columns else f"{'/'.join(rate.kinds)} in {tname}"
    if rate.share == 0:
        _remove(table, rate)
        p.honoured.append(f"{what}: no errors")
        return True
    row_level = hit[0][0] == ROW_LEVEL
    hit_cols = {c for c, _, _ in hit}
    total = sum(w for *_, w in cands)
    tw = sum(w for *_, w in hit)
    cw = sum(w for c, _, w in cands if c in hit_cols)
    ow = total - cw
    r = spec.error_rate if spec.tables[tname].error_rate is None else spec.tables[tname].error_rate
    q = r * ow / total  # what the other errors hit now, and should keep hitting
    share = rate.share
    if q == 0 or ow == 0:
        new_rate, factor = share * cw / tw, None
    else:
        new_rate, factor = q + share * cw / tw, share * total / (r * tw)
    if new_rate > 1:
        if tw <= share * cw or ow == 0:
            p.not_honoured.append(f"{rate.said!r}: at most {tw / cw:.0%} of {tname} rows can carry that error")
            return True
        new_rate, factor = 1.0, share * ow / (tw - share * cw)
        p.not_honoured.append(f"{rate.said!r}: {tname}'s other errors were reduced to make room")
    if q == 0 and ow > 0:
        # The table was clean: only the asked-for errors go in.
        for cname, col in table["columns"].items():
            if cname not in hit_cols:
                col["error_weight"] = 0
        table["row_errors"] = [k for k in table.get("row_errors", []) if _targeted(rate, ROW_LEVEL, k)]
    elif factor is not None:
        for cname, col in table["columns"].items():
            if row_level and cname not in hit_cols:
                col["error_weight"] = round(col.get("error_weight", 1.0) / factor, 6)
            elif not row_level and cname in hit_cols:
                col["error_weight"] = round(col.get("error_weight", 1.0) * factor, 6)
    table["error_rate"] = round(new_rate, 6)
    p.honoured.append(f"{what}: {share:.0%} of rows")
    if cw > tw:
        p.not_honoured.append(f"{rate.said!r}: the other error kinds of the same column(s) in {tname} changed along")
    return True


def _remove(table: dict, rate: _Rate) -> None:
    for cname, col in table["columns"].items():
        col["errors"] = [k for k in col.get("errors", []) if not _targeted(rate, cname, k)]
    table["row_errors"] = [k for k in table.get("row_errors", []) if not _targeted(rate, ROW_LEVEL, k)]


# ---- tables --------------------------------------------------------------------------------------
def needs(spec: dict) -> dict[str, dict[str, str]]:
    """table -> {table it needs: why}."""
    out: dict[str, dict[str, str]] = {}
    for tname, table in spec["tables"].items():
        why = out.setdefault(tname, {})
        rows = table["rows"]
        for ref in (rows.get("per"), rows.get("children_of")):
            if ref:
                why.setdefault(ref, "its row count follows it")
        for cname, col in table["columns"].items():
            src = col["source"]
            if src["kind"] == "foreign_key":
                why.setdefault(src["table"], f"{tname}.{cname} points into it")
            elif src["kind"] == "aggregate":
                why.setdefault(src["table"], f"{tname}.{cname} is computed from it")
    return out


def _drops(t: _Text, p: Plan) -> None:
    tables = p.spec["tables"]
    wanted: list[tuple[str, str]] = []
    run = TABLE + r"(?:\s*(?:,|and|or|&|nor)\s*(?:no\s+|the\s+)?" + TABLE + r")*"
    for m in t.find(NEG + r"\s+(?:the\s+|any\s+)?(" + run + r")(?:\s+(?:tables?|data))?"):
        t.take(m)
        for word in re.findall(TABLE, m.group(1)):
            if table_of(word):
                wanted.append((table_of(word), m.group()))
    for m in t.find(r"(?:only|just)\s+(?:the\s+)?(" + run + r")(?:\s+tables?)?"):
        t.take(m)
        keep = {table_of(w) for w in re.findall(TABLE, m.group(1))} | {"orders"}
        closure = _closure(p.spec, keep)
        wanted += [(name, m.group()) for name in tables if name not in closure]
        extra = sorted(closure - keep)
        if extra:
            p.not_honoured.append(f"{m.group()!r}: also kept {', '.join(extra)}, which the others need")
    drop = {name for name, _ in wanted}
    if "orders" in drop:
        p.not_honoured.append("orders cannot be left out: it is the table the size is asked for")
        drop.discard("orders")
    graph = needs(p.spec)
    while True:
        kept = set(tables) - drop
        refused = {d: [(u, graph[u][d]) for u in sorted(kept) if d in graph[u]] for d in drop}
        refused = {d: users for d, users in refused.items() if users}
        if not refused:
            break
        for d, users in sorted(refused.items()):
            reasons = "; ".join(why for _, why in users)
            p.not_honoured.append(f"{d} cannot be left out: {', '.join(u for u, _ in users)} need(s) it ({reasons})")
            drop.discard(d)
    for name in sorted(drop):
        del tables[name]
        p.dropped.append(name)
        p.honoured.append(f"left out: {name}")


def _closure(spec: dict, keep: set[str]) -> set[str]:
    graph, seen, todo = needs(spec), set(), list(keep)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += list(graph.get(name, {}))
    return seen


# ---- row counts ----------------------------------------------------------------------------------
def _counts(t: _Text, p: Plan) -> dict[str, int]:
    counts: dict[str, int] = {}
    patterns = [
        NUM + r"\s*" + SCALE + r"?\s+(?:rows\s+of\s+|records\s+of\s+)?(" + TABLE + r")",
        r"(" + TABLE + r")\s*(?::|=|of|with)?\s*" + NUM + r"\s*" + SCALE + r"?(?!\s*%)(?=\s|,|;|$)",
        NUM + r"\s*" + SCALE + r"?\s+(?:rows|records|lines|entries)",
        NUM + r"\s*" + SCALE,
    ]
    for i, pattern in enumerate(patterns):
        for m in t.find(pattern):
            groups = m.groups()
            if i == 1:
                word, digits, scale = groups
            elif i == 0:
                digits, scale, word = groups
            else:
                digits, scale, word = groups[0], groups[1], "orders"
            table = table_of(word)
            value = number(digits, scale)
            t.take(m)
            if value != int(value) or value < 1:
                p.not_honoured.append(f"{m.group()!r}: a row count is a whole number of at least 1")
                continue
            if table == "orders" and value > MAX_ROWS:
                raise PlanError(f"{m.group()!r} is {int(value):,} orders, above the limit of {MAX_ROWS:,}")
            counts[table] = int(value)
    return counts


def _table_counts(counts: dict[str, int], p: Plan) -> None:
    tables = p.spec["tables"]
    for name, n in counts.items():
        if name not in tables:
            p.not_honoured.append(f"{n:,} {name}: that table was left out")
            continue
        rows = tables[name]["rows"]
        if "count" in rows:
            rows["count"] = n
        elif "per" in rows and rows["per"] == "orders":
            rows.update(ratio=n / p.rows, at_least=1)
            rows.pop("at_most", None)
        else:
            p.not_honoured.append(f"{n:,} {name}: {name} follows orders ({rows.get('min_children', 1)} to "
                                  f"{rows.get('max_children', 4)} per order); ask for 'N to M items per order'")
            continue
        p.honoured.append(f"{name}: {n:,} rows")


# ---- locale, departments -------------------------------------------------------------------------
def _locale(t: _Text, p: Plan) -> None:
    chosen = None
    for code, (words, *_rest) in COUNTRIES.items():
        for m in t.find(r"(?:" + words + r")(?:\s+(?:shop|store|customers?|market))?"):
            t.take(m)
            chosen = chosen or code
    currency = None
    for code, words in CURRENCY_WORDS.items():
        for m in t.find(r"(?:in\s+|prices\s+in\s+)?(?:" + words + r")"):
            t.take(m)
            currency = currency or code
    tables = p.spec["tables"]
    if chosen:
        _, locale, default_currency, states = COUNTRIES[chosen]
        currency = currency or default_currency
        for table in tables.values():
            for col in table["columns"].values():
                if col["source"]["kind"] == "faker":
                    col["source"]["locale"] = locale
        loc = tables["locations"]["columns"]
        p.spec["name"] = f"ecommerce_{chosen.lower()}"
        loc["country_code"]["source"]["values"] = [chosen]
        loc["state"]["source"]["values"] = states
        if not locale.startswith("en_"):
            _ascii_emails(tables["users"])
        note = f"locale {locale} (Faker names, addresses, text), country {chosen}"
        code = conventions.calling_code(chosen)
        if code:
            p.spec["default_phone_region"] = chosen
            tables["users"]["columns"]["phone"]["source"]["country_code"] = code
            note += f", phones +{code} (region {chosen})"
        else:
            p.not_honoured.append(f"phones stay +1 (US): libphonenumber knows no region {chosen!r}")
        if not conventions.locale_problems(locale):
            p.spec["locale"] = locale
            note += f", numbers and dates read as {locale}"
        p.honoured.append(note)
    if currency:
        tables["orders"]["columns"]["currency"]["source"]["values"] = [currency]
        # Amounts carry the same currency, so "£12.50" in a GBP shop is read and "$12.50" is refused.
        for table in tables.values():
            for name, col in table["columns"].items():
                if col.get("type") == "float" and ("amount" in name or "price" in name):
                    col["currency"] = currency
        p.honoured.append(f"currency {currency}")


def _ascii_emails(users: dict) -> None:
    # Local names (Müller, 李) are not valid in addresses; Faker's user names are transliterated.
    cols = users["columns"]
    helper = {"type": "string", "emit": False, "source": {"kind": "faker", "provider": "user_name", "pool_size": 5000,
                                                         "locale": cols["first_name"]["source"]["locale"]}}
    rebuilt = {}
    for name, col in cols.items():
        if name == "email":
            rebuilt["email_user"] = helper
            col["source"]["template"] = "{email_user}{user_id}@{email_domain}"
        rebuilt[name] = col
    users["columns"] = rebuilt


def _departments(t: _Text, p: Plan) -> None:
    found = []
    for dept, words in DEPARTMENTS.items():
        for m in t.find(r"(?:" + words + r")(?:\s+(?:shop|store|retailer|products))?"):
            t.take(m)
            if dept not in found:
                found.append(dept)
    if found and "categories" in p.spec["tables"]:
        p.spec["tables"]["categories"]["columns"]["department"]["source"]["values"] = found
        p.honoured.append(f"departments: {', '.join(found)}")
        p.not_honoured.append("product and category names stay generic Faker text (only the department follows "
                              "the shop's kind)")
