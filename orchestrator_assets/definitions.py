"""The code location: every asset, check, job, sensor, schedule and resource, assembled in one place."""
from __future__ import annotations

from dagster import Definitions

from .ai.job import ask_job
from .assets.bronze import bronze
from .assets.gold import dbt_resource, gold
from .assets.silver import silver
from .audit.asset import audit_job, audit_report
from .check_alerts import failed_check_sensor
from .gold_location import with_gold_location
from .io_managers import storage_resources
from .jobs import clean_large_job, clean_small_job, medallion_job
from .resources import CleaningEngineResource, DatabricksResource, StorageResource, WarehouseResource
from .schedules import large_batch_window, small_batch_sweep
from .sensors import bronze_arrival_sensor, failed_run_sensor
from .settings import load_settings
from .submissions import submit_job, submitted_jobs_sensor
from .sync_job import sync_job

# The deployment's one choice of place: the environment (settings.py) picks the backend; both layers start there.
STORAGE = StorageResource()

defs = Definitions(
    assets=[bronze, silver, with_gold_location(gold), audit_report],
    jobs=[medallion_job, clean_small_job, clean_large_job, sync_job, ask_job, audit_job, submit_job],
    sensors=[bronze_arrival_sensor, failed_run_sensor, submitted_jobs_sensor, failed_check_sensor],
    schedules=[small_batch_sweep, large_batch_window],
    resources={
        **storage_resources(STORAGE),
        "sync_target": StorageResource(backend=load_settings().sync_target_backend),
        "cleaning": CleaningEngineResource(),
        "databricks": DatabricksResource(),
        "warehouse": WarehouseResource(),
        "dbt": dbt_resource(),
    },
)
