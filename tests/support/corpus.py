"""The corpus of real-world messy values (tests/corpus/*.yaml): its cases and one column per parameter set.

Each YAML file holds one column type. A case is {input, expect, note} plus optional column parameters
(region, locale, currency, min, max) and `library` (what the oracle library says where the contract
overrides it). `expect` is {value: <canonical Silver value as text>}, "invalid" or "ambiguous".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

CORPUS_DIR = Path(__file__).resolve().parent.parent / "corpus"
FILES = ("phone", "email", "timestamp", "date", "amount", "int")
PARAMS = ("region", "locale", "currency", "min", "max")
# Which parameters make sense for which Silver column type (spec.py rejects the rest).
ALLOWED_PARAMS = {"phone": {"region"}, "email": set(), "timestamp": {"locale"}, "date": {"locale"},
                  "float": {"locale", "currency", "min", "max"}, "int": {"locale", "currency", "min", "max"}}
NULL_OUTCOMES = ("invalid", "ambiguous")
# Value sources only matter to the generator; the corpus tests hand-build Bronze.
SOURCES = {
    "phone": {"kind": "phone"},
    "email": {"kind": "template", "template": "x{row_id}@example.com"},
    "timestamp": {"kind": "datetime_range", "start": "2020-01-01", "end": "2021-01-01"},
    "date": {"kind": "datetime_range", "start": "2020-01-01", "end": "2021-01-01"},
    "float": {"kind": "float_range", "min": 1, "max": 9},
    "int": {"kind": "int_range", "min": 20, "max": 60},
}


@dataclass(frozen=True)
class Case:
    file: str
    number: int  # 1-based position in its file, stable enough to name a failing case
    type: str  # Silver column type
    input: str
    expect: object  # {"value": str} | "invalid" | "ambiguous"
    note: str
    params: tuple[tuple[str, object], ...]
    library: str | None

    @property
    def id(self) -> str:
        return f"{self.file}-{self.number:03d}"

    @property
    def value(self) -> str | None:
        """The expected canonical value, or None where Silver must hold null."""
        return self.expect["value"] if isinstance(self.expect, dict) else None

    @property
    def outcome(self) -> str:
        return "value" if isinstance(self.expect, dict) else str(self.expect)

    @property
    def column(self) -> str:
        return column_name(self.file, self.params)

    def param(self, name: str, default=None):
        return dict(self.params).get(name, default)

    def describe(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.id} {self.input!r}{f' [{where}]' if where else ''}"


def column_name(file: str, params) -> str:
    parts = [file] + [f"{k}_{v}" for k, v in params]
    return re.sub(r"[^a-z0-9]+", "_", "_".join(parts).lower()).strip("_")


def load_cases() -> list[Case]:
    cases = []
    for file in FILES:
        doc = yaml.safe_load((CORPUS_DIR / f"{file}.yaml").read_text(encoding="utf-8"))
        for number, entry in enumerate(doc["cases"], start=1):
            params = tuple((k, entry[k]) for k in PARAMS if k in entry)
            cases.append(Case(file, number, doc["type"], entry["input"], entry["expect"], entry.get("note", ""),
                              params, entry.get("library")))
    return cases


def columns(cases: list[Case]) -> dict[str, Case]:
    """One column per (file, parameters), named after them; maps each name to its first case."""
    found: dict[str, Case] = {}
    for case in cases:
        found.setdefault(case.column, case)
    return found


def spec_dict(cases: list[Case], required: bool) -> dict:
    """A one-table dataset spec with a column for every parameter set the cases use."""
    cols = {"row_id": {"type": "id", "source": {"kind": "sequence"}}}
    for name, case in columns(cases).items():
        cols[name] = {"type": case.type, "required": required, "source": SOURCES[case.type], **dict(case.params)}
    return {"name": "corpus", "anchor": "cases", "locale": "en_US", "default_phone_region": "US",
            "tables": {"cases": {"rows": {"count": 1}, "primary_key": "row_id", "columns": cols}}}
