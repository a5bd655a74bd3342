"""Universal AI Data Orchestrator: a Dagster Medallion pipeline over synthetic dirty e-commerce data."""
