"""The layer IO managers: each layer where its config says (per layer and per run), handles that read nothing
until asked, and Silver's inputs as real asset-graph lineage."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from dagster import (
    AssetIn,
    AssetKey,
    AssetSelection,
    DagsterInstance,
    Definitions,
    asset,
    build_output_context,
    define_asset_job,
    materialize,
)
from support.clouds import patched_env

from orchestrator_assets import layout
from orchestrator_assets.assets.bronze import LEDGER, TABLES, bronze, bronze_key
from orchestrator_assets.assets.gold import dbt_resource, gold
from orchestrator_assets.assets.silver import QUARANTINE, silver, silver_key
from orchestrator_assets.cleaning.publish import current_silver, require_silver
from orchestrator_assets.generation.bronze import read_manifest
from orchestrator_assets.handles import silver_handle
from orchestrator_assets.io_managers import (
    BRONZE_IO,
    SILVER_IO,
    BronzeIOManager,
    SilverIOManager,
    layer_io_managers,
    storage_resources,
)
from orchestrator_assets.partitions import job_partitions
from orchestrator_assets.requests import build_request, save_request
from orchestrator_assets.resources import (
    CleaningEngineResource,
    DatabricksResource,
    StorageResource,
    WarehouseResource,
)
from orchestrator_assets.storage.base import StorageError
from orchestrator_assets.storage.local import LocalStorage

ROWS = 300


def _resources(root: Path, storage: StorageResource, **io_managers) -> dict:
    return {**storage_resources(storage), **io_managers, "cleaning": CleaningEngineResource(engine="pandas"),
            "databricks": DatabricksResource(), "dbt": dbt_resource(),
            "warehouse": WarehouseResource(duckdb_path=str(root / "warehouse.duckdb"))}


def _instance(*keys: str) -> DagsterInstance:
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(job_partitions.name, list(keys))
    return instance


def _request(storage: StorageResource, user: str, job: str) -> None:
    save_request(storage.get(), build_request(user, job, ROWS, 5))


def _locations(result, key: AssetKey) -> set[str]:
    """Where the IO manager recorded the asset's objects (handle_output's metadata)."""
    return {e.materialization.metadata["location"].value for e in result.get_asset_materialization_events()
            if e.asset_key == key}


def test_each_layer_lands_under_its_own_io_managers_base_path_and_gold_reads_it_there(tmp_path):
    storage = StorageResource(backend="local", root=str(tmp_path / "main"))
    silver_root = tmp_path / "silver-elsewhere"
    resources = _resources(tmp_path, storage, silver_io_manager=SilverIOManager(backend="local", root=str(silver_root)))
    _request(storage, "ivy", "j1")
    instance = _instance("ivy.j1")
    result = materialize([bronze, silver, gold], partition_key="ivy.j1", instance=instance, resources=resources,
                         raise_on_error=False)
    assert result.success
    main, other = LocalStorage(tmp_path / "main"), LocalStorage(silver_root)
    assert read_manifest(main, "ivy", "j1") is not None and read_manifest(other, "ivy", "j1") is None
    current = require_silver(other, "ivy", "j1")
    assert current_silver(main, "ivy", "j1") is None and main.list("silver") == []
    assert other.exists(current.key("orders")) and other.exists(current.accuracy_report)
    assert _locations(result, silver_key("orders")) == {other.location}
    assert _locations(result, bronze_key("orders")) == {main.location}
    assert instance.get_materialized_partitions(AssetKey(["gold", "fact_orders"])) == {"ivy.j1"}


def test_silver_on_adls_while_bronze_stays_on_local_files(tmp_path, clouds):
    env = clouds.env("adls", prefix="layers")
    settings = clouds.settings("adls", tmp_path / "unused", env)
    storage = StorageResource(backend="local", root=str(tmp_path / "main"))
    on_adls = SilverIOManager(backend="adls", prefix=settings.prefix, container=settings.container,
                              account=settings.account, account_url=settings.account_url)
    _request(storage, "ivy", "az1")
    with patched_env(env):  # the account key comes from the environment, never from config
        result = materialize([bronze, silver], partition_key="ivy.az1", instance=_instance("ivy.az1"),
                             resources=_resources(tmp_path, storage, silver_io_manager=on_adls), raise_on_error=False)
        assert result.success
        remote = on_adls.store()
        current = require_silver(remote, "ivy", "az1")
        assert remote.location.startswith("abfs://") and remote.stat(current.key("orders")).size > 0
        assert _locations(result, silver_key("orders")) == {remote.location}
    main = LocalStorage(tmp_path / "main")
    assert main.list("silver") == [] and read_manifest(main, "ivy", "az1") is not None


class CountingStorage(LocalStorage):
    """The local backend, counting every object whose bytes are read."""

    reads: ClassVar[list[str]] = []

    def get_file(self, key, target):
        CountingStorage.reads.append(key)
        return super().get_file(key, target)

    def iter_chunks(self, key):
        CountingStorage.reads.append(key)
        return super().iter_chunks(key)

    def local_view(self, keys):
        CountingStorage.reads.extend(keys)
        return super().local_view(keys)


class CountingBronzeIO(BronzeIOManager):
    def store(self):
        return CountingStorage(self.root)


class CountingSilverIO(SilverIOManager):
    def store(self):
        return CountingStorage(self.root)


def test_loading_an_input_reads_the_manifest_or_pointer_only_never_table_data(tmp_path):
    storage = StorageResource(backend="local", root=str(tmp_path / "main"))
    _request(storage, "ivy", "lazy")
    instance = _instance("ivy.lazy")
    built = materialize([bronze, silver], partition_key="ivy.lazy", instance=instance,
                        resources=_resources(tmp_path, storage))
    silver_rows = next(m.metadata["rows"].value for m in built.asset_materializations_for_node("silver")
                       if m.asset_key == silver_key("orders"))
    seen = {}

    @asset(partitions_def=job_partitions, ins={
        "orders": AssetIn(bronze_key("orders"), input_manager_key=BRONZE_IO),
        "ledger": AssetIn(LEDGER, input_manager_key=BRONZE_IO),
        "clean": AssetIn(silver_key("orders"), input_manager_key=SILVER_IO),
        "quarantine": AssetIn(QUARANTINE, input_manager_key=SILVER_IO)})
    def probe(orders, ledger, clean, quarantine):
        seen["reads"] = list(CountingStorage.reads)
        seen["handles"] = {"orders": orders, "ledger": ledger, "clean": clean, "quarantine": quarantine}

    CountingStorage.reads = []
    counting = {BRONZE_IO: CountingBronzeIO(root=storage.root), SILVER_IO: CountingSilverIO(root=storage.root)}
    # Bronze and Silver as external assets: the probe run loads them, it does not build them.
    assert materialize([*bronze.specs, *silver.specs, probe], partition_key="ivy.lazy", instance=instance,
                       resources=counting).success
    manifest = read_manifest(LocalStorage(storage.root), "ivy", "lazy")
    current = require_silver(LocalStorage(storage.root), "ivy", "lazy")
    assert set(seen["reads"]) <= {layout.manifest_key("ivy", "lazy"), layout.silver_pointer_key("ivy", "lazy")}
    handles = seen["handles"]
    assert handles["orders"].keys == tuple(manifest.parts("orders")) and handles["orders"].manifest == manifest
    assert handles["ledger"].keys == (manifest.ledger["key"],)
    assert handles["clean"].keys == (current.key("orders"),) and handles["clean"].version == current
    assert len(handles["quarantine"].keys) == len(manifest.tables)
    # Asked for rows, the handle streams them: as many as the manifest and the Silver step counted.
    assert sum(b.num_rows for b in handles["orders"].iter_batches(batch_rows=50)) == manifest.tables["orders"]["rows"]
    assert sum(b.num_rows for b in handles["clean"].iter_batches()) == silver_rows > 0
    assert set(CountingStorage.reads) - set(seen["reads"]) >= {*manifest.parts("orders"), current.key("orders")}


def test_silvers_inputs_are_the_bronze_assets_in_the_definitions_graph():
    from orchestrator_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    for table in TABLES:
        assert graph.get(silver_key(table)).parent_keys == {bronze_key(table)}
    assert graph.get(QUARANTINE).parent_keys == {bronze_key(t) for t in TABLES} | {LEDGER}
    assets_def = defs.resolve_assets_def(silver_key("orders"))
    assert set(assets_def.keys_by_input_name.values()) == {bronze_key(t) for t in TABLES} | {LEDGER}
    ins = assets_def.op.ins
    assert all(not ins[name].dagster_type.is_nothing and ins[name].input_manager_key == BRONZE_IO for name in ins)
    assert {assets_def.get_io_manager_key_for_asset_key(k) for k in assets_def.keys} == {SILVER_IO}
    assert {BRONZE_IO, SILVER_IO} <= set(defs.resources)


def test_a_run_config_moves_one_layer_for_that_run_only(tmp_path):
    storage = StorageResource(backend="local", root=str(tmp_path / "main"))
    job = define_asset_job("layers_job", selection=AssetSelection.groups("bronze", "silver"),
                           partitions_def=job_partitions)
    defs = Definitions(assets=[bronze, silver], jobs=[job], resources=_resources(tmp_path, storage))
    for key in ("ivy.r1", "ivy.r2"):
        _request(storage, *key.split("."))
    instance = _instance("ivy.r1", "ivy.r2")
    moved = tmp_path / "this-run-only"
    run = defs.resolve_job_def("layers_job").execute_in_process(
        instance=instance, partition_key="ivy.r1",
        run_config={"resources": {SILVER_IO: {"config": {"root": str(moved)}}}})
    assert run.success
    assert require_silver(LocalStorage(moved), "ivy", "r1").version.startswith("v-")
    assert current_silver(LocalStorage(tmp_path / "main"), "ivy", "r1") is None
    # The next run without the override publishes where the Definitions say.
    assert defs.resolve_job_def("layers_job").execute_in_process(instance=instance, partition_key="ivy.r2").success
    assert current_silver(LocalStorage(tmp_path / "main"), "ivy", "r2") is not None
    assert current_silver(LocalStorage(moved), "ivy", "r2") is None


def test_handle_output_refuses_a_handle_of_data_published_elsewhere(tmp_path):
    storage = StorageResource(backend="local", root=str(tmp_path / "main"))
    _request(storage, "ivy", "x1")
    assert materialize([bronze, silver], partition_key="ivy.x1", instance=_instance("ivy.x1"),
                       resources=_resources(tmp_path, storage)).success
    store = LocalStorage(tmp_path / "main")
    handle = silver_handle(store, require_silver(store, "ivy", "x1"), "orders")
    elsewhere = layer_io_managers(StorageResource(backend="local", root=str(tmp_path / "empty")))[SILVER_IO]
    context = build_output_context(asset_key=silver_key("orders"), partition_key="ivy.x1")
    with pytest.raises(StorageError, match="Silver pointer"):
        elsewhere.handle_output(context, handle)
    here = layer_io_managers(storage)[SILVER_IO]
    here.handle_output(build_output_context(asset_key=silver_key("orders"), partition_key="ivy.x1"), handle)
