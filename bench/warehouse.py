"""`make bench` (warehouse part): Gold for one job, on DuckDB and on MySQL/MariaDB, from the same Silver.

DuckDB: dbt reads the Silver Parquet in place and builds the marts. MySQL: the Silver tables are loaded into the
staging tables (one transaction), then dbt builds the same marts there. The load runs twice on the same Silver,
each time into a fresh database: batched INSERTs (the baseline), then LOAD DATA LOCAL INFILE; the ratio of their
rows/s is the bulk path's speed-up. `--load-only` skips the dbt builds; `--private-mariadb` starts a MariaDB of
the benchmark's own even when one answers on 3306 (so other clients of a shared server do not skew the figures). The MySQL server is the one the
MYSQL_* variables name (default 127.0.0.1:3306, root), or a private MariaDB when none answers; the benchmark
uses a database of its own and drops it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
USER, JOB = "bench", "gold"


def silver(root: Path, orders: int):
    from orchestrator_assets.cleaning.pandas_engine import PandasEngine
    from orchestrator_assets.cleaning.publish import require_silver
    from orchestrator_assets.cleaning.run import clean_partition
    from orchestrator_assets.generation.bronze import write_bronze
    from orchestrator_assets.generation.generator import generate
    from orchestrator_assets.generation.spec import load_spec
    from orchestrator_assets.storage.local import LocalStorage

    store = LocalStorage(root)
    manifest, _ = write_bronze(store, generate(load_spec(), orders, 1, USER, JOB), USER, JOB, orders)
    clean_partition(store, manifest, PandasEngine())
    return manifest, require_silver(store, USER, JOB)


def dbt_build(env: dict, root: Path, work: Path, version: str) -> float:
    from orchestrator_assets.settings import DBT_PROJECT_DIR

    dbt_vars = {"silver_root": str(root / "silver"), "silver_version": version, "pipeline_user": USER,
                "pipeline_job": JOB}
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("dbt")), "build", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
                    str(DBT_PROJECT_DIR), "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
                    "--vars", json.dumps(dbt_vars), "--quiet"],
                   check=True, env={**os.environ, **env}, cwd=DBT_PROJECT_DIR)
    return time.perf_counter() - started


def fact_rows_duckdb(path: Path) -> int:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT count(*) FROM fact_orders").fetchone()[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--load-only", action="store_true", help="time the two MySQL loads, no dbt build")
    parser.add_argument("--private-mariadb", action="store_true", help="a MariaDB of its own, not the one on 3306")
    args = parser.parse_args()
    from dataclasses import replace

    from run import machine
    from support.mariadb import MariaDB

    from orchestrator_assets.settings import mysql_settings
    from orchestrator_assets.warehouse.mysql import layouts, load_partition

    with tempfile.TemporaryDirectory(prefix="bench-warehouse-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        manifest, current = silver(work / "storage", args.orders)
        print(f"Silver ready in {time.perf_counter() - started:.0f}s", file=sys.stderr)
        root = work / "storage"
        duck = work / "gold.duckdb"
        duckdb_build = None if args.load_only else dbt_build(
            {"WAREHOUSE": "duckdb", "DUCKDB_PATH": str(duck)}, root, work / "duck", current.version)

        server = MariaDB(work / "mariadb").start(private=args.private_mariadb)
        os.environ["MYSQL_PORT"] = str(server.port)
        baseline, database = server.create_database(), server.create_database()
        try:
            tables = {t: root / current.key(t) for t in manifest.tables}
            os.environ["MYSQL_DATABASE"] = baseline
            batched = load_partition(replace(mysql_settings(), local_infile=False), USER, JOB, tables,
                                     layouts(manifest.spec))
            os.environ["MYSQL_DATABASE"] = database
            bulk = load_partition(mysql_settings(), USER, JOB, tables, layouts(manifest.spec))
            assert (batched.method, bulk.method) == ("batched", "bulk"), (batched, bulk)
            assert batched.rows == bulk.rows
            mysql_build = None if args.load_only else dbt_build({"WAREHOUSE": "mysql"}, root, work / "mysql",
                                                                current.version)
            with server.connect(database) as conn, conn.cursor() as cur:
                staged = 0
                for table in tables:
                    cur.execute(f"SELECT count(*) FROM silver_{table}")
                    staged += cur.fetchone()[0]
                mysql_facts = None
                if not args.load_only:
                    cur.execute("SELECT count(*) FROM fact_orders")
                    mysql_facts = cur.fetchone()[0]
                cur.execute("SELECT version()")
                version = cur.fetchone()[0]
        finally:
            server.drop_database(baseline)
            server.drop_database(database)
            server.stop()
        duck_facts = None if args.load_only else fact_rows_duckdb(duck)
        assert duck_facts == mysql_facts, (duck_facts, mysql_facts)
    silver_rows = sum(bulk.rows.values())
    assert staged == silver_rows, (staged, silver_rows)
    speed = {r.method: silver_rows / r.seconds for r in (batched, bulk)}
    result = {"machine": machine(), "orders": args.orders, "silver_rows": silver_rows, "fact_orders": duck_facts,
              "duckdb_build_s": duckdb_build, "mysql_load_batched_s": batched.seconds,
              "mysql_load_bulk_s": bulk.seconds, "bulk_speedup": speed["bulk"] / speed["batched"],
              "mysql_build_s": mysql_build, "mysql_server": version}
    out = HERE / "results" / f"warehouse-{result['machine']['date']}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"| MySQL load ({version}) | s | rows/s | vs batched |\n|---|---:|---:|---:|\n"
          f"| batched INSERTs | {batched.seconds:.1f} | {speed['batched']:,.0f} | 1.00x |\n"
          f"| LOAD DATA LOCAL INFILE | {bulk.seconds:.1f} | {speed['bulk']:,.0f} | "
          f"{speed['bulk'] / speed['batched']:.2f}x |\n")
    if not args.load_only:
        mysql_total = bulk.seconds + mysql_build
        print(f"| warehouse | load s | dbt build s | total s | vs DuckDB |\n|---|---:|---:|---:|---:|\n"
              f"| DuckDB (reads Parquet in place) | — | {duckdb_build:.1f} | {duckdb_build:.1f} | 1.00x |\n"
              f"| MySQL, bulk load | {bulk.seconds:.1f} | {mysql_build:.1f} | {mysql_total:.1f} | "
              f"{mysql_total / duckdb_build:.2f}x |\n")
    print(f"{args.orders:,} orders, {silver_rows:,} Silver rows"
          + ("" if args.load_only else f", {duck_facts:,} rows in fact_orders on both") + ".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
