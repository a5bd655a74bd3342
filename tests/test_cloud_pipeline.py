"""The whole pipeline on every storage backend, and cross-cloud sync between them, on real emulators."""
from __future__ import annotations

import re
from dataclasses import asdict

import pytest
from dagster import DagsterInstance, materialize
from support.clouds import patched_env
from test_pipeline import mart_digest

from orchestrator_assets import layout
from orchestrator_assets.assets.bronze import bronze
from orchestrator_assets.assets.gold import dbt_resource, gold
from orchestrator_assets.assets.silver import silver
from orchestrator_assets.cleaning.publish import current_silver, require_silver
from orchestrator_assets.ids import PartitionKeyError
from orchestrator_assets.io_managers import storage_resources
from orchestrator_assets.requests import build_request, save_request
from orchestrator_assets.resources import (
    CleaningEngineResource,
    DatabricksResource,
    StorageResource,
    WarehouseResource,
)
from orchestrator_assets.storage.backends import open_storage
from orchestrator_assets.storage.base import StorageError
from orchestrator_assets.storage.sync import SyncError, partition_objects, sync_partitions

pytestmark = [pytest.mark.xdist_group("cloud_pipeline"), pytest.mark.e2e]
BACKENDS = ["local", "adls", "oss"]
USER, JOB, ROWS = "carol", "c-1", 900
PARTITION = f"{USER}.{JOB}"


def storage_resource(clouds, backend, root, env) -> StorageResource:
    return StorageResource(**asdict(clouds.settings(backend, root, env)))


@pytest.fixture(scope="module")
def runs(clouds, tmp_path_factory):
    root = tmp_path_factory.mktemp("cloud-pipeline")
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("jobs", [PARTITION])
    out = {}
    for backend in BACKENDS:
        env = clouds.env(backend, prefix="medallion")
        resources = {**storage_resources(storage_resource(clouds, backend, root / "local", env)),
                     "cleaning": CleaningEngineResource(engine="pandas"), "databricks": DatabricksResource(),
                     "warehouse": WarehouseResource(duckdb_path=str(root / f"{backend}.duckdb")), "dbt": dbt_resource()}
        with patched_env(env):
            store = resources["storage"].get()
            save_request(store, build_request(USER, JOB, ROWS, 3))
            result = materialize([bronze, silver, gold], partition_key=PARTITION, instance=instance,
                                 resources=resources, raise_on_error=False)
        out[backend] = {"env": env, "store": store, "result": result, "resources": resources,
                        "warehouse": root / f"{backend}.duckdb"}
    yield out
    instance.dispose()


def objects(store) -> dict[str, str]:
    return {k: store.stat(k).sha256 for k in partition_objects(store, PARTITION, ["requests", "bronze", "silver"])}


@pytest.mark.parametrize("backend", BACKENDS)
def test_pipeline_runs_on_every_backend_with_all_checks_passing(runs, backend):
    result = runs[backend]["result"]
    assert result.success
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed == []
    paths = {m.asset_key.to_user_string(): m.event_specific_data.materialization.metadata["path"].value
             for m in result.get_asset_materialization_events()
             if "path" in m.event_specific_data.materialization.metadata}
    prefix = {"local": runs["local"]["store"].location, "adls": "abfs://", "oss": "oss://"}[backend]
    assert paths["silver/orders"].startswith(prefix)
    assert re.search(r"/silver/orders/carol/c-1/v-[0-9a-f]{16}/part-00000\.parquet$", paths["silver/orders"])
    if backend != "local":
        assert "/medallion/silver/" in paths["silver/orders"]


def test_every_backend_holds_the_same_bytes_and_builds_the_same_gold(runs):
    def data(store):  # the cleaning report records how long cleaning took, the pointer when it was published
        return {k: v for k, v in objects(store).items() if not k.endswith(("/cleaning.json", "/current.json"))}

    local = data(runs["local"]["store"])
    assert len(local) > 30 and all(local.values())
    for backend in ("adls", "oss"):
        assert data(runs[backend]["store"]) == local, backend
    gold = {b: mart_digest(runs[b]["warehouse"], USER, JOB) for b in BACKENDS}
    assert gold["local"]["fact_orders"][0] > 0
    assert gold["adls"] == gold["local"] and gold["oss"] == gold["local"]


