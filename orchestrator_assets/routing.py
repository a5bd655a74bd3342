"""Which engine cleans a job, from the size of its Bronze: pandas, DuckDB on one machine, or Spark.

Pure: the thresholds come in (settings.router_settings()), the route goes out, and nothing is read or run.
"""
from __future__ import annotations

from dataclasses import dataclass

from .settings import RouterSettings

PATHS = {"pandas": "small", "duckdb": "large", "spark": "large"}


@dataclass(frozen=True)
class Route:
    engine: str  # pandas | duckdb | spark
    path: str  # small | large: which job, and so which run queue limit, the run goes to
    reason: str


def choose_route(records: int, thresholds: RouterSettings) -> Route:
    """records: the Bronze record count of the job over all its tables (Manifest.total_rows)."""
    if records < 0:
        raise ValueError(f"a record count cannot be negative (got {records})")
    if thresholds.force_engine:
        engine = thresholds.force_engine
        return Route(engine, PATHS[engine], f"{records:,} records; ROUTER_FORCE_ENGINE={engine}")
    small, single = thresholds.small_max_records, thresholds.single_node_max_records
    if records <= small:
        return Route("pandas", "small", f"{records:,} records <= {small:,} (ROUTER_SMALL_MAX_RECORDS)")
    if records <= single:
        return Route("duckdb", "large", f"{records:,} records > {small:,} and <= {single:,} "
                                        "(ROUTER_SINGLE_NODE_MAX_RECORDS)")
    return Route("spark", "large", f"{records:,} records > {single:,} (ROUTER_SINGLE_NODE_MAX_RECORDS)")
