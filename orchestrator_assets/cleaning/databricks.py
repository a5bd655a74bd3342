"""Spark on Databricks: the code bundle the cluster runs, the job spec of the Silver step, and the Pipes call.

The cluster runs remote.py from a zip of this package (the bundle), uploaded once per code version by
`orchestrator databricks-upload`; the bundle's name carries a hash of its contents, so a run never picks up
code other than the orchestrator's own. Storage credentials reach the cluster as environment variables that
Databricks fills from a secret scope (`{{secrets/<scope>/<key>}}` in the spec): no secret value is ever in the
spec, the run config or the logs.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

from ..ids import split_key
from ..settings import DatabricksSettings, SettingsError, StorageSettings
from .run import PartitionResult

PACKAGE_DIR = Path(__file__).resolve().parent.parent
BUNDLED_SUFFIXES = {".py", ".yaml", ".json"}
ENTRY_NAME = "orchestrator_entry.py"
# What remote.py imports beyond the Databricks runtime (which brings Spark, pandas, pyarrow and numpy), pinned
# to the versions installed here, which come from requirements.lock.
CLUSTER_PACKAGES = ("dagster-pipes", "duckdb", "pydantic", "pyyaml", "azure-storage-blob", "azure-identity", "oss2",
                    "phonenumbers", "email-validator", "python-dateutil", "babel")

ENTRY_SCRIPT = '''"""Databricks task entry (written by `orchestrator databricks-upload`): put the code bundle on the path, run."""
import os
import sys

bundle = sys.argv[sys.argv.index("--code") + 1]
if bundle.startswith("dbfs:"):
    bundle = os.path.join(os.environ.get("DBFS_FUSE_ROOT", "/dbfs"), bundle[len("dbfs:"):].lstrip("/"))
if not os.path.exists(bundle):
    sys.exit(f"code bundle {bundle} not found: run `orchestrator databricks-upload` for this code version")
os.environ["ORCHESTRATOR_CODE_ZIP"] = bundle
sys.path.insert(0, bundle)

from orchestrator_assets.cleaning.remote import main  # noqa: E402

main(sys.argv[1:])
'''


def _bundled_files() -> list[Path]:
    return sorted(p for p in PACKAGE_DIR.rglob("*")
                  if p.suffix in BUNDLED_SUFFIXES and "__pycache__" not in p.parts and p.is_file())


def bundle_bytes() -> bytes:
    """The package as a zip, byte-for-byte the same for the same sources (fixed timestamps, sorted)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in _bundled_files():
            info = zipfile.ZipInfo(str(Path(PACKAGE_DIR.name) / path.relative_to(PACKAGE_DIR)), (2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return out.getvalue()


def bundle_name(data: bytes | None = None) -> str:
    digest = hashlib.sha256(data if data is not None else bundle_bytes()).hexdigest()[:16]
    return f"orchestrator_assets-{digest}.zip"


def cluster_libraries() -> list[str]:
    return [f"{name}=={version(name)}" for name in CLUSTER_PACKAGES]


def secret_env(settings: DatabricksSettings, backend: str) -> dict[str, str]:
    return {name: f"{{{{secrets/{settings.secret_scope}/{key}}}}}" for name, key in settings.secrets_for(backend).items()}


def task_spec(settings: DatabricksSettings, storage: StorageSettings, partition: str, bundle: str) -> dict:
    """The SubmitTask of one partition's Silver step, as the JSON the Jobs API takes."""
    from databricks.sdk.service import compute, jobs

    user, job = split_key(partition)
    if storage.backend == "local":
        raise SettingsError("SPARK_RUNTIME=databricks needs cloud storage the cluster can reach: set STORAGE_BACKEND "
                            "to adls or oss (local files on the orchestrator's machine are out of its reach)")
    for name, value in (("DATABRICKS_HOST", settings.host), ("DATABRICKS_CODE_PATH", settings.code_path)):
        if not value:
            raise SettingsError(f"SPARK_RUNTIME=databricks needs {name}")
    task = jobs.SubmitTask(
        task_key=f"silver_{user}_{job}",
        spark_python_task=jobs.SparkPythonTask(
            python_file=f"{settings.code_path}/{ENTRY_NAME}",
            parameters=["--code", f"{settings.code_path}/{bundle}", "--partition", partition]),
        libraries=[compute.Library(pypi=compute.PythonPyPiLibrary(package=p)) for p in cluster_libraries()],
        timeout_seconds=settings.timeout_seconds,
    )
    if settings.cluster_id:
        # An existing cluster keeps its own environment: its admin sets the same secret references on it.
        task.existing_cluster_id = settings.cluster_id
    else:
        task.new_cluster = compute.ClusterSpec(
            spark_version=settings.spark_version, node_type_id=settings.node_type,
            autoscale=compute.AutoScale(min_workers=settings.min_workers, max_workers=settings.max_workers),
            spark_env_vars=secret_env(settings, storage.backend),
            # The engine's timestamps are zone-less and its tests run in UTC; the cluster must agree.
            spark_conf={"spark.sql.session.timeZone": "UTC"},
            custom_tags={"orchestrator_user": user, "orchestrator_job": job},
        )
    return task.as_dict()


def bundle_exists(client, path: str) -> bool:
    from databricks.sdk.errors import NotFound

    try:
        if path.startswith("dbfs:"):
            client.dbfs.get_status(path.removeprefix("dbfs:"))
        else:
            client.files.get_metadata(path)
        return True
    except NotFound:
        return False


def upload_bundle(client, code_path: str) -> list[str]:
    """Write the bundle and its entry script to code_path (a /Volumes/... folder or dbfs:/...); returns their paths."""
    data = bundle_bytes()
    written = []
    for name, payload in ((bundle_name(data), data), (ENTRY_NAME, ENTRY_SCRIPT.encode())):
        path = f"{code_path.rstrip('/')}/{name}"
        if path.startswith("dbfs:"):
            client.dbfs.upload(path.removeprefix("dbfs:"), io.BytesIO(payload), overwrite=True)
        else:
            client.files.upload(path, io.BytesIO(payload), overwrite=True)
        written.append(path)
    return written


def run_on_databricks(context, pipes_client, settings: DatabricksSettings,
                      storage: StorageSettings) -> tuple[PartitionResult, dict]:
    """Clean and check the context's partition on Databricks; returns what the remote step reported through Pipes:
    the cleaning result, and the checks' figures (verdict.checked_silver) of the Silver version it published."""
    from databricks.sdk.service import jobs

    bundle = bundle_name()
    if not bundle_exists(pipes_client.client, f"{settings.code_path}/{bundle}"):
        # Checked before a cluster is started for nothing.
        raise SettingsError(f"{settings.code_path}/{bundle} is missing: run `orchestrator databricks-upload` for "
                            "this code version")
    spec = task_spec(settings, storage, context.partition_key, bundle)
    invocation = pipes_client.run(
        context=context, task=jobs.SubmitTask.from_dict(spec), extras={"storage": asdict(storage)},
        submit_args={"run_name": f"orchestrator silver {context.partition_key}"})
    reports = invocation.get_custom_messages()
    if not reports:
        raise RuntimeError("the Databricks run finished without reporting its result")
    for key, value in invocation.metadata.items():
        context.log.info(f"{key}: {getattr(value, 'value', value)}")
    report = reports[-1]
    return PartitionResult.from_json(report["result"]), report["checked"]
