"""`orchestrator`: submit jobs, generate Bronze without Dagster, publish the spec schema, run the demo."""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import uuid
from contextlib import contextmanager, nullcontext
from pathlib import Path

from .ai import cli as ask_cli
from .ai import schemas_cli
from .generation.spec import SpecError, export_json_schema, load_spec
from .ids import PartitionKeyError, check_id, split_key
from .layout import LAYERS
from .requests import RequestError, build_request
from .settings import PROJECT_DIR, STORAGE_BACKENDS, SettingsError, load_settings, storage_settings
from .storage.base import StorageError

SCHEMA_FILE = PROJECT_DIR / "orchestrator_assets" / "specs" / "dataset-spec.schema.json"
MANIFEST_SCHEMA_FILE = PROJECT_DIR / "orchestrator_assets" / "specs" / "bronze-manifest.schema.json"


def _instance():
    from dagster import DagsterInstance

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_DIR / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text((PROJECT_DIR / "dagster.yaml").read_text())
    return DagsterInstance.get()


def submit(user: str, job: str | None, rows: int, seed: int, spec: str | None, compression: str = "none",
           log_level: str = "WARNING", instance=None, run_id: str | None = None):
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
    run_id = run_id or str(uuid.uuid4())  # known before the run starts, so the wait reporter can follow it
    with report_waits(instance, run_id):
        result = defs.resolve_job_def("medallion_job").execute_in_process(
            partition_key=request.partition_key, instance=instance, raise_on_error=False, run_id=run_id,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            tags={**run_tags(request), **worker_tags()},
        )
    return request, result


def run_tags(request) -> dict[str, str]:
    return {"orchestrator/user": request.user, "orchestrator/job": request.job, "orchestrator/submitted_by": "cli"}


def queue(user: str, job: str | None, rows: int, seed: int, spec: str | None, compression: str = "none",
          instance=None):
    """Register the job's request and partition, then put a run of the code location's medallion_job in the
    instance's run queue (as the launchpad or `dagster job launch` would); returns (request, run id) at once."""
    request = build_request(user, job, rows, seed, spec, compression)  # refused before Dagster even loads

    from dagster import __version__
    from dagster._cli.job import _create_run
    from dagster._cli.workspace.cli_target import (
        get_code_location_from_workspace,
        get_remote_job_from_remote_repo,
        get_remote_repository_from_code_location,
        get_workspace_from_cli_opts,
    )
    from dagster_shared.cli import WorkspaceOpts

    from .ai.library import remember
    from .requests import save_request
    from .resources import StorageResource

    save_request(StorageResource().get(), request)
    if spec:
        remember(request.spec, owner=request.user, source="file", partition_key=request.partition_key)
    instance = instance or _instance()
    instance.add_dynamic_partitions("jobs", [request.partition_key])
    opts = WorkspaceOpts(workspace=[str(PROJECT_DIR / "workspace.yaml")])
    with get_workspace_from_cli_opts(instance, __version__, opts, log_level="WARNING") as workspace:
        location = get_code_location_from_workspace(workspace, None)
        repo = get_remote_repository_from_code_location(location, None)
        remote_job = get_remote_job_from_remote_repo(repo, "medallion_job")
        run = _create_run(instance=instance, code_location=location, remote_repo=repo, remote_job=remote_job,
                          run_config={}, tags={**run_tags(request), "dagster/partition": request.partition_key},
                          op_selection=None, run_id=None)
        instance.submit_run(run.run_id, workspace)
    return request, run.run_id


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


def _write_summary(user: str, job: str, run_log: Path | None = None) -> Path:
    from .resources import StorageResource
    from .summary import build_summary, render

    settings = load_settings()
    summary = build_summary(StorageResource().get(), settings.duckdb_path, user, job)
    if run_log is not None:
        summary["locations"]["run_log"] = str(run_log)
    print(render(summary))
    if run_log is not None:
        print(f"Run log (dbt's output included): {run_log}")
    out = settings.data_dir / "summaries" / f"{user}.{job}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    return out


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _run_log_path(run) -> Path:
    partition = run.tags.get("dagster/partition", "no-partition")
    return load_settings().data_dir / "logs" / partition / f"{run.run_id}.log"


