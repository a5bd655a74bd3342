"""User and job ids and the partition key "<user>.<job>" they form; checked before any reaches a path or SQL.

Free of Dagster, so code that runs away from the orchestrator (the Databricks task) can use it.
"""
from __future__ import annotations

import re

ID_PATTERN = r"[a-z0-9][a-z0-9_-]{0,39}"
# fullmatch, not match with "$": "$" also matches before a trailing newline, and "alice\n" is no id.
_ID = re.compile(ID_PATTERN)
SEP = "."


class PartitionKeyError(ValueError):
    pass


def check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise PartitionKeyError(
            f"invalid {what} id {value!r}: use 1-40 characters of a-z, 0-9, '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def partition_key(user: str, job: str) -> str:
    return f"{check_id(user, 'user')}{SEP}{check_id(job, 'job')}"


def split_key(key: str) -> tuple[str, str]:
    """(user, job) of a partition key; the error names the key as it was typed."""
    if not isinstance(key, str):
        raise PartitionKeyError(f"invalid partition key {key!r}: expected '<user>{SEP}<job>'")
    user, sep, job = key.partition(SEP)
    if not sep:
        raise PartitionKeyError(f"invalid partition key {key!r}: expected '<user>{SEP}<job>'")
    try:
        return check_id(user, "user"), check_id(job, "job")
    except PartitionKeyError as err:
        raise PartitionKeyError(f"invalid partition key {key!r}: {err}") from None
