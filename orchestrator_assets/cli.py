"""`orchestrator`: submit jobs, generate Bronze without Dagster, publish the spec schema, run the demo."""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

from .ai import cli as ask_cli
from .ai import schemas_cli
from .generation.spec import SpecError, export_json_schema, load_spec
from .ids import PartitionKeyError, check_id
from .layout import LAYERS
from .requests import RequestError, build_request
from .settings import PROJECT_DIR, STORAGE_BACKENDS, SettingsError, load_settings, storage_settings
from .storage.base import StorageError

SCHEMA_FILE = PROJECT_DIR / "orchestrator_assets" / "specs" / "dataset-spec.schema.json"


def _instance():
    from dagster import DagsterInstance

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_DIR / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text((PROJECT_DIR / "dagster.yaml").read_text())
    return DagsterInstance.get()


def submit(user: str, job: str | None, rows: int, seed: int, spec: str | None, compression: str = "none",
           log_level: str = "WARNING", instance=None):
    """Register the job's request and partition, then run the Medallion job for it in this process."""
    request = build_request(user, job, rows, seed, spec, compression)  # refused before Dagster even loads

    from .ai.library import remember
    from .definitions import defs
    from .requests import save_request
    from .run_workers import reap_dead_runs, worker_tags

    storage = defs.resources["storage"].get()
    save_request(storage, request)
    if spec:
        remember(request.spec, owner=request.user, source="file", partition_key=request.partition_key)
    instance = instance or _instance()
    for message in reap_dead_runs(instance):  # a killed earlier run must not hold the warehouse forever
        print(message, file=sys.stderr)
    instance.add_dynamic_partitions("jobs", [request.partition_key])
    run_id = str(uuid.uuid4())  # known before the run starts, so the wait reporter can follow it
    with report_waits(instance, run_id):
        result = defs.resolve_job_def("medallion_job").execute_in_process(
            partition_key=request.partition_key, instance=instance, raise_on_error=False, run_id=run_id,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            tags={"orchestrator/user": request.user, "orchestrator/job": request.job,
                  "orchestrator/submitted_by": "cli", **worker_tags()},
        )
    return request, result


