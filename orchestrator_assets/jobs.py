"""The asset jobs: the whole Medallion graph, and Silver + Gold alone on the small and the large path.

Kept apart from definitions.py because the sensors and schedules target these jobs and definitions.py
imports them.
"""
from __future__ import annotations

from dagster import AssetSelection, Backoff, RetryPolicy, define_asset_job

from .partitions import job_partitions

PATH_TAG = "orchestrator/path"

medallion_job = define_asset_job(
    "medallion_job",
    # The audit has its own job (audit/asset.py): materialised on demand, it adds nothing to a run's time.
    selection=AssetSelection.all() - AssetSelection.groups("audit"),
    partitions_def=job_partitions,
    description="Generate Bronze, clean to Silver and build the Gold marts for one (user, job) partition.",
)

# Step retries, for transient errors inside a step: a cloud store throttling or dropping a connection past its
# SDK's own retries (StorageError, OSError), the warehouse file held by another writer (duckdb.IOException),
# dbt or Spark killed under memory pressure. A policy cannot tell these from deterministic failures (a missing
# manifest, a failed dbt test), which therefore fail twice more, cheaply, before the run fails.
# Exponential without jitter: 30 s, then 90 s, as the README says. Dagster's PLUS_MINUS jitter adds up to the
# whole base delay either way (a first retry anywhere from 0 to 60 s); at most 13 runs at a time need no herd control.
CLEAN_RETRY = RetryPolicy(max_retries=2, delay=30, backoff=Backoff.EXPONENTIAL)
# Run retries, for the run worker itself dying (daemon restart, node lost, OOM kill): dagster.yaml enables
# them with retry_on_asset_or_op_failure off, so a failed step is not retried a second time at run level.
RUN_RETRIES = "1"


def _clean_job(path: str, what: str):
    return define_asset_job(
        f"clean_{path}_job",
        selection=AssetSelection.groups("silver", "gold"),
        partitions_def=job_partitions,
        # A job tag applies to every run of the job, launchpad runs included, so the run queue limit on
        # orchestrator/path (dagster.yaml) holds whoever starts the run.
        tags={PATH_TAG: path, "dagster/max_retries": RUN_RETRIES},
        op_retry_policy=CLEAN_RETRY,
        description=f"Clean Bronze to Silver and build Gold for one partition on the {path} path ({what}). "
                    "Bronze must exist; the engine is the `cleaning` resource's config.",
    )


clean_small_job = _clean_job("small", "pandas")
clean_large_job = _clean_job("large", "DuckDB or Spark")
CLEAN_JOBS = {"small": clean_small_job, "large": clean_large_job}
