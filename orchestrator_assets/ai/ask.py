"""`ask`: a request in plain words -> a validated dataset spec, a summary, and a saved copy.

The schema library is looked at first (close specs are offered); then the configured model writes the spec,
or the offline planner maps the request onto the built-in one. A model's answer is validated with the
project's own model (parse_spec) and, when it fails, sent back with the messages for a bounded number of
repairs. Nothing is written unless a spec validated.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..generation.generator import _candidates
from ..generation.spec import DatasetSpec, SpecError, export_json_schema, load_spec, parse_spec
from ..requests import MAX_ROWS
from ..settings import load_settings
from . import planner
from .providers import Provider, open_provider
from .settings import AISettings, ai_settings


class AskError(ValueError):
    """A request that produced no usable spec; nothing was saved."""


SYSTEM_PROMPT = """You write dataset specs for a generator of deliberately dirty synthetic data.
Answer with one JSON object: a complete dataset spec that follows the JSON Schema below. Start from the
built-in e-commerce spec below and change only what the request asks for (row counts, error rates and kinds,
locales, tables left out, value ranges). Put the number of rows of the anchor table the user asks for in
tables.<anchor>.rows.count. Keep every table another table needs (foreign keys, lookups, aggregates, rows.per,
rows.children_of). Error kinds must apply to the column's type. No prose, no markdown, JSON only.

JSON Schema of a dataset spec:
{schema}

Built-in e-commerce spec (defaults left out):
{base}
"""
REPAIR_PROMPT = """That spec does not validate:
{errors}
Answer with the corrected complete spec as one JSON object."""


@dataclass
class AskResult:
    spec: DatasetSpec
    rows: int
    summary: str
    provenance: dict
    path: Path | None = None
    entry_id: str | None = None
    similar: list[tuple[str, str, float]] = field(default_factory=list)  # (id, name, score)


def open_library(log: Callable[[str], None] = lambda _line: None):
    """The schema library, or None when it is not installed or cannot open (ask works without it)."""
    try:
        from .library import SchemaLibrary

        return SchemaLibrary.open()
    except ModuleNotFoundError as err:
        if err.name == f"{__package__}.library":
            return None
        log(f"schema library unavailable ({err}); the spec is saved as a file only")
        return None
    except Exception as err:  # noqa: BLE001 - any failure of an optional store must not stop ask
        log(f"schema library unavailable ({type(err).__name__}: {err}); the spec is saved as a file only")
        return None


class LazyLibrary:
    """The schema library, opened on first use: a request refused before then writes nothing, not even the
    library's first files."""

    def __init__(self, log: Callable[[str], None] = lambda _line: None):
        self._log, self._library, self._opened = log, None, False

    def _open(self):
        if not self._opened:
            self._library, self._opened = open_library(self._log), True
        return self._library

    def __bool__(self) -> bool:
        return self._open() is not None

    def get(self, entry_id: str):
        from ..settings import load_settings

        if not self._opened and not (load_settings().data_dir / "schema_library").exists():
            raise LookupError(entry_id)  # nothing stored yet, and a lookup must not create the library
        library = self._open()
        if library is None:
            raise LookupError(entry_id)
        return library.get(entry_id)

    def __getattr__(self, name: str):
        library = self._open()
        if library is None:
            raise AttributeError(name)
        return getattr(library, name)


def ask(request: str, *, rows: int | None = None, owner: str = "", settings: AISettings | None = None,
        library=None, reuse: str | None = None, provider: Provider | None = None,
        log: Callable[[str], None] = lambda _line: None) -> AskResult:
    settings = settings or ai_settings()
    if rows is not None and not 1 <= rows <= MAX_ROWS:
        raise AskError(f"--rows {rows} is outside 1 to {MAX_ROWS:,}")
    if reuse and not re.fullmatch(r"[0-9a-f]{12}", reuse):
        raise AskError(f"--reuse {reuse}: not a library id (12 hexadecimal digits, from `orchestrator schemas "
                       "list`)")
    if reuse:
        if library is None:
            raise AskError(f"--reuse {reuse}: the schema library is not available")
        try:
            entry, spec = library.get(reuse)
        except (LookupError, ValueError):
            raise AskError(f"--reuse {reuse}: no spec with that id in the library") from None
        provenance = {"generator": "library", "reused": reuse, "prompt": request}
        notes: list[str] = []
    elif settings.provider == "none":
        spec, provenance, notes = _from_planner(request, rows)
    else:
        spec, provenance = _from_model(request, settings, provider or open_provider(settings), log)
        notes = []
    understood = provenance.get("honoured", [])
    final_rows = rows or _anchor_rows(spec)
    if not 1 <= final_rows <= MAX_ROWS:
        raise AskError(f"the spec asks for {final_rows:,} {spec.anchor}, outside 1 to {MAX_ROWS:,}; nothing saved")
    # Only now, with the request understood: a refused one must not even create the library's files.
    library = library if library else None
    similar = _similar(library, request, settings, log)
    provenance.update(rows=final_rows, created_at=datetime.now(UTC).isoformat(timespec="seconds"))
    result = AskResult(spec, final_rows, summarize(spec, final_rows, notes, understood), provenance, similar=similar)
    result.path = save_spec_file(spec, provenance)
    if library is not None and not reuse:
        entry = library.add(spec, request=request, owner=owner, source="generated", provenance=provenance,
                            tags=[re.sub(r"[^a-z0-9_.-]+", "-", provenance["generator"].lower()).strip("-")])
        result.entry_id = entry.id
    elif reuse:
        result.entry_id = reuse
    return result


