"""Where Gold is, as definition metadata of every Gold asset, so an API client can find the marts' database.

The `warehouse` resource's defaults are not shown by the API (they come from the environment, not from
config), so the code location states the warehouse it was loaded with: the DuckDB file, or MySQL's
user@host:port/database (never the password). A run that overrides the `warehouse` resource in the launchpad
writes elsewhere; its run config says where.
"""
from dagster import AssetsDefinition, MetadataValue

from .settings import load_settings, mysql_settings


def gold_location() -> dict:
    settings = load_settings()
    if settings.warehouse == "mysql":
        return {"warehouse": "mysql", "warehouse_location": MetadataValue.text(mysql_settings().describe())}
    return {"warehouse": "duckdb", "warehouse_location": MetadataValue.path(str(settings.duckdb_path))}


def with_gold_location(assets: AssetsDefinition) -> AssetsDefinition:
    location = gold_location()
    return assets.map_asset_specs(lambda spec: spec.merge_attributes(metadata=location))