def _finish(instance, run) -> int:
    """After the run: its full log to a file, then the summary, or the root error."""
    from . import follow

    log = follow.write_run_log(instance, run.run_id, _run_log_path(run))
    partition = run.tags.get("dagster/partition", "-")
    _say(f"run {run.run_id} for partition {partition}: {run.status.value}")
    if run.status.value != "SUCCESS":
        _say(f"error: {follow.failure_of(instance, run.run_id)}")
        _say(f"run log: {log}")
        return 1
    try:  # a run started elsewhere (the UI, a sensor) has the partition tag, not necessarily ours
        user, job = split_key(partition)
    except PartitionKeyError:
        print(f"run log: {log}")
        return 0
    print(_write_summary(user, job, log))
    return 0


def _follow_to_end(instance, run_id: str) -> int:
    from . import follow

    run = instance.get_run_by_id(run_id)
    if run is None:
        raise ValueError(f"no run {run_id!r} in the instance at DAGSTER_HOME={os.environ['DAGSTER_HOME']}")
    return _finish(instance, follow.follow(instance, run_id, _say))


@contextmanager
def _dbt_output_to_run_log():
    """dbt's stdout, which dagster-dbt echoes to this process's stdout, off the console for the run: Dagster's
    log capture keeps it for the run log. File-descriptor level, because the capture tees at that level."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _run_here(user, job, rows, seed, spec, compression, log_level: str | None) -> int:
    """Run in this process (`submit --in-process`, `demo`): progress from the event log on a second thread,
    Dagster's console log only when --log-level asks for it."""
    request = build_request(user, job, rows, seed, spec, compression)  # refused before anything loads
    from . import follow

    instance = _instance()
    run_id = str(uuid.uuid4())
    follow.quiet_dbt_notes()
    done = threading.Event()
    watcher = threading.Thread(target=follow.follow, args=(instance, run_id, _say), name="follow-run",
                               kwargs={"stop": done.is_set}, daemon=True)
    watcher.start()
    try:
        with _dbt_output_to_run_log() if log_level is None else nullcontext():
            request, result = submit(request.user, request.job, rows, seed, spec, compression,
                                     log_level or "CRITICAL", instance=instance, run_id=run_id)
    finally:
        done.set()
        watcher.join()
    return _finish(instance, instance.get_run_by_id(result.run_id))


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


