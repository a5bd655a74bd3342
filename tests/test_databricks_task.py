"""The Databricks job spec of the Silver step and the code bundle it runs, checked without a workspace."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from importlib.metadata import version

import pytest
from databricks.sdk.service import jobs

from orchestrator_assets.cleaning import databricks
from orchestrator_assets.ids import PartitionKeyError
from orchestrator_assets.settings import SettingsError, StorageSettings, databricks_settings

ADLS = StorageSettings("adls", prefix="prod", container="lake", account="acct",
                       account_url="https://acct.blob.core.windows.net")
OSS = StorageSettings("oss", bucket="lake", endpoint="https://oss-cn-hangzhou.aliyuncs.com")


@pytest.fixture(autouse=True)
def workspace_env(monkeypatch):
    for name in ("DATABRICKS_CLUSTER_ID", "DATABRICKS_SECRET_ENV", "DATABRICKS_SECRET_SCOPE", "DATABRICKS_SPARK_VERSION",
                 "DATABRICKS_NODE_TYPE", "DATABRICKS_MIN_WORKERS", "DATABRICKS_MAX_WORKERS",
                 "DATABRICKS_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_HOST", "https://adb-123.4.azuredatabricks.net/")
    monkeypatch.setenv("DATABRICKS_CODE_PATH", "/Volumes/main/orchestrator/code/")
    # Secrets present on the orchestrator must never be copied into a spec.
    monkeypatch.setenv("AZURE_STORAGE_KEY", "azure-secret-value-123")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "oss-secret-value-456")
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-secret-token-789")


def spec_for(storage=ADLS, partition="alice.big-1", bundle="orchestrator_assets-x.zip") -> dict:
    return databricks.task_spec(databricks_settings(), storage, partition, bundle)


def test_a_new_job_cluster_gets_code_libraries_and_secret_references():
    spec = spec_for()
    code = "/Volumes/main/orchestrator/code"
    assert spec["task_key"] == "silver_alice_big-1"
    assert spec["spark_python_task"] == {
        "python_file": f"{code}/orchestrator_entry.py",
        "parameters": ["--code", f"{code}/orchestrator_assets-x.zip", "--partition", "alice.big-1"]}
    cluster = spec["new_cluster"]
    assert cluster["spark_version"] == "17.3.x-scala2.13" and cluster["node_type_id"] == "Standard_D4ds_v5"
    assert cluster["autoscale"] == {"min_workers": 1, "max_workers": 4}
    assert cluster["spark_env_vars"] == {"AZURE_STORAGE_KEY": "{{secrets/orchestrator/azure-storage-key}}"}
    assert cluster["spark_conf"] == {"spark.sql.session.timeZone": "UTC"}
    assert cluster["custom_tags"] == {"orchestrator_user": "alice", "orchestrator_job": "big-1"}
    assert spec["timeout_seconds"] == 10_800
    libraries = [lib["pypi"]["package"] for lib in spec["libraries"]]
    assert f"dagster-pipes=={version('dagster-pipes')}" in libraries
    assert f"oss2=={version('oss2')}" in libraries
    assert all("==" in lib for lib in libraries) and not any(lib.startswith(("pyspark", "dagster==")) for lib in libraries)
    assert jobs.SubmitTask.from_dict(spec).as_dict() == spec  # the SDK's own model takes it unchanged


def test_no_secret_value_is_ever_in_the_spec():
    text = json.dumps([spec_for(ADLS), spec_for(OSS)])
    for secret in ("azure-secret-value-123", "oss-secret-value-456", "dapi-secret-token-789"):
        assert secret not in text


def test_oss_and_overridden_secret_mappings(monkeypatch):
    assert spec_for(OSS)["new_cluster"]["spark_env_vars"] == {
        "OSS_ACCESS_KEY_ID": "{{secrets/orchestrator/oss-access-key-id}}",
        "OSS_ACCESS_KEY_SECRET": "{{secrets/orchestrator/oss-access-key-secret}}"}
    monkeypatch.setenv("DATABRICKS_SECRET_SCOPE", "lake-prod")
    monkeypatch.setenv("DATABRICKS_SECRET_ENV", "AZURE_CLIENT_ID=sp-id, AZURE_TENANT_ID=sp-tenant,"
                                                "AZURE_CLIENT_SECRET=sp-secret")
    assert spec_for()["new_cluster"]["spark_env_vars"] == {
        "AZURE_CLIENT_ID": "{{secrets/lake-prod/sp-id}}", "AZURE_TENANT_ID": "{{secrets/lake-prod/sp-tenant}}",
        "AZURE_CLIENT_SECRET": "{{secrets/lake-prod/sp-secret}}"}


def test_cluster_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABRICKS_SPARK_VERSION", "16.4.x-scala2.12")
    monkeypatch.setenv("DATABRICKS_NODE_TYPE", "i3.xlarge")
    monkeypatch.setenv("DATABRICKS_MIN_WORKERS", "2")
    monkeypatch.setenv("DATABRICKS_MAX_WORKERS", "16")
    monkeypatch.setenv("DATABRICKS_TIMEOUT_SECONDS", "600")
    spec = spec_for()
    assert (spec["new_cluster"]["spark_version"], spec["new_cluster"]["node_type_id"]) == ("16.4.x-scala2.12", "i3.xlarge")
    assert spec["new_cluster"]["autoscale"] == {"min_workers": 2, "max_workers": 16}
    assert spec["timeout_seconds"] == 600


def test_an_existing_cluster_keeps_its_own_environment(monkeypatch):
    monkeypatch.setenv("DATABRICKS_CLUSTER_ID", "0123-456789-abcdefgh")
    spec = spec_for()
    assert spec["existing_cluster_id"] == "0123-456789-abcdefgh" and "new_cluster" not in spec


@pytest.mark.parametrize("env, message", [
    ({"DATABRICKS_SECRET_ENV": "AZURE_STORAGE_KEY"}, "DATABRICKS_SECRET_ENV"),
    ({"DATABRICKS_SECRET_ENV": "lower=key"}, "DATABRICKS_SECRET_ENV"),
    ({"DATABRICKS_SECRET_ENV": "KEY={{secrets/x/y}}"}, "DATABRICKS_SECRET_ENV"),
    ({"DATABRICKS_SECRET_SCOPE": "a/b"}, "DATABRICKS_SECRET_SCOPE"),
    ({"DATABRICKS_MIN_WORKERS": "5", "DATABRICKS_MAX_WORKERS": "2"}, "DATABRICKS_MIN_WORKERS"),
    ({"DATABRICKS_MAX_WORKERS": "many"}, "DATABRICKS_MAX_WORKERS"),
    ({"DATABRICKS_HOST": ""}, "DATABRICKS_HOST"),
    ({"DATABRICKS_CODE_PATH": ""}, "DATABRICKS_CODE_PATH"),
])
def test_bad_settings_name_the_variable(monkeypatch, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message):
        spec_for()


def test_local_storage_and_bad_partitions_are_refused():
    with pytest.raises(SettingsError, match="STORAGE_BACKEND"):
        spec_for(StorageSettings("local", root="/data"))
    for key in ("../etc.passwd", "alice.j1; rm -rf /", "Alice.j1", "alice"):
        with pytest.raises(PartitionKeyError):
            spec_for(partition=key)


def test_the_bundle_is_reproducible_and_named_by_its_contents():
    data = databricks.bundle_bytes()
    assert data == databricks.bundle_bytes()
    assert databricks.bundle_name(data) == databricks.bundle_name() != databricks.bundle_name(data + b"x")
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "orchestrator_assets/cleaning/remote.py" in names and "orchestrator_assets/ids.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_the_cluster_side_imports_nothing_of_dagster_but_pipes(tmp_path):
    bundle = tmp_path / databricks.bundle_name()
    bundle.write_bytes(databricks.bundle_bytes())
    probe = (f"import sys; sys.path.insert(0, {str(bundle)!r}); import orchestrator_assets.cleaning.remote as r; "
             "print(r.__file__); print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('dagster', 'dagster_dbt', 'dagster_databricks', 'dbt', 'databricks')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].startswith(str(bundle))  # loaded from the zip, not the installed package
    assert out[1] == "[]"


def test_the_entry_script_refuses_a_missing_bundle(tmp_path):
    entry = tmp_path / databricks.ENTRY_NAME
    entry.write_text(databricks.ENTRY_SCRIPT)
    done = subprocess.run([sys.executable, str(entry), "--code", "dbfs:/code/missing.zip", "--partition", "a.b"],
                          check=False, capture_output=True, text=True,
                          env={"DBFS_FUSE_ROOT": str(tmp_path), "PATH": "/usr/bin"})
    assert done.returncode != 0 and "databricks-upload" in done.stderr
