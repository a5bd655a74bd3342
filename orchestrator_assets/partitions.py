"""Partitioning by (user, job) as one dynamic dimension.

A MultiPartitionsDefinition of users x jobs would hold every combination (1,000 users x 100,000 jobs
= 10^8 keys), far past Dagster's advice of at most ~100k partitions per asset. Each job belongs to
exactly one user, so the key is "<user>.<job>": one key per job that exists, user still visible.
"""
from __future__ import annotations

from dagster import DynamicPartitionsDefinition

job_partitions = DynamicPartitionsDefinition(name="jobs")
