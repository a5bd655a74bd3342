"""The Spark engine: the same SQL-compiled rule catalogue on Spark SQL, for jobs beyond one machine.

Locally it runs a real `local[*]` session, started on first use and stopped by `close()` once the run's
tables are cleaned; on Databricks the same compiled SQL runs on the cluster (see deploy/databricks).
"""
from __future__ import annotations

import os
import sys
from typing import ClassVar

import pandas as pd
import pyarrow as pa

from .catalogue import TablePlan
from .engine import CleanResult, ParentKeys, RuleStats, quarantine_schema, silver_schema
from .rules import implemented
from .sql_rules import SQL_TYPES, Dialect, collect_stats, compile_plan, parent_table


class SparkDialect(Dialect):
    name = "spark"
    types: ClassVar[dict[str, str]] = {**SQL_TYPES, "string": "STRING", "timestamp[us]": "TIMESTAMP_NTZ"}

    def lit(self, value) -> str:
        # Spark SQL literals take backslash escapes, so regex backslashes must be doubled.
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"

    def q(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def full_match(self, expr: str, pattern: str) -> str:
        return f"({expr} RLIKE {self.lit('^(?:' + pattern + ')$')})"

    def replace_all(self, expr: str, pattern: str, replacement: str) -> str:
        return f"regexp_replace({expr}, {self.lit(pattern)}, {self.lit(replacement)})"

    def strip(self, expr: str, chars: str) -> str:
        return self._strip_regex(expr, chars)

    def record(self, fields: dict[str, str]) -> str:
        return "named_struct(" + ", ".join(f"{self.lit(name)}, {expr}" for name, expr in fields.items()) + ")"

    def bucket(self, expr: str, parts: int) -> str:
        return f"pmod(hash({expr}), {int(parts)})"  # Spark's hash is a signed int


RETURNS = {"text": "string", "parsed": "value string, problem string"}


def _pandas_udf(fn, returns: str):
    """An Arrow function of the rules as a Spark pandas UDF; Spark hands over batches as pandas Series."""
    from pyspark.sql.functions import pandas_udf

    def text(values: pd.Series) -> pd.Series:
        return fn(pa.array(values, pa.string(), from_pandas=True)).to_pandas()

    def parsed(values: pd.Series) -> pd.DataFrame:
        out = fn(pa.array(values, pa.string(), from_pandas=True))
        return pd.DataFrame({"value": out.field("value").to_pandas(), "problem": out.field("problem").to_pandas()})

    return pandas_udf(text if returns == "text" else parsed, RETURNS[returns])


def _half_ram() -> str:
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{max(1, total // 2**31)}g"


class SparkEngine:
    name = "spark"

    @property
    def rules(self) -> frozenset[str]:
        return implemented("sql")

    def __init__(self, master: str = "local[*]", spark=None):
        self.master = master
        self._spark = spark
        self._own_session = spark is None

    @property
    def spark(self):
        if self._spark is None:
            from pyspark.sql import SparkSession

            # Python workers (the title-case UDF) must run this interpreter, with its packages.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            if self.master.startswith("local"):
                os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            self._spark = (SparkSession.builder.master(self.master).appName("orchestrator-silver")
                           # Locally the driver is the executor too, and Bronze arrives through it: Spark's 1 GiB
                           # default fails at a few million rows. A maximum, not a reservation.
                           .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY") or _half_ram())
                           .config("spark.ui.enabled", "false")
                           .config("spark.ui.showConsoleProgress", "false")
                           .config("spark.sql.session.timeZone", "UTC")
                           .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                           # Local sessions stay on loopback rather than the host's first interface.
                           .config("spark.driver.host", "127.0.0.1")
                           .config("spark.driver.bindAddress", "127.0.0.1")
                           .getOrCreate())
            self._spark.sparkContext.setLogLevel("ERROR")
        return self._spark

    def close(self) -> None:
        if self._spark is not None and self._own_session:
            self._spark.stop()
            self._spark = None

    def clean_table(self, bronze: pa.Table, plan: TablePlan, parent_keys: dict[str, ParentKeys]) -> CleanResult:
        spark = self.spark
        # Every core busy, and more partitions for millions of rows (~250k rows each).
        parallelism = spark.sparkContext.defaultParallelism
        spark.conf.set("spark.sql.shuffle.partitions", str(max(parallelism, min(256, bronze.num_rows // 250_000))))
        parents = {p: f"parent_{i}" for i, p in enumerate(sorted(set(plan.foreign_keys.values())))}
        dialect = SparkDialect()
        compiled = compile_plan(plan, dialect, parents)
        for name, (fn, returns) in compiled.udfs.items():
            spark.udf.register(name, _pandas_udf(fn, returns))
        q = dialect.q
        # Spread over the cores: left as one local relation, the optimizer would evaluate every projection over it
        # on the driver, row by row and uncompiled (ConvertToLocalRelation), which is most of the time otherwise.
        spark.createDataFrame(bronze).repartition(parallelism).createOrReplaceTempView("bronze")
        for parent, view in parents.items():
            spark.createDataFrame(parent_table(parent_keys.get(parent, ParentKeys.empty()))).createOrReplaceTempView(view)
        flags = [flag for *_, flag in compiled.counters]
        # Only what the four reads below need is cached, not the query's intermediate values.
        kept = [*(q(c.name) for c in plan.columns), *(q("_s_" + c.name) for c in plan.columns), *flags,
                "_bronze_row", "_malformed", "_rule", "_column", "_reason"]
        cleaned = spark.sql(compiled.sql).selectExpr(*kept).cache()
        try:
            sums = cleaned.selectExpr(*(f"count_if({f})" for f in flags)).collect()[0] if flags else []
            quarantined = [tuple(r) for r in cleaned.where("_rule IS NOT NULL").groupBy("_rule", "_column").count()
                           .collect()]
            silver = cleaned.where("_rule IS NULL").orderBy("_bronze_row").selectExpr(
                *(f"{q('_s_' + c.name)} AS {q(c.name)}" for c in plan.columns)).toArrow()
            quarantine = cleaned.where("_rule IS NOT NULL").orderBy("_bronze_row").selectExpr(
                *(q(c.name) for c in plan.columns), "_bronze_row", "_malformed", "_rule", "_column", "_reason").toArrow()
        finally:
            cleaned.unpersist()
        stats = collect_stats(RuleStats(), compiled.counters, dict(zip(flags, sums, strict=False)), quarantined)
        return CleanResult(silver.cast(silver_schema(plan)), quarantine.cast(quarantine_schema(plan)), stats)
