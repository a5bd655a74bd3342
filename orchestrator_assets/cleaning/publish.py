"""Silver is published all at once: a version's objects first, then one pointer object that names them.

Each clean writes its tables, quarantine and cleaning report under a version folder
(`silver/<table>/<user>/<job>/<version>/...`), then writes `silver/_current/<user>/<job>/current.json`. Every
backend replaces a single object atomically, so a reader who resolves the pointer once sees the old version
or the new one, whole, never a mix; a run killed before the pointer write leaves the published Silver as it
was. Versions the pointer does not name are removed after each switch. The version id is a digest of the
tables' contents: cleaning the same Bronze again yields the same keys, on every backend.
"""
from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .. import layout
from ..storage.base import ObjectNotFound, Storage, StorageError, sha256_file

KINDS = ("silver", "quarantine")


class NoSilver(ObjectNotFound):
    """The partition has no published Silver version."""


@dataclass(frozen=True)
class SilverVersion:
    """The pointer's content: which objects make up the partition's published Silver."""

    user: str
    job: str
    version: str
    created_at: str
    engine: str
    objects: dict[str, dict]  # "<table>/<kind>" and "cleaning_report" -> {"key", "size", "sha256"}

    @property
    def tables(self) -> list[str]:
        return sorted({name.split("/")[0] for name in self.objects if "/" in name})

    def key(self, table: str, kind: str = "silver") -> str:
        try:
            return self.objects[f"{table}/{kind}"]["key"]
        except KeyError:
            raise ObjectNotFound(f"Silver version {self.version} of {self.user}.{self.job} has no {kind} "
                                 f"table {table!r} (it has {', '.join(self.tables)})") from None

    @property
    def cleaning_report(self) -> str:
        return self.objects["cleaning_report"]["key"]

    @property
    def accuracy_report(self) -> str:
        # Written by the Silver step after the switch: it compares the published Silver with the truth.
        return layout.accuracy_report_key(self.user, self.job, self.version)

    def keys(self) -> list[str]:
        return [o["key"] for o in self.objects.values()]

    def to_json(self) -> dict:
        return {"format": 1, "user": self.user, "job": self.job, "version": self.version,
                "created_at": self.created_at, "engine": self.engine, "objects": self.objects,
                "accuracy_report": self.accuracy_report}

    @classmethod
    def from_json(cls, data: dict) -> SilverVersion:
        return cls(data["user"], data["job"], layout.check_version(data["version"]), data["created_at"],
                   data["engine"], dict(data["objects"]))


def current_silver(storage: Storage, user: str, job: str) -> SilverVersion | None:
    """The published Silver of the partition, or None if it has none. Every reader starts here."""
    key = layout.silver_pointer_key(user, job)
    try:
        body = storage.get_bytes(key)
    except ObjectNotFound:
        return None
    try:
        return SilverVersion.from_json(json.loads(body))
    except (ValueError, KeyError, TypeError) as err:
        raise StorageError(f"{storage.uri(key)} is not a readable Silver pointer ({err!r}); re-run the "
                           f"Silver step of {user}.{job} to publish a new one") from None


def require_silver(storage: Storage, user: str, job: str) -> SilverVersion:
    current = current_silver(storage, user, job)
    if current is None:
        raise NoSilver(f"{user}.{job} has no published Silver (no {layout.silver_pointer_key(user, job)} in "
                       f"{storage.location}): run its Silver step")
    return current


def version_of(staged: dict[tuple[str, str], Path]) -> tuple[str, dict[tuple[str, str], str]]:
    """(version id, SHA-256 per staged file): the id digests every table's name and content."""
    digests = {role: sha256_file(path) for role, path in staged.items()}
    listing = json.dumps(sorted(f"{t}/{k}:{d}" for (t, k), d in digests.items())).encode()
    return f"v-{hashlib.sha256(listing).hexdigest()[:16]}", digests


def publish(storage: Storage, user: str, job: str, staged: dict[tuple[str, str], Path], report: dict,
            engine: str) -> SilverVersion:
    """Write the staged (table, kind) files and the cleaning report as a new version, then switch to it."""
    tables = sorted({t for t, _ in staged})
    storage.remove_stale_work(_work_prefixes(user, job, tables))
    version, digests = version_of(staged)
    objects = {}
    for (table, kind), path in staged.items():
        key = (layout.silver_key if kind == "silver" else layout.quarantine_key)(table, user, job, version)
        objects[f"{table}/{kind}"] = {"key": key, "size": storage.put_file(key, path), "sha256": digests[(table, kind)]}
    body = json.dumps(report, indent=2).encode()
    key = layout.cleaning_report_key(user, job, version)
    objects["cleaning_report"] = {"key": key, "size": storage.put_bytes(key, body),
                                  "sha256": hashlib.sha256(body).hexdigest()}
    current = SilverVersion(user, job, version, datetime.now(UTC).isoformat(timespec="seconds"), engine, objects)
    storage.put_bytes(layout.silver_pointer_key(user, job), json.dumps(current.to_json(), indent=2).encode())
    remove_other_versions(storage, user, job, tables, version)
    return current


def remove_other_versions(storage: Storage, user: str, job: str, tables: list[str], keep: str) -> int:
    """Delete the partition's Silver objects outside version keep (older versions, a killed run's, the
    pre-version layout); best effort: a leftover is never read, and the next publish tries again."""
    removed = 0
    for parent in layout.silver_version_parents(user, job, tables):
        children = {key[len(parent) + 1:].split("/")[0] for key in storage.list(parent)}
        for child in sorted(children - {keep}):
            try:
                removed += storage.delete_prefix(f"{parent}/{child}")
            except (OSError, StorageError):
                pass
    return removed


def _work_prefixes(user: str, job: str, tables: list[str]) -> list[str]:
    """Where a killed write of this partition can have left unfinished work."""
    return ([layout.bronze_prefix(t, user, job) for t in tables] + layout.silver_version_parents(user, job, tables)
            + [posixpath.dirname(k) for k in (layout.ledger_key(user, job), layout.manifest_key(user, job),
                                              layout.silver_pointer_key(user, job))])
