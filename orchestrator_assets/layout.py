"""Where each layer keeps a (user, job) partition. The only place storage keys are built."""
from __future__ import annotations

import re

from .ids import check_id

MANIFEST_PREFIX = "bronze/_manifest"
SILVER_POINTER_PREFIX = "silver/_current"
# A Silver version is named by a digest of its tables' contents, so the same cleaning yields the same keys.
_VERSION = re.compile(r"v-[0-9a-f]{16}")


def _pj(user: str, job: str) -> str:
    return f"{check_id(user, 'user')}/{check_id(job, 'job')}"


def bronze_prefix(table: str, user: str, job: str) -> str:
    return f"bronze/{table}/{_pj(user, job)}"


def bronze_part(table: str, user: str, job: str, part: int, suffix: str) -> str:
    return f"{bronze_prefix(table, user, job)}/part-{part:05d}.{suffix}"


def ledger_key(user: str, job: str) -> str:
    return f"bronze/_ledger/{_pj(user, job)}/ledger.parquet"


def manifest_key(user: str, job: str) -> str:
    return f"{MANIFEST_PREFIX}/{_pj(user, job)}/manifest.json"


def check_version(version: str) -> str:
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise ValueError(f"not a Silver version id: {version!r} (expected v- and 16 hex digits)")
    return version


def silver_prefix(table: str, user: str, job: str) -> str:
    """The partition's folder of one Silver table; each published version is a subfolder."""
    return f"silver/{table}/{_pj(user, job)}"


def quarantine_prefix(table: str, user: str, job: str) -> str:
    return f"silver/_quarantine/{table}/{_pj(user, job)}"


def reports_prefix(user: str, job: str) -> str:
    return f"silver/_reports/{_pj(user, job)}"


def silver_key(table: str, user: str, job: str, version: str) -> str:
    return f"{silver_prefix(table, user, job)}/{check_version(version)}/part-00000.parquet"


def quarantine_key(table: str, user: str, job: str, version: str) -> str:
    return f"{quarantine_prefix(table, user, job)}/{check_version(version)}/part-00000.parquet"


def cleaning_report_key(user: str, job: str, version: str) -> str:
    return f"{reports_prefix(user, job)}/{check_version(version)}/cleaning.json"


def accuracy_report_key(user: str, job: str, version: str) -> str:
    return f"{reports_prefix(user, job)}/{check_version(version)}/accuracy.json"


def silver_pointer_key(user: str, job: str) -> str:
    """The one object that says which version of the partition's Silver is published."""
    return f"{SILVER_POINTER_PREFIX}/{_pj(user, job)}/current.json"


def silver_version_parents(user: str, job: str, tables: list[str]) -> list[str]:
    """The folders whose subfolders are the partition's Silver versions."""
    return ([silver_prefix(t, user, job) for t in tables] + [quarantine_prefix(t, user, job) for t in tables]
            + [reports_prefix(user, job)])


def request_key(user: str, job: str) -> str:
    return f"requests/{_pj(user, job)}/request.json"


def audit_report_key(user: str, job: str) -> str:
    """The data-quality audit of the partition (audit/report asset)."""
    return f"audit/{_pj(user, job)}/report.json"


def status_key(user: str, job: str) -> str:
    """Failed runs of the partition, newest last (written by the run-failure sensor)."""
    return f"status/{_pj(user, job)}/failures.json"


def parse_manifest_key(key: str) -> tuple[str, str]:
    """(user, job) of a key listed under MANIFEST_PREFIX; ValueError (or PartitionKeyError) if it is not one."""
    head, sep, rest = key.partition(f"{MANIFEST_PREFIX}/")
    parts = rest.split("/")
    if head or not sep or len(parts) != 3 or parts[2] != "manifest.json":
        raise ValueError(f"not a Bronze manifest key: {key!r}")
    return check_id(parts[0], "user"), check_id(parts[1], "job")


LAYERS = ("requests", "bronze", "silver")


def partition_keys(layer: str, user: str, job: str, tables: list[str],
                   silver_version: str | None = None) -> tuple[list[str], list[str]]:
    """(prefixes, single keys) that hold one layer of a partition, completion markers last.

    The Bronze manifest marks a partition complete and the Silver pointer names the published Silver version,
    so a copy writes each of them only after everything it stands for. Silver is the one version named.
    """
    if layer == "requests":
        return [], [request_key(user, job)]
    if layer == "bronze":
        return ([bronze_prefix(t, user, job) for t in tables],
                [ledger_key(user, job), manifest_key(user, job)])
    if layer == "silver":
        version = check_version(silver_version)
        return ([f"{p}/{version}" for p in silver_version_parents(user, job, tables)], [silver_pointer_key(user, job)])
    raise ValueError(f"unknown layer {layer!r}: choose from {', '.join(LAYERS)}")