def _similar(library, request: str, settings: AISettings, log) -> list[tuple[str, str, float]]:
    if library is None:
        return []
    try:
        found = library.search(request, k=3)
    except Exception as err:  # noqa: BLE001 - a failed look-up only loses the offer
        log(f"schema library search failed ({type(err).__name__}: {err})")
        return []
    return [(e.id, e.name, round(score, 3)) for e, score in found if score >= settings.library_min_score]


def _anchor_rows(spec: DatasetSpec) -> int:
    count = spec.tables[spec.anchor].rows.count
    return count or planner.DEFAULT_ROWS


def _from_planner(request: str, rows: int | None) -> tuple[DatasetSpec, dict, list[str]]:
    try:
        p = planner.plan(request, rows)
    except planner.PlanError as err:
        raise AskError(str(err)) from None
    spec = parse_spec(p.spec, "offline planner")
    provenance = {"generator": "offline planner", "provider": "none", "model": None, "prompt": request,
                  "attempts": 1, "input_tokens": 0, "output_tokens": 0, "honoured": p.honoured,
                  "not_honoured": p.not_honoured, "left_out": p.dropped}
    return spec, provenance, p.not_honoured


def _from_model(request: str, settings: AISettings, provider: Provider, log) -> tuple[DatasetSpec, dict]:
    schema = export_json_schema()
    base = load_spec().model_dump(mode="json", exclude_defaults=True)
    system = SYSTEM_PROMPT.format(schema=json.dumps(schema), base=json.dumps(base))
    prompt = f"Request: {request}"
    messages = [{"role": "user", "content": prompt}]
    log_rows, tokens_in, tokens_out, calls = [], 0, 0, 0
    problems = ""
    for attempt in range(1, settings.max_repairs + 2):
        reply = provider.complete(system, messages, schema)
        tokens_in, tokens_out, calls = tokens_in + reply.input_tokens, tokens_out + reply.output_tokens, calls + reply.calls
        try:
            spec = _parse_answer(reply.text, f"{provider.name} answer {attempt}")
        except SpecError as err:
            problems = str(err)
            log(f"attempt {attempt}: the answer does not validate; sending the problems back")
            log_rows.append({"attempt": attempt, "valid": False, "problems": problems[:4000],
                             "input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens})
            messages += [{"role": "assistant", "content": reply.text},
                         {"role": "user", "content": REPAIR_PROMPT.format(errors=problems)}]
            continue
        log_rows.append({"attempt": attempt, "valid": True, "input_tokens": reply.input_tokens,
                         "output_tokens": reply.output_tokens})
        return spec, {"generator": "model", "provider": provider.name, "model": provider.model,
                      "endpoint": getattr(provider, "label", ""), "prompt": prompt,
                      "system_prompt_sha256": hashlib.sha256(system.encode()).hexdigest(),
                      "attempts": attempt, "calls": calls, "input_tokens": tokens_in, "output_tokens": tokens_out,
                      "attempt_log": log_rows}
    raise AskError(f"{provider.name} ({provider.model}) gave no valid spec in {settings.max_repairs + 1} attempts "
                   f"(AI_MAX_REPAIRS={settings.max_repairs}); nothing was saved. Last problems:\n{problems}")


def _parse_answer(text: str, origin: str) -> DatasetSpec:
    body = text.strip()
    if body.startswith("```"):  # some servers wrap JSON mode answers in a fence anyway
        body = body.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(body)
    except json.JSONDecodeError as err:
        raise SpecError(f"invalid dataset spec ({origin}): the answer is not JSON ({err.msg} at char {err.pos})") from None
    if not isinstance(data, dict):
        raise SpecError(f"invalid dataset spec ({origin}): the answer must be one JSON object")
    return parse_spec(data, origin)


def spec_dir() -> Path:
    return load_settings().data_dir / "specs"


def save_spec_file(spec: DatasetSpec, provenance: dict) -> Path:
    """<data>/specs/<digest>.json (usable with `orchestrator submit --spec`) and its provenance beside it.

    Each file is written to a temporary name and renamed, so a failed write leaves no partial file; the same
    spec lands at the same path, so asking twice does not duplicate it."""
    folder = spec_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec.name}-{spec.digest()[:12]}.json"
    _atomic_write(path.with_suffix(".provenance.json"), json.dumps(provenance, indent=2, default=str))
    _atomic_write(path, json.dumps(spec.model_dump(mode="json"), indent=2))
    return path


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---- summary -------------------------------------------------------------------------------------
def expected_rows(spec: DatasetSpec, anchor_rows: int) -> dict[str, float]:
    """Rows per table at this size; children per parent are counted at their mean, as the generator draws them."""
    counts: dict[str, float] = {spec.anchor: anchor_rows}
    pending = [t for t in spec.tables if t != spec.anchor]
    while pending:
        before = len(pending)
        for name in list(pending):
            rows = spec.tables[name].rows
            if rows.count is not None:
                counts[name] = rows.count
            elif rows.per in counts:
                n = max(rows.at_least, round(counts[rows.per] * rows.ratio))
                counts[name] = min(n, rows.at_most) if rows.at_most else n
            elif rows.children_of in counts:
                counts[name] = counts[rows.children_of] * (rows.min_children + rows.max_children) / 2
            else:
                continue
            pending.remove(name)
        if len(pending) == before:
            break
    return {t: counts[t] for t in spec.tables if t in counts}


def error_profile(spec: DatasetSpec, table: str) -> tuple[float, dict[str, float]]:
    """The table's share of dirty rows and, per error kind, the share of its rows that carry it."""
    cands = _candidates(spec, table)
    rate = spec.error_rate if spec.tables[table].error_rate is None else spec.tables[table].error_rate
    total = sum(w for *_, w in cands)
    if not cands or rate == 0:
        return 0.0, {}
    kinds: dict[str, float] = {}
    for _, kind, w in cands:
        kinds[kind.value] = kinds.get(kind.value, 0.0) + rate * w / total
    return rate, dict(sorted(kinds.items(), key=lambda kv: -kv[1]))


def column_share(spec: DatasetSpec, table: str, columns: tuple[str, ...]) -> float:
    cands = _candidates(spec, table)
    rate = spec.error_rate if spec.tables[table].error_rate is None else spec.tables[table].error_rate
    total = sum(w for *_, w in cands)
    return rate * sum(w for c, _, w in cands if c in columns) / total if total else 0.0


def locale_facts(spec: DatasetSpec) -> dict[str, list[str] | str]:
    locales = sorted({c.source.locale for t in spec.tables.values() for c in t.columns.values()
                      if c.source.kind == "faker"})
    currency = sorted({str(v) for t in spec.tables.values() for name, c in t.columns.items()
                       if name == "currency" and c.source.kind == "choice" for v in c.source.values})
    return {"faker_locales": locales, "phone_region": spec.default_phone_region, "currency": currency}


def summarize(spec: DatasetSpec, rows: int, notes: list[str], understood: list[str] = ()) -> str:
    counts = expected_rows(spec, rows)
    head = (f"Dataset spec {spec.name!r}: {len(spec.tables)} tables, {rows:,} {spec.anchor} "
            f"(about {sum(counts.values()):,.0f} rows in all)")
    lines = [head, ""]
    width = max(len(t) for t in spec.tables)
    for table in spec.tables:
        rate, kinds = error_profile(spec, table)
        n = counts.get(table, 0)
        approx = "~" if spec.tables[table].rows.children_of else " "
        errors = ", ".join(f"{k} {v:.1%}" for k, v in kinds.items()) or "none"
        lines.append(f"  {table:<{width}} {approx}{n:>12,.0f} rows  {rate:>4.0%} dirty: {errors}")
    facts = locale_facts(spec)
    locale = (f"Locale: Faker {', '.join(facts['faker_locales']) or '-'}; phones region {facts['phone_region']}; "
              f"currency {', '.join(facts['currency']) or '-'}")
    lines += ["", locale]
    left_out = [t for t in load_spec().tables if t not in spec.tables]
    if left_out:
        lines.append(f"Left out: {', '.join(left_out)}. Gold's marts need every built-in table, so a job of this "
                     "spec builds Bronze and Silver and its Gold step fails")
    if understood:
        lines += ["Understood:"] + [f"  - {item}" for item in understood]
    if notes:
        lines += ["Not honoured:"] + [f"  - {note}" for note in notes]
    return "\n".join(lines)
