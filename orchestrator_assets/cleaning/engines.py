"""Cleaning engines by name: the seam a deployment or the router chooses through."""
from __future__ import annotations

from .duckdb_engine import DuckDBEngine
from .engine import Engine
from .pandas_engine import PandasEngine
from .spark_engine import SparkEngine

ENGINES: dict[str, type] = {"pandas": PandasEngine, "duckdb": DuckDBEngine, "spark": SparkEngine}


def get_engine(name: str) -> Engine:
    try:
        return ENGINES[name]()
    except KeyError:
        raise ValueError(f"unknown cleaning engine {name!r}; available: {', '.join(ENGINES)}") from None
