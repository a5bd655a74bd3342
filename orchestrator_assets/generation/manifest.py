"""The Bronze manifest: what a partition's Bronze holds, as a typed model, a JSON Schema and a validator.

The generator writes manifests with every field; Bronze dropped in by hand (or imported) needs only the spec and
each table's part keys. Everything else is optional for real: row and line counts are counted when the parts
are read, sizes and hashes are checked when recorded, and without a ledger the accuracy check runs the oracle
checks only (cleaning/oracles.py). `orchestrator validate --manifest PATH` reports every problem by field.
"""
from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema

from .. import layout
from ..ids import PartitionKeyError, check_id
from ..storage.base import Storage
from .integrity import BronzeIntegrityError, scan_part
from .spec import SpecError, parse_spec

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "specs" / "bronze-manifest.schema.json"
PART_SUFFIXES = (".jsonl", ".jsonl.gz")
_SHA256 = r"^[0-9a-f]{64}$"


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names each offending field."""


class _Model(BaseModel):
    # A misspelt optional field ("ledgr") would otherwise be ignored in silence.
    model_config = ConfigDict(extra="forbid")


class Part(_Model):
    key: str = Field(description="Storage key of one JSON Lines part (.jsonl, or .jsonl.gz for gzip), relative to "
                                 "the storage root: bronze/<table>/<user>/<job>/<file>.")
    bytes: int | None = Field(None, ge=0, description="Size in bytes; checked when recorded.")
    sha256: str | None = Field(None, pattern=_SHA256, description="SHA-256 of the stored bytes (lower-case hex); "
                               "checked when recorded, else the part is listed as bronze_unverified_parts.")
    lines: int | None = Field(None, ge=0, description="Line count; checked when recorded, else counted on read.")


class TableEntry(_Model):
    parts: list[Part] = Field(min_length=1, description="The table's parts, in line order.")
    rows: int | None = Field(None, ge=0, description="Lines over all parts; optional: counted when the parts are "
                             "checked. Recording it spares the router a read of every part.")
    columns: list[str] | None = Field(None, description="The record fields read; default (and required set): "
                                      "the columns the spec emits for the table.")
    clean_rows: int | None = Field(None, ge=0, description="Generator only: rows before injected duplicates.")


class Ledger(_Model):
    key: str = Field(description="Storage key of the error ledger Parquet file.")
    rows: int = Field(ge=0, description="Injected errors recorded.")
    sha256: str | None = Field(None, pattern=_SHA256)
    bytes: int | None = Field(None, ge=0)


class Reseal(_Model):
    at: str
    changes: list[dict[str, Any]]


SPEC_SCHEMA = {"$ref": "dataset-spec.schema.json",
               "description": "The dataset spec the Bronze follows: it decides the tables, columns, types and rules."}
# The spec's own schema is its file (orchestrator schema). Pydantic resolves every $ref it meets, so the
# reference is put in after it is done (export_json_schema).
SpecRef = Annotated[dict[str, Any], WithJsonSchema({"type": "object"})]


class BronzeManifest(_Model):
    spec: SpecRef
    tables: dict[str, TableEntry] = Field(min_length=1, description="Every table of the spec, by name.")
    user: str | None = Field(None, description="Default: the user of the manifest's path.")
    job: str | None = Field(None, description="Default: the job of the manifest's path.")
    format: Literal["jsonl"] = Field("jsonl", description="JSON Lines: one JSON object per line.")
    compression: Literal["none", "gzip"] | None = Field(None, description="Generator only; a part's own suffix "
                                                         "(.jsonl.gz) says whether it is gzipped.")
    spec_name: str | None = Field(None, description="Default: spec.name.")
    spec_digest: str | None = Field(None, description="Generator only: digest of the spec it generated from.")
    seed: int | None = Field(None, description="Generator only: with spec, user, job and anchor_rows, "
                             "rebuilds the clean data.")
    anchor_rows: int | None = Field(None, ge=1, description="Generator only: rows asked of the anchor table.")
    error_rate: float | None = Field(None, ge=0, le=1, description="Generator only: the spec's error rate.")
    ledger: Ledger | None = Field(None, description="Generator only: the error ledger. Without it accuracy is "
                                  "measured by oracle checks only.")
    resealed: list[Reseal] | None = Field(None, description="Written by `orchestrator bronze reseal`.")


def export_json_schema() -> dict[str, Any]:
    schema = BronzeManifest.model_json_schema()
    schema["properties"]["spec"] = SPEC_SCHEMA
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "bronze-manifest.schema.json"
    schema["title"] = "Bronze manifest (bronze/_manifest/<user>/<job>/manifest.json)"
    return schema


def problems(data: Any, user: str | None = None, job: str | None = None) -> list[str]:
    """Every problem of the manifest, each naming its field; user/job: those of its path, when known."""
    if not isinstance(data, dict):
        return [f"<root>: a manifest is a JSON object, not {type(data).__name__}"]
    try:
        model = BronzeManifest.model_validate(data)
    except ValidationError as err:
        return [f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in err.errors()]
    out = []
    for field, given, at_path in (("user", model.user, user), ("job", model.job, job)):
        if given is None and at_path is None:
            out.append(f"{field}: missing, and the manifest's path does not say it "
                       f"({layout.MANIFEST_PREFIX}/<user>/<job>/manifest.json)")
        elif given is not None and at_path is not None and given != at_path:
            out.append(f"{field}: {given!r}, but the manifest's path says {at_path!r}")
        elif given is not None:
            try:
                check_id(given, field)
            except PartitionKeyError as err:
                out.append(f"{field}: {err}")
    try:
        spec = parse_spec(data["spec"], "spec")
    except SpecError as err:
        return out + [f"spec: {line.strip().removeprefix('- ')}" for line in str(err).splitlines()[1:]
                      or [str(err)]]
    owner, name = user or model.user, job or model.job  # the path wins: that is where readers look
    for table in sorted(set(spec.tables) - set(model.tables)):
        out.append(f"tables: lacks '{table}', a table of the spec (every spec table needs Bronze parts)")
    for table, entry in model.tables.items():
        if table not in spec.tables:
            out.append(f"tables.{table}: not a table of the spec (it has {', '.join(spec.tables)})")
            continue
        out += _table_problems(table, entry, spec.emitted(table), owner, name)
    if model.ledger is not None and (model.seed is None or model.anchor_rows is None):
        out.append("ledger: needs seed and anchor_rows (a ledger describes the Bronze the generator made from them); "
                   "Bronze not written by the generator has no ledger")
    if model.spec_name is not None and model.spec_name != spec.name:
        out.append(f"spec_name: {model.spec_name!r}, but spec.name is {spec.name!r}")
    return out


def _table_problems(table: str, entry: TableEntry, emitted: list[str], user: str | None,
                    job: str | None) -> list[str]:
    at, out = f"tables.{table}", []
    if entry.columns is not None and sorted(entry.columns) != sorted(emitted):
        extra, lacking = sorted(set(entry.columns) - set(emitted)), sorted(set(emitted) - set(entry.columns))
        out.append(f"{at}.columns: must be the columns the spec emits ({', '.join(emitted)})"
                   + (f"; not in the spec: {', '.join(extra)}" if extra else "")
                   + (f"; missing: {', '.join(lacking)}" if lacking else ""))
    prefix = layout.bronze_prefix(table, user, job) + "/" if user and job else None
    seen = set()
    for i, part in enumerate(entry.parts):
        where, key = f"{at}.parts.{i}.key", part.key
        if key.startswith("/") or ".." in key.split("/") or posixpath.normpath(key) != key:
            out.append(f"{where}: {key!r} must be a plain path relative to the storage root")
        elif prefix and not key.startswith(prefix):
            out.append(f"{where}: {key!r} must lie under {prefix} (the layout every reader and sync follows)")
        if not key.endswith(PART_SUFFIXES):
            out.append(f"{where}: {key!r} must end in .jsonl or .jsonl.gz")
        if key in seen:
            out.append(f"{where}: {key!r} is listed twice")
        seen.add(key)
    lines = [p.lines for p in entry.parts]
    if entry.rows is not None and None not in lines and sum(lines) != entry.rows:
        out.append(f"{at}.rows: {entry.rows:,}, but the parts' lines add up to {sum(lines):,}")
    return out


def check(data: Any, origin: str, user: str | None = None, job: str | None = None) -> dict[str, Any]:
    """The manifest's data with user and job filled in from its path; ManifestError naming every problem."""
    found = problems(data, user, job)
    if found:
        raise ManifestError(f"invalid Bronze manifest ({origin}):\n  - " + "\n  - ".join(found))
    return {**data, "user": data.get("user") or user, "job": data.get("job") or job}


def storage_problems(storage: Storage, data: dict[str, Any]) -> list[str]:
    """What the stored objects say against a valid manifest: parts missing, or unlike their recorded size,
    SHA-256 or line count (each part is streamed once), and a missing ledger."""
    out = []
    for table, entry in data["tables"].items():
        for i, part in enumerate(entry["parts"]):
            try:
                scan = scan_part(storage, part["key"])
            except BronzeIntegrityError as err:
                out.append(f"tables.{table}.parts.{i}: {err}")
                continue
            for field, found in (("bytes", scan.bytes), ("sha256", scan.sha256), ("lines", scan.lines)):
                if part.get(field) is not None and part[field] != found:
                    out.append(f"tables.{table}.parts.{i}.{field}: the manifest records {part[field]}, "
                               f"{part['key']} has {found}")
    ledger = data.get("ledger")
    if ledger and not storage.exists(ledger["key"]):
        out.append(f"ledger.key: {ledger['key']} is not in storage")
    return out
