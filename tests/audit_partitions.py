"""Small partitions with known planted problems, for the auditor's tests and benchmark."""
from __future__ import annotations

import dataclasses
import json

import pyarrow.compute as pc
import pyarrow.parquet as pq

from orchestrator_assets.cleaning.catalogue import TablePlan
from orchestrator_assets.cleaning.pandas_engine import PandasEngine
from orchestrator_assets.cleaning.publish import current_silver
from orchestrator_assets.cleaning.run import clean_partition
from orchestrator_assets.cleaning.verdict import judge
from orchestrator_assets.generation.bronze import write_bronze
from orchestrator_assets.generation.generator import generate
from orchestrator_assets.generation.spec import parse_spec

ROWS = 2000


class NoTrimEngine(PandasEngine):
    """The pandas engine with the trim rule switched off: whitespace errors reach Silver."""

    def clean_table(self, bronze, plan: TablePlan, parent_keys):
        columns = tuple(dataclasses.replace(c, steps=tuple(s for s in c.steps if s.rule != "trim"))
                        for c in plan.columns)
        return super().clean_table(bronze, dataclasses.replace(plan, columns=columns), parent_keys)


def build(store, spec, user: str, job: str, seed: int, rows: int = ROWS, engine=None):
    """Bronze, Silver (with its cleaning report) and the accuracy report, as the silver asset writes them."""
    ds = generate(spec, rows, seed, user, job)
    manifest, _ = write_bronze(store, ds, user, job, rows)
    result = clean_partition(store, manifest, engine or PandasEngine())
    current = current_silver(store, user, job)
    verdict = judge(store, manifest, current, result.rules)
    store.put_bytes(current.accuracy_report, json.dumps(verdict.report).encode())
    return manifest


def with_changes(spec, change) -> object:
    data = spec.model_dump(mode="json")
    change(data)
    return parse_spec(data, "test spec")


def raised_error_rate(spec, rate: float = 0.6):
    return with_changes(spec, lambda d: d.update(error_rate=rate))


def corrupted_users(spec):
    """Most users lose their first name (a required column): they are quarantined, and so are their orders."""
    def change(d):
        users = d["tables"]["users"]
        users["error_rate"] = 0.7
        for name, col in users["columns"].items():
            col["errors"] = ["missing"] if name == "first_name" else []
        users["row_errors"] = []
    return with_changes(spec, change)


def shift_ages(store, user: str, job: str, years: int = 40) -> None:
    """Silver users' ages drift by `years` (what a changed upstream source would look like)."""
    key = current_silver(store, user, job).key("users")
    with store.scratch() as tmp:
        table = pq.read_table(store.get_file(key, tmp / "in.parquet"))
        i = table.schema.get_field_index("age")
        table = table.set_column(i, "age", pc.add(table.column("age"), years))
        pq.write_table(table, tmp / "out.parquet")
        store.put_file(key, tmp / "out.parquet")
