"""Every storage read the auditor makes, in one place.

Silver is read through its pointer (cleaning/publish.py): the one published version, never a folder listing;
only this module knows where a partition's reports, Silver and quarantine files live.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import layout
from ..cleaning.publish import current_silver
from ..generation.bronze import Manifest, read_manifest
from ..storage.base import Storage


def bronze_manifest(store: Storage, user: str, job: str) -> Manifest | None:
    return read_manifest(store, user, job)


def _json(store: Storage, key: str) -> dict | None:
    return json.loads(store.get_bytes(key)) if store.exists(key) else None


def cleaning_report(store: Storage, user: str, job: str) -> dict | None:
    """The Silver step's PartitionResult as JSON: rows per table and outcome counts per rule and column."""
    current = current_silver(store, user, job)
    return _json(store, current.cleaning_report) if current else None


def accuracy_report(store: Storage, user: str, job: str) -> dict | None:
    """Cleaning accuracy against the error ledger, per error kind (AccuracyReport.to_json)."""
    current = current_silver(store, user, job)
    return _json(store, current.accuracy_report) if current else None


def audit_report(store: Storage, user: str, job: str) -> dict | None:
    return _json(store, layout.audit_report_key(user, job))


@contextmanager
def silver_files(store: Storage, manifest: Manifest) -> Iterator[dict[str, dict[str, Path]]]:
    """Local Parquet files for DuckDB: {"silver": {table: path}, "quarantine": {table: path},
    "ledger": {"ledger": path}} (the ledger is the Bronze error ledger).

    The local backend hands out its own files; a cloud backend downloads them for the duration.
    """
    user, job, tables = manifest.user, manifest.job, list(manifest.tables)
    current = current_silver(store, user, job)
    published = set(current.tables) if current else set()
    keys = {"silver": {t: current.key(t, "silver") for t in tables if t in published},
            "quarantine": {t: current.key(t, "quarantine") for t in tables if t in published},
            "ledger": {"ledger": manifest.ledger["key"]} if manifest.ledger else {}}
    present = [k for group in keys.values() for k in group.values() if store.exists(k)]
    with store.local_view(present) as root:
        yield {group: {t: root / k for t, k in byt.items() if k in present} for group, byt in keys.items()}


def other_jobs(store: Storage, user: str, job: str, limit: int = 20) -> list[str]:
    """The user's other jobs with Bronze, newest ids last (generated ids begin with their UTC time)."""
    jobs = []
    for key in store.list(f"{layout.MANIFEST_PREFIX}/{user}"):
        try:
            u, j = layout.parse_manifest_key(key)
        except ValueError:
            continue
        if u == user and j != job:
            jobs.append(j)
    return sorted(jobs)[-limit:]


def write_audit_report(store: Storage, user: str, job: str, report: dict) -> str:
    key = layout.audit_report_key(user, job)
    store.put_bytes(key, json.dumps(report, indent=2, default=str).encode())
    return store.uri(key)
