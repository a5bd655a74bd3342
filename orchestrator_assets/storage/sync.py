"""Copy chosen layers of chosen partitions from one backend to another.

Objects stream through a spool file on local disk (never whole in memory). An object already at the target
with the same size and SHA-256 is skipped, so a re-run after a failure resumes where it stopped. Every copy
is read back from the target and its SHA-256 compared before it counts. The Bronze manifest, which marks a
partition complete, and the Silver pointer, which names its published Silver version, are copied only after
everything else of the partition arrived. Silver is the version the source's pointer names; after the pointer,
the target's other versions of the partition are removed.
"""
from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .. import layout
from ..cleaning.publish import remove_other_versions, require_silver
from ..generation.bronze import read_manifest
from ..ids import split_key
from .base import ObjectNotFound, Storage, StorageError

WORKERS = 4


class SyncError(StorageError):
    def __init__(self, message: str, report: SyncReport):
        super().__init__(message)
        self.report = report


@dataclass
class SyncReport:
    source: str
    target: str
    copied: int = 0
    skipped: int = 0
    bytes_copied: int = 0
    bytes_skipped: int = 0
    failed: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"source": self.source, "target": self.target, "copied": self.copied, "skipped": self.skipped,
                "bytes_copied": self.bytes_copied, "bytes_skipped": self.bytes_skipped, "failed": self.failed}


def _digest(chunks) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def copy_object(source: Storage, target: Storage, key: str) -> tuple[bool, int]:
    """(copied, size). Skips an object the target already holds with the same size and checksum."""
    src = source.stat(key)
    if src is None:
        raise ObjectNotFound(f"{key}: not at the source ({source.name})")
    dst = target.stat(key)
    if dst is not None and dst.size == src.size:
        expected = src.sha256 or _digest(source.iter_chunks(key))
        if dst.sha256 == expected:
            return False, src.size
    with target.scratch() as tmp:
        spool = tmp / "object"
        h = hashlib.sha256()
        with open(spool, "wb") as fh:
            for chunk in source.iter_chunks(key):
                h.update(chunk)
                fh.write(chunk)
        digest = h.hexdigest()
        if src.sha256 and digest != src.sha256:
            raise StorageError(f"{key}: content at the source does not match its recorded SHA-256")
        target.put_file(key, spool)
    if _digest(target.iter_chunks(key)) != digest:
        target.delete(key)
        raise StorageError(f"{key}: the copy at the target does not match the source; removed it")
    return True, src.size


def markers(user: str, job: str) -> list[str]:
    """The objects that declare the rest of a partition complete, in the order they are copied, after it."""
    return [layout.silver_pointer_key(user, job), layout.manifest_key(user, job)]


def partition_objects(source: Storage, partition: str, layers: list[str]) -> list[str]:
    """Every object of the layers of one partition at the source, the Silver pointer and Bronze manifest last."""
    user, job = split_key(partition)
    manifest = read_manifest(source, user, job)
    if manifest is None and set(layers) - {"requests"}:
        raise ObjectNotFound(f"partition {partition} has no Bronze manifest at the source ({source.name})")
    tables = list(manifest.tables) if manifest else []
    version = require_silver(source, user, job).version if "silver" in layers else None
    keys: list[str] = []
    for layer in layout.LAYERS:
        if layer in layers:
            prefixes, singles = layout.partition_keys(layer, user, job, tables, version)
            for prefix in prefixes:
                keys += source.list(prefix)
            keys += [k for k in singles if source.exists(k)]
    last = markers(user, job)
    return [k for k in keys if k not in last] + [k for k in last if k in keys]


def sync_partitions(source: Storage, target: Storage, partitions: list[str], layers: list[str],
                    workers: int = WORKERS, log=None) -> SyncReport:
    unknown = set(layers) - set(layout.LAYERS)
    if unknown or not layers:
        raise ValueError(f"layers must be some of {', '.join(layout.LAYERS)} (got {sorted(layers)})")
    if source.location == target.location:
        raise ValueError(f"source and target are the same place ({source.location})")
    report = SyncReport(source.location, target.location)
    for partition in partitions:
        user, job = split_key(partition)
        keys = partition_objects(source, partition, layers)
        last = [k for k in markers(user, job) if k in keys]
        body = keys[:len(keys) - len(last)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(lambda k: _attempt(source, target, k), body))
        for marker in last:
            if not any(isinstance(o, Exception) for o in outcomes):
                outcomes.append(_attempt(source, target, marker))
        if "silver" in layers and not any(isinstance(o, Exception) for o in outcomes):
            current = require_silver(target, user, job)
            remove_other_versions(target, user, job, current.tables, current.version)
        for key, outcome in zip(keys, outcomes, strict=False):
            if isinstance(outcome, Exception):
                report.failed.append(f"{key}: {outcome}")
            elif outcome[0]:
                report.copied += 1
                report.bytes_copied += outcome[1]
            else:
                report.skipped += 1
                report.bytes_skipped += outcome[1]
        if log:
            log(f"{partition}: {report.copied} copied, {report.skipped} skipped so far")
        if report.failed:
            raise SyncError(f"{len(report.failed)} object(s) of {partition} failed to copy; re-run to resume: "
                            + "; ".join(report.failed[:3]), report)
    return report


def _attempt(source: Storage, target: Storage, key: str):
    try:
        return copy_object(source, target, key)
    except StorageError as err:
        return err
