"""The Silver step with SPARK_RUNTIME=databricks, end to end: the real PipesDatabricksClient and databricks-sdk
against a local stand-in for the workspace, which runs the submitted task (the uploaded bundle) on a local Spark
session; storage is Azurite, reached with the key the job spec references in a secret scope."""
from __future__ import annotations

import json
import sys
from dataclasses import asdict

import pyarrow as pa
import pytest
from dagster import AssetKey, DagsterInstance, materialize
from databricks.sdk import WorkspaceClient
from support.azurite import ACCOUNT_KEY
from support.clouds import patched_env
from support.databricks_workspace import LocalDatabricksWorkspace

from orchestrator_assets.assets.bronze import bronze
from orchestrator_assets.assets.silver import silver
from orchestrator_assets.cleaning.databricks import bundle_name, upload_bundle
from orchestrator_assets.cleaning.pandas_engine import PandasEngine
from orchestrator_assets.cleaning.publish import require_silver
from orchestrator_assets.cleaning.run import clean_partition, read_silver
from orchestrator_assets.generation.bronze import write_bronze
from orchestrator_assets.generation.generator import generate
from orchestrator_assets.generation.spec import load_spec
from orchestrator_assets.io_managers import storage_resources
from orchestrator_assets.resources import CleaningEngineResource, DatabricksResource, StorageResource

pytestmark = pytest.mark.xdist_group("databricks")
USER, JOB, ROWS = "dora", "big-1", 1500
PARTITION = f"{USER}.{JOB}"
CODE = "dbfs:/orchestrator/code"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    with LocalDatabricksWorkspace(tmp_path_factory.mktemp("workspace")) as ws:
        ws.put_secret("orchestrator", "azure-storage-key", ACCOUNT_KEY)
        yield ws


@pytest.fixture(scope="module")
def lake(clouds, workspace, tmp_path_factory):
    """Bronze of one partition on Azurite; the bundle uploaded; the environment a deployment would have."""
    root = tmp_path_factory.mktemp("lake")
    env = clouds.env("adls", prefix="lake") | {
        "DATABRICKS_TOKEN": workspace.token, "DATABRICKS_CONFIG_FILE": str(root / "no-databrickscfg"),
        # The stand-in's "cluster" is a local Spark session in the task's process.
        "PYSPARK_SUBMIT_ARGS": "--master local[2] --conf spark.driver.host=127.0.0.1 "
                               "--conf spark.driver.bindAddress=127.0.0.1 --conf spark.ui.enabled=false pyspark-shell",
        "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    with patched_env(env):
        storage = StorageResource(**asdict(clouds.settings("adls", root, env)))
        store = storage.get()
        dataset = generate(load_spec(), ROWS, 7, USER, JOB)
        manifest, _ = write_bronze(store, dataset, USER, JOB, ROWS)
        upload_bundle(WorkspaceClient(host=workspace.host, token=workspace.token), CODE)
        yield {"env": env, "storage": storage, "store": store, "manifest": manifest, "root": root}


def run_silver(lake, workspace, **databricks):
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("jobs", [PARTITION])
    resources = {**storage_resources(lake["storage"]), "cleaning": CleaningEngineResource(engine="spark", spark_runtime="databricks"),
                 "databricks": DatabricksResource(**({"host": workspace.host, "code_path": CODE, "poll_seconds": 0.5}
                                                     | databricks))}
    with patched_env(lake["env"]):
        return materialize([*bronze.specs, silver], partition_key=PARTITION, instance=instance, resources=resources,
                           raise_on_error=False)


def silver_objects(store) -> dict[str, str]:
    return {k: store.stat(k).sha256 for k in store.list("silver/")}


def test_a_bad_run_fails_the_step_and_leaves_silver_alone(lake, workspace):
    submitted = len(workspace.submitted)
    missing_code = run_silver(lake, workspace, code_path="dbfs:/never/uploaded")
    assert not missing_code.success
    assert len(workspace.submitted) == submitted  # refused before any cluster was asked for
    no_secret = run_silver(lake, workspace, secret_scope="not-created")
    assert not no_secret.success
    failure = next(e for e in no_secret.all_events if e.event_type_value == "STEP_FAILURE")
    assert "not-created" in str(failure.event_specific_data.error) and ACCOUNT_KEY not in str(failure)
    assert silver_objects(lake["store"]) == {}


@pytest.mark.e2e
def test_silver_is_cleaned_on_the_cluster_and_equals_the_pandas_result(lake, workspace, tmp_path):
    result = run_silver(lake, workspace)
    assert result.success
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed == []
    quarantine = next(m for m in result.get_asset_materialization_events()
                      if m.asset_key == AssetKey(["silver", "quarantine"]))
    assert quarantine.materialization.metadata["engine"].value == "spark"

    spec = workspace.submitted[-1]["tasks"][0]
    cluster_env = spec["new_cluster"]["spark_env_vars"]
    assert cluster_env["AZURE_STORAGE_KEY"] == "{{secrets/orchestrator/azure-storage-key}}"
    assert "DAGSTER_PIPES_CONTEXT" in cluster_env and "DAGSTER_PIPES_MESSAGES" in cluster_env
    assert spec["spark_python_task"]["parameters"][:2] == ["--code", f"{CODE}/{bundle_name()}"]
    assert ACCOUNT_KEY not in json.dumps(workspace.submitted) and workspace.token not in json.dumps(workspace.submitted)

    # The same Bronze cleaned by pandas here, under another prefix: identical Silver and quarantine.
    with patched_env(lake["env"]):
        reference = StorageResource(**(asdict(lake["storage"].settings()) | {"prefix": "pandas-reference"})).get()
        for key in lake["store"].list("bronze/"):
            with lake["store"].scratch() as tmp:
                reference.put_file(key, lake["store"].get_file(key, tmp / "object"))
        clean_partition(reference, lake["manifest"], PandasEngine())
        for table in lake["manifest"].tables:
            for quarantined in (False, True):
                got = read_silver(lake["store"], table, USER, JOB, quarantined)
                want = read_silver(reference, table, USER, JOB, quarantined)
                assert got.schema == want.schema, table
                assert sorted_rows(got) == sorted_rows(want), (table, quarantined)
        report = json.loads(lake["store"].get_bytes(require_silver(lake["store"], USER, JOB).cleaning_report))
        assert report["engine"] == "spark"


def sorted_rows(table: pa.Table) -> list:
    return sorted(map(repr, table.to_pylist()))
