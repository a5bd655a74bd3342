"""The code location: every asset, check, job and resource, assembled in one place."""
from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job

from .assets.bronze import bronze
from .assets.gold import dbt_resource, gold
from .assets.silver import silver
from .partitions import job_partitions
from .resources import CleaningEngineResource, StorageResource, WarehouseResource
from .settings import load_settings
from .sync_job import sync_job

medallion_job = define_asset_job(
    "medallion_job",
    selection=AssetSelection.all(),
    partitions_def=job_partitions,
    description="Generate Bronze, clean to Silver and build the Gold marts for one (user, job) partition.",
)

defs = Definitions(
    assets=[bronze, silver, gold],
    jobs=[medallion_job, sync_job],
    resources={
        "storage": StorageResource(),
        "sync_target": StorageResource(backend=load_settings().sync_target_backend),
        "cleaning": CleaningEngineResource(),
        "warehouse": WarehouseResource(),
        "dbt": dbt_resource(),
    },
)
