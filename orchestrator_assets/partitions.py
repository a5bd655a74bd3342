"""Partitioning by (user, job) as one dynamic dimension.

A MultiPartitionsDefinition of users x jobs would hold every combination (1,000 users x 100,000 jobs
= 10^8 keys), far past Dagster's advice of at most ~100k partitions per asset. Each job belongs to
exactly one user, so the key is "<user>.<job>": one key per job that exists, user still visible.
"""
from __future__ import annotations

import re

from dagster import DynamicPartitionsDefinition

ID_PATTERN = r"[a-z0-9][a-z0-9_-]{0,39}"
_ID = re.compile(f"^{ID_PATTERN}$")
SEP = "."

job_partitions = DynamicPartitionsDefinition(name="jobs")


class PartitionKeyError(ValueError):
    pass


def check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise PartitionKeyError(
            f"invalid {what} id {value!r}: use 1-40 characters of a-z, 0-9, '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def partition_key(user: str, job: str) -> str:
    return f"{check_id(user, 'user')}{SEP}{check_id(job, 'job')}"


def split_key(key: str) -> tuple[str, str]:
    user, sep, job = key.partition(SEP)
    if not sep:
        raise PartitionKeyError(f"invalid partition key {key!r}: expected '<user>{SEP}<job>'")
    return check_id(user, "user"), check_id(job, "job")