@contextmanager
def report_waits(instance, run_id: str):
    """While the run executes here, say on stderr what it waits for (a pool slot held by another run), and fail
    any run holding such a slot whose process is gone, so this one does not wait for a dead run forever."""
    from .assets.gold import WAREHOUSE_POOL
    from .run_workers import pool_waits, reap_dead_runs
    from .settings import wait_report_seconds

    stop = threading.Event()

    def watch():
        while not stop.wait(wait_report_seconds()):
            for line in reap_dead_runs(instance):
                print(line, file=sys.stderr, flush=True)
            for line in pool_waits(instance, run_id, [WAREHOUSE_POOL]):
                print(f"waiting: {line}", file=sys.stderr, flush=True)

    thread = threading.Thread(target=watch, name="report-waits", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _write_summary(user: str, job: str) -> Path:
    from .resources import StorageResource
    from .summary import build_summary, render

    settings = load_settings()
    summary = build_summary(StorageResource().get(), settings.duckdb_path, user, job)
    print(render(summary))
    out = settings.data_dir / "summaries" / f"{user}.{job}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    return out


def _validate(path: str, rows: int) -> None:
    """Every check a job with this spec and row count gets before it is stored, and what it would make."""
    from .generation import limits, sizing
    from .generation.values import check_pools

    spec = load_spec(path)
    if not 1 <= rows <= limits.MAX_ROWS:
        raise RequestError(f"rows must be between 1 and {limits.MAX_ROWS:,} (got {rows})")
    sized = sizing.check_size(spec, rows, path)
    check_pools(spec)
    print(f"ok: {spec.name} with {len(spec.tables)} tables, for {rows:,} rows of {spec.anchor}")
    print("rows per table (at most; children_of tables counted at max_children per parent):")
    for name, n in sized.rows.items():
        print(f"  {name:<24} {n:>14,}  ~{sizing.gib(sized.bytes[name])}")
    limit = sizing.gib(limits.MAX_BRONZE_BYTES)
    print(f"estimated Bronze size: {sizing.gib(sized.total_bytes)} (limit {limit}); "
          f"largest table limit {limits.MAX_TABLE_ROWS:,} rows")
    print(f"largest job this spec allows: {sizing.max_anchor_rows(spec):,} rows of {spec.anchor}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orchestrator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def job_args(p, rows_default=100_000):
        p.add_argument("--user", required=True, help="who asks (a-z, 0-9, _ or -)")
        p.add_argument("--job", help="job id (default: a new timestamped id)")
        p.add_argument("--rows", type=int, default=rows_default, help="rows of the anchor table (orders)")
        p.add_argument("--seed", type=int, default=42)
        p.add_argument("--spec", help="dataset spec YAML/JSON (default: built-in e-commerce)")
        p.add_argument("--compression", choices=["none", "gzip"], default="none")

    submit_p = sub.add_parser("submit", help="register a job and run Bronze -> Silver -> Gold for it")
    job_args(submit_p)
    gen = sub.add_parser("generate", help="write Bronze for a job to a directory, without Dagster")
    job_args(gen)
    gen.add_argument("--out", required=True, help="storage root directory")
    sync = sub.add_parser("sync", help="copy layers of partitions between storage backends (resumable)")
    sync.add_argument("--from", dest="source", default=None, help="source backend (default: STORAGE_BACKEND)")
    sync.add_argument("--to", dest="target", required=True, choices=STORAGE_BACKENDS)
    sync.add_argument("--partition", action="append", required=True, help="user.job (repeatable)")
    sync.add_argument("--layers", default=",".join(LAYERS), help=f"comma-separated, of: {', '.join(LAYERS)}")
    bronze = sub.add_parser("bronze", help="maintain Bronze partitions").add_subparsers(dest="action", required=True)
    reseal = bronze.add_parser("reseal", help="after a deliberate edit of a job's Bronze parts, record their new "
                                              "sizes, SHA-256 and line counts in its manifest")
    reseal.add_argument("--user", required=True)
    reseal.add_argument("--job", required=True)
    demo = sub.add_parser("demo", help="run the main job end to end and print a summary")
    demo.add_argument("--rows", type=int, default=100_000)
    demo.add_argument("--seed", type=int, default=42)
    for p in (submit_p, demo):
        p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                       help="Dagster console log level for the run")
    upload = sub.add_parser("databricks-upload",
                            help="put this code version where Databricks runs it (DATABRICKS_CODE_PATH)")
    upload.add_argument("--code-path", default=None, help="/Volumes/... or dbfs:/... (default: DATABRICKS_CODE_PATH)")
    schema = sub.add_parser("schema", help="write the JSON Schema of dataset specs")
    schema.add_argument("--out", default=str(SCHEMA_FILE))
    check = sub.add_parser("validate", help="check a dataset spec and report every problem, rows and size")
    check.add_argument("spec")
    check.add_argument("--rows", type=int, default=100_000, help="anchor rows to size the job for")
    ask_cli.add_parser(sub)
    schemas_cli.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "ask":
        return ask_cli.run(args)

    try:
        if args.command == "schemas":
            return schemas_cli.run(args)
        if args.command == "schema":
            Path(args.out).write_text(json.dumps(export_json_schema(), indent=2) + "\n")
            print(args.out)
        elif args.command == "validate":
            _validate(args.spec, args.rows)
        elif args.command == "generate":
            from .generation.bronze import write_bronze
            from .generation.generator import generate
            from .storage.local import LocalStorage

            request = build_request(args.user, args.job, args.rows, args.seed, args.spec, args.compression)
            ds = generate(request.spec, request.rows, request.seed, request.user, request.job)
            manifest, _ = write_bronze(LocalStorage(args.out), ds, request.user, request.job, request.rows,
                                       request.compression)
            print(json.dumps({"partition": request.partition_key, "rows": manifest.total_rows,
                              "errors": manifest.data["ledger"]["rows"]}))
        elif args.command == "sync":
            from .storage.backends import open_storage
            from .storage.sync import sync_partitions

            report = sync_partitions(open_storage(storage_settings(args.source)),
                                     open_storage(storage_settings(args.target)), args.partition,
                                     [layer.strip() for layer in args.layers.split(",") if layer.strip()],
                                     log=lambda line: print(line, file=sys.stderr))
            print(json.dumps(report.to_json()))
        elif args.command == "bronze":
            from .generation.reseal import reseal_bronze
            from .storage.backends import open_storage

            user, job = check_id(args.user, "user"), check_id(args.job, "job")
            print(json.dumps(reseal_bronze(open_storage(storage_settings()), user, job), indent=2))
        elif args.command == "databricks-upload":
            from databricks.sdk import WorkspaceClient

            from .cleaning.databricks import upload_bundle
            from .settings import databricks_settings

            settings = databricks_settings()
            code_path = args.code_path or settings.code_path
            if not settings.host or not code_path:
                raise SettingsError("databricks-upload needs DATABRICKS_HOST and DATABRICKS_CODE_PATH (or --code-path)")
            for path in upload_bundle(WorkspaceClient(host=settings.host), code_path):
                print(path)
        elif args.command in ("submit", "demo"):
            if args.command == "demo":
                user, job, spec, compression = "demo", f"demo-{args.rows}-{args.seed}", None, "none"
            else:
                user, job, spec, compression = args.user, args.job, args.spec, args.compression
            request, result = submit(user, job, args.rows, args.seed, spec, compression, args.log_level)
            print(f"run {result.run_id} for partition {request.partition_key}: "
                  f"{'SUCCESS' if result.success else 'FAILURE'}", file=sys.stderr)
            if not result.success:
                return 1
            print(_write_summary(request.user, request.job))
        return 0
    except (SpecError, RequestError, PartitionKeyError, SettingsError, FileNotFoundError, StorageError,
            ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