def _validate_manifest(path: Path, root: str | None) -> int:
    """Every problem of a Bronze manifest, one per line naming its field; then, where its storage root is known,
    its parts against the stored objects. 0 if none, 1 otherwise."""
    from .generation import manifest
    from .layout import parse_manifest_key
    from .storage.local import LocalStorage

    user = job = None
    store_root = Path(root) if root else None
    resolved = path.resolve()
    if len(resolved.parts) > 5 and resolved.parts[-5:-3] == ("bronze", "_manifest"):
        try:
            user, job = parse_manifest_key("/".join(resolved.parts[-5:]))
            store_root = store_root or Path(*resolved.parts[:-5])
        except ValueError as err:
            print(f"{path}: the path is not a manifest key of the layout ({err})", file=sys.stderr)
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        print(f"{path}: not JSON ({err})")
        return 1
    found = manifest.problems(data, user, job)
    if not found and store_root is not None:
        found = manifest.storage_problems(LocalStorage(store_root), manifest.check(data, str(path), user, job))
    for line in found:
        print(f"{path}: {line}")
    if found:
        print(f"{len(found)} problem{'s' if len(found) > 1 else ''}", file=sys.stderr)
        return 1
    where = f"its parts checked in {store_root}" if store_root is not None else "parts not checked (no --root)"
    print(f"ok: {path} ({len(data['tables'])} tables, {'a' if data.get('ledger') else 'no'} ledger; {where})")
    return 0


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

    submit_p = sub.add_parser("submit", help="register a job and queue a run of Bronze -> Silver -> Gold for it; "
                                             "prints the run id")
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
    submit_p.add_argument("--wait", action="store_true", help="follow the queued run to its end, print the summary")
    submit_p.add_argument("--in-process", action="store_true",
                          help="run it in this process instead of the instance's run queue (no daemon needed)")
    for p in (submit_p, demo):
        p.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                       help="with --in-process or demo: show Dagster's console log (and dbt's) at this level")
    follow_p = sub.add_parser("follow", help="follow a run to its end: progress, then the summary or the error")
    follow_p.add_argument("run_id")
    upload = sub.add_parser("databricks-upload",
                            help="put this code version where Databricks runs it (DATABRICKS_CODE_PATH)")
    upload.add_argument("--code-path", default=None, help="/Volumes/... or dbfs:/... (default: DATABRICKS_CODE_PATH)")
    schema = sub.add_parser("schema", help="write the JSON Schemas of dataset specs and of Bronze manifests")
    schema.add_argument("--out", default=str(SCHEMA_FILE), help="where the dataset spec schema goes")
    schema.add_argument("--manifest-out", default=str(MANIFEST_SCHEMA_FILE),
                        help="where the Bronze manifest schema goes")
    check = sub.add_parser("validate", help="check a dataset spec (rows and size), or with --manifest a Bronze "
                                            "manifest; reports every problem")
    check.add_argument("spec", nargs="?", help="dataset spec YAML/JSON")
    check.add_argument("--rows", type=int, default=100_000, help="anchor rows to size the job for")
    check.add_argument("--manifest", help="a Bronze manifest.json (e.g. for Bronze dropped in by hand)")
    check.add_argument("--root", help="with --manifest: the storage root its part keys are relative to (default: "
                                      "found from the manifest's path <root>/bronze/_manifest/<user>/<job>/)")
    ask_cli.add_parser(sub)
    schemas_cli.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "ask":
        return ask_cli.run(args)

    try:
        if args.command == "schemas":
            return schemas_cli.run(args)
        if args.command == "schema":
            from .generation.manifest import export_json_schema as manifest_schema

            Path(args.out).write_text(json.dumps(export_json_schema(), indent=2) + "\n")
            Path(args.manifest_out).write_text(json.dumps(manifest_schema(), indent=2) + "\n")
            print(args.out)
            print(args.manifest_out)
        elif args.command == "validate" and args.manifest:
            return _validate_manifest(Path(args.manifest), args.root)
        elif args.command == "validate":
            if not args.spec:
                raise RequestError("validate needs a dataset spec, or --manifest PATH")
            _validate(args.spec, args.rows)
        elif args.command == "generate":
            from .generation.bronze import write_bronze
            from .generation.generator import stream
            from .storage.local import LocalStorage

            request = build_request(args.user, args.job, args.rows, args.seed, args.spec, args.compression)
            ds = stream(request.spec, request.rows, request.seed, request.user, request.job)
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
        elif args.command == "follow":
            return _follow_to_end(_instance(), args.run_id)
        elif args.command == "submit" and not args.in_process:
            request, run_id = queue(args.user, args.job, args.rows, args.seed, args.spec, args.compression)
            print(run_id, flush=True)
            instance = _instance()
            if args.wait:
                return _follow_to_end(instance, run_id)
            print(f"queued run {run_id} for partition {request.partition_key}; follow it with "
                  f"`orchestrator follow {run_id}`", file=sys.stderr)
            from .follow import daemon_missing

            hint = daemon_missing(instance)
            if hint:
                print(hint, file=sys.stderr)
        elif args.command in ("submit", "demo"):
            if args.command == "demo":
                user, job, spec, compression = "demo", f"demo-{args.rows}-{args.seed}", None, "none"
            else:
                user, job, spec, compression = args.user, args.job, args.spec, args.compression
            return _run_here(user, job, args.rows, args.seed, spec, compression, args.log_level)
        return 0
    except (SpecError, RequestError, PartitionKeyError, SettingsError, FileNotFoundError, StorageError,
            ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
