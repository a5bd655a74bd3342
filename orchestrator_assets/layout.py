"""Where each layer keeps a (user, job) partition. The only place storage keys are built."""
from __future__ import annotations

from .ids import check_id

MANIFEST_PREFIX = "bronze/_manifest"


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


def silver_prefix(table: str, user: str, job: str) -> str:
    return f"silver/{table}/{_pj(user, job)}"


def quarantine_prefix(table: str, user: str, job: str) -> str:
    return f"silver/_quarantine/{table}/{_pj(user, job)}"


def silver_key(table: str, user: str, job: str) -> str:
    return f"{silver_prefix(table, user, job)}/part-00000.parquet"


def quarantine_key(table: str, user: str, job: str) -> str:
    return f"{quarantine_prefix(table, user, job)}/part-00000.parquet"


def cleaning_report_key(user: str, job: str) -> str:
    return f"silver/_reports/{_pj(user, job)}/cleaning.json"


def request_key(user: str, job: str) -> str:
    return f"requests/{_pj(user, job)}/request.json"


def accuracy_report_key(user: str, job: str) -> str:
    return f"silver/_reports/{_pj(user, job)}/accuracy.json"


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


def partition_keys(layer: str, user: str, job: str, tables: list[str]) -> tuple[list[str], list[str]]:
    """(prefixes, single keys) that hold one layer of a partition, completion markers last.

    The Bronze manifest marks a partition complete, so a copy publishes it only after everything it lists.
    """
    if layer == "requests":
        return [], [request_key(user, job)]
    if layer == "bronze":
        return ([bronze_prefix(t, user, job) for t in tables],
                [ledger_key(user, job), manifest_key(user, job)])
    if layer == "silver":
        return ([silver_prefix(t, user, job) for t in tables] + [quarantine_prefix(t, user, job) for t in tables],
                [cleaning_report_key(user, job), accuracy_report_key(user, job)])
    raise ValueError(f"unknown layer {layer!r}: choose from {', '.join(LAYERS)}")
