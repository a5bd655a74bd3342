"""Where each layer keeps a (user, job) partition. The only place storage keys are built."""
from __future__ import annotations

from .partitions import check_id


def _pj(user: str, job: str) -> str:
    return f"{check_id(user, 'user')}/{check_id(job, 'job')}"


def bronze_prefix(table: str, user: str, job: str) -> str:
    return f"bronze/{table}/{_pj(user, job)}"


def bronze_part(table: str, user: str, job: str, part: int, suffix: str) -> str:
    return f"{bronze_prefix(table, user, job)}/part-{part:05d}.{suffix}"


def ledger_key(user: str, job: str) -> str:
    return f"bronze/_ledger/{_pj(user, job)}/ledger.parquet"


def manifest_key(user: str, job: str) -> str:
    return f"bronze/_manifest/{_pj(user, job)}/manifest.json"


def silver_key(table: str, user: str, job: str) -> str:
    return f"silver/{table}/{_pj(user, job)}/part-00000.parquet"


def quarantine_key(table: str, user: str, job: str) -> str:
    return f"silver/_quarantine/{table}/{_pj(user, job)}/part-00000.parquet"


def cleaning_report_key(user: str, job: str) -> str:
    return f"silver/_reports/{_pj(user, job)}/cleaning.json"


def request_key(user: str, job: str) -> str:
    return f"requests/{_pj(user, job)}/request.json"


def accuracy_report_key(user: str, job: str) -> str:
    return f"silver/_reports/{_pj(user, job)}/accuracy.json"
