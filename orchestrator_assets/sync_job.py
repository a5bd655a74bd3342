"""Cross-cloud synchronisation as a Dagster job: copy layers of partitions from `storage` to `sync_target`."""

from dagster import Config, MetadataValue, OpExecutionContext, Output, job, op
from pydantic import Field

from .ids import split_key
from .layout import LAYERS
from .partitions import job_partitions
from .resources import StorageResource
from .storage.sync import sync_partitions


class SyncConfig(Config):
    partitions: list[str] = Field(default_factory=list,
                                  description="user.job keys to copy; empty = every registered partition.")
    layers: list[str] = Field(default_factory=lambda: list(LAYERS), description=f"Some of: {', '.join(LAYERS)}.")


@op(description="Copy the chosen layers of the chosen partitions; skips objects already at the target with the "
                "same size and SHA-256, verifies every copy, and resumes after a failure when re-run.")
def sync_storage(context: OpExecutionContext, config: SyncConfig, storage: StorageResource,
                 sync_target: StorageResource) -> Output[dict]:
    partitions = config.partitions or list(context.instance.get_dynamic_partitions(job_partitions.name))
    for key in partitions:
        split_key(key)  # a key that could escape its prefix fails here, before any storage call
    source, target = storage.get(), sync_target.get()
    context.log.info(f"sync {len(partitions)} partition(s), layers {config.layers}: "
                     f"{source.location} -> {target.location}")
    report = sync_partitions(source, target, partitions, config.layers, log=context.log.info)
    return Output(report.to_json(), metadata={
        "copied": report.copied, "skipped": report.skipped, "bytes_copied": report.bytes_copied,
        "bytes_skipped": report.bytes_skipped, "partitions": MetadataValue.json(partitions),
        "source": report.source, "target": report.target,
    })


@job(description="Copy Medallion layers between storage backends (local, ADLS Gen2, OSS).")
def sync_job():
    sync_storage()