def test_sync_copies_verifies_and_skips_on_rerun(runs, clouds, tmp_path):
    source = runs["local"]["store"]
    target_env = clouds.env("oss", prefix="replica")
    with patched_env(target_env):
        target = open_storage(clouds.settings("oss", tmp_path, target_env))
    first = sync_partitions(source, target, [PARTITION], ["requests", "bronze", "silver"])
    expected = objects(source)
    assert (first.copied, first.skipped) == (len(expected), 0)
    assert first.bytes_copied == sum(source.stat(k).size for k in expected)
    assert objects(target) == expected
    again = sync_partitions(source, target, [PARTITION], ["requests", "bronze", "silver"])
    assert (again.copied, again.skipped, again.bytes_skipped) == (0, len(expected), first.bytes_copied)
    # Same size, other content: found by checksum and copied again.
    victim = require_silver(target, USER, JOB).key("orders")
    size = target.stat(victim).size
    target.put_bytes(victim, b"\0" * size)
    third = sync_partitions(source, target, [PARTITION], ["silver"])
    assert third.copied == 1 and target.stat(victim).sha256 == expected[victim]


def test_sync_resumes_after_a_failure_and_publishes_the_manifest_last(runs, clouds, tmp_path):
    source = runs["oss"]["store"]
    env = clouds.env("adls")
    with patched_env(env):
        target = open_storage(clouds.settings("adls", tmp_path, env))
    real_put, calls = target.put_file, []

    def failing_put(key, path):
        calls.append(key)
        if len(calls) > 5:
            raise StorageError(f"writing {key}: injected outage")
        return real_put(key, path)

    target.put_file = failing_put
    with pytest.raises(SyncError, match="re-run to resume") as err:
        sync_partitions(source, target, [PARTITION], ["bronze", "silver"], workers=1)
    assert err.value.report.copied == 5
    manifest = f"bronze/_manifest/{USER}/{JOB}/manifest.json"
    assert not target.exists(manifest), "an incomplete partition must not look complete"
    assert current_silver(target, USER, JOB) is None, "nor an incomplete Silver published"
    target.put_file = real_put
    resumed = sync_partitions(source, target, [PARTITION], ["bronze", "silver"])
    assert resumed.skipped == 5 and resumed.copied == len(objects(source)) - 1 - 5  # no request layer
    assert target.exists(manifest) and require_silver(target, USER, JOB) == require_silver(source, USER, JOB)


def test_sync_refuses_bad_requests(runs):
    store = runs["local"]["store"]
    with pytest.raises(PartitionKeyError):
        sync_partitions(store, runs["oss"]["store"], ["carol.../../x"], ["bronze"])
    with pytest.raises(ValueError, match="same place"):
        sync_partitions(store, store, [PARTITION], ["bronze"])
    with pytest.raises(ValueError, match="layers"):
        sync_partitions(store, runs["oss"]["store"], [PARTITION], ["gold"])


def test_sync_job_takes_its_backends_from_run_config(runs, clouds, tmp_path):
    """The launchpad path: both ends chosen per run through resource config, credentials from the environment."""
    from orchestrator_assets.definitions import defs

    target_env = clouds.env("adls", prefix="from-oss")
    source = asdict(clouds.settings("oss", tmp_path, runs["oss"]["env"]))
    target = asdict(clouds.settings("adls", tmp_path, target_env))
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("jobs", [PARTITION])
    with patched_env({**runs["oss"]["env"], **target_env}):
        result = defs.resolve_job_def("sync_job").execute_in_process(instance=instance, run_config={
            "resources": {"storage": {"config": source}, "sync_target": {"config": target}},
            "ops": {"sync_storage": {"config": {"layers": ["bronze"]}}}})
    assert result.success
    [out] = [e.event_specific_data.metadata for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    bronze_objects = [k for k in objects(runs["oss"]["store"]) if k.startswith("bronze/")]
    assert out["copied"].value == len(bronze_objects) and out["bytes_copied"].value > 0
    assert out["source"].value.startswith("oss://") and out["source"].value.endswith("/medallion")
    assert out["target"].value.startswith("abfs://") and out["target"].value.endswith("/from-oss")


def test_rematerialising_on_a_cloud_backend_overwrites_cleanly(runs):
    oss = runs["oss"]
    before = objects(oss["store"])
    gold_before = mart_digest(oss["warehouse"], USER, JOB)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("jobs", [PARTITION])
    with patched_env(oss["env"]):
        again = materialize([bronze, silver, gold], partition_key=PARTITION, instance=instance,
                            resources=oss["resources"], raise_on_error=False)
    assert again.success
    after = objects(oss["store"])
    assert after.keys() == before.keys()
    changed = {k for k in before if before[k] != after[k]}
    # The same Bronze cleaned again is the same version: only the timing figures and the publishing time differ.
    current = require_silver(oss["store"], USER, JOB)
    assert changed <= {current.cleaning_report, layout.silver_pointer_key(USER, JOB)}
    assert mart_digest(oss["warehouse"], USER, JOB) == gold_before
