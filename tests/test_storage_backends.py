"""The storage contract on every backend, against real emulators: Azurite (ADLS Gen2) and moto behind OSS."""
from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from datetime import datetime
from functools import partial

import pytest
from support.azurite import ACCOUNT, ACCOUNT_KEY, Azurite
from support.clouds import OSS_KEY_ID, OSS_SECRET, open_backend, patched_env

from orchestrator_assets.settings import StorageSettings, storage_settings
from orchestrator_assets.storage.adls import AdlsStorage
from orchestrator_assets.storage.backends import open_storage
from orchestrator_assets.storage.base import ObjectNotFound, StorageConfigError, StorageError

BACKENDS = ["local", "adls", "oss"]


@pytest.fixture(params=BACKENDS)
def store(request, clouds, tmp_path):
    backend, _ = open_backend(clouds, request.param, tmp_path / "root", prefix="layers")
    return backend


def test_objects_round_trip_with_size_and_checksum(store, tmp_path):
    data = os.urandom(3 * (4 << 20) + 123)  # several read chunks
    src = tmp_path / "src"
    src.write_bytes(data)
    assert store.put_file("silver/orders/alice/j1/part-00000.parquet", src) == len(data)
    info = store.stat("silver/orders/alice/j1/part-00000.parquet")
    assert (info.size, info.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert b"".join(store.iter_chunks("silver/orders/alice/j1/part-00000.parquet")) == data
    assert store.get_file("silver/orders/alice/j1/part-00000.parquet", tmp_path / "back").read_bytes() == data
    store.put_bytes("silver/orders/alice/j1/part-00000.parquet", b"smaller")
    assert store.get_bytes("silver/orders/alice/j1/part-00000.parquet") == b"smaller"


def test_listing_is_by_folder_and_sorted(store):
    for key in ["bronze/t/u/j1/part-00001.jsonl", "bronze/t/u/j1/part-00000.jsonl", "bronze/t/u/j10/part-00000.jsonl",
                "bronze/t/u/j1/sub/x.json"]:
        store.put_bytes(key, b"x")
    assert store.list("bronze/t/u/j1") == ["bronze/t/u/j1/part-00000.jsonl", "bronze/t/u/j1/part-00001.jsonl",
                                           "bronze/t/u/j1/sub/x.json"]
    assert store.list("bronze/t/u/j1/part-00000.jsonl") == ["bronze/t/u/j1/part-00000.jsonl"]
    assert store.list("bronze/none") == []
    assert store.replace_prefix("bronze/t/u/j1", ["bronze/t/u/j1/part-00000.jsonl"]) == 2
    assert store.list("bronze/t/u") == ["bronze/t/u/j1/part-00000.jsonl", "bronze/t/u/j10/part-00000.jsonl"]


def test_missing_objects_and_deletes(store, tmp_path):
    assert store.stat("silver/x/u/j/none.parquet") is None and not store.exists("silver/x/u/j/none.parquet")
    with pytest.raises(ObjectNotFound):
        store.get_file("silver/x/u/j/none.parquet", tmp_path / "out")
    store.put_bytes("silver/x/u/j/a.json", b"1")
    store.delete("silver/x/u/j/a.json")
    store.delete("silver/x/u/j/a.json")  # deleting twice is fine
    assert not store.exists("silver/x/u/j/a.json")


def test_local_view_gives_duckdb_readable_files(store):
    import duckdb

    store.put_bytes("silver/t/u/j/part-00000.csv", b"a,b\n1,2\n3,4\n")
    with store.local_view(["silver/t/u/j/part-00000.csv"]) as root, duckdb.connect() as con:
        total = con.sql(f"SELECT sum(a + b) FROM '{root / 'silver/t/u/j/part-00000.csv'}'").fetchall()[0][0]
    assert total == 10


@pytest.mark.parametrize("key", ["../escape", "silver/../../x", "/abs", "a//b", "a/./b", "silver/a b"])
def test_keys_that_escape_the_prefix_are_refused_before_any_request(store, key):
    with pytest.raises(StorageError, match="invalid storage key"):
        store.put_bytes(key, b"x")
    with pytest.raises(StorageError, match="invalid storage key"):
        store.list(key)


def test_prefix_keeps_layers_in_their_folder(clouds, tmp_path):
    for backend in ("adls", "oss"):
        store, _ = open_backend(clouds, backend, tmp_path, prefix="team-a/orchestrator")
        store.put_bytes("requests/u/j/request.json", b"{}")
        assert store.uri("requests/u/j/request.json").endswith("/team-a/orchestrator/requests/u/j/request.json")
        assert store.location.startswith({"adls": "abfs://", "oss": "oss://"}[backend])
        assert store.list("requests") == ["requests/u/j/request.json"]


def test_listing_follows_continuation_pages(clouds, tmp_path):
    for backend in ("adls", "oss"):
        store, _ = open_backend(clouds, backend, tmp_path)
        store.list_page = 10
        keys = [f"bronze/t/u/j/part-{i:05d}.jsonl" for i in range(25)]
        for key in keys:
            store.put_bytes(key, b"x")
        assert store.list("bronze/t/u/j") == keys, backend


def test_oss_large_objects_go_up_in_parts(clouds, tmp_path):
    store, _ = open_backend(clouds, "oss", tmp_path)
    store.multipart_threshold, store.part_size = 1 << 20, 512 << 10
    data = os.urandom((3 << 20) + 7)
    src = tmp_path / "big"
    src.write_bytes(data)
    calls = []
    original = store.bucket.upload_part
    store.bucket.upload_part = lambda *a, **k: calls.append(a[2]) or original(*a, **k)
    store.put_file("silver/big/u/j/part-00000.parquet", src)
    assert calls == [1, 2, 3, 4, 5, 6, 7]
    assert b"".join(store.iter_chunks("silver/big/u/j/part-00000.parquet")) == data
    assert store.stat("silver/big/u/j/part-00000.parquet").sha256 == hashlib.sha256(data).hexdigest()


def test_oss_server_dying_mid_upload_leaves_the_old_object(clouds, tmp_path):
    store, _ = open_backend(clouds, "oss", tmp_path)
    store.multipart_threshold, store.part_size = 1 << 20, 512 << 10
    key = "silver/orders/u/j/part-00000.parquet"
    store.put_bytes(key, b"previous version")
    src = tmp_path / "big"
    src.write_bytes(os.urandom(4 << 20))
    clouds.oss.stop_after_parts(2)
    try:
        with pytest.raises(StorageError, match="cannot reach"):
            store.put_file(key, src)
    finally:
        clouds.oss.stop_after_parts(0)
        clouds.oss.start()
    assert store.get_bytes(key) == b"previous version"
    assert store.list("silver/orders/u/j") == [key]


def test_adls_server_dying_mid_upload_leaves_the_old_object(tmp_path):
    azurite = Azurite(tmp_path / "disk", in_memory=False).start()
    try:
        azurite.create_container("crash")
        store = AdlsStorage.connect("crash", connection_string=azurite.connection_string, block_size=256 << 10,
                                    single_put_size=256 << 10, concurrency=1, retries=0)
        key = "silver/orders/u/j/part-00000.parquet"
        store.put_bytes(key, b"previous version")
        src = tmp_path / "big"
        src.write_bytes(os.urandom(4 << 20))

        store.container.upload_blob = partial(store.container.upload_blob, progress_hook=lambda cur, total: (
            azurite.stop() if cur >= 1 << 20 else None))
        with pytest.raises(StorageError, match="cannot reach"):
            store.put_file(key, src)
        azurite.start()  # same port, same on-disk data: what survived the crash
        assert store.get_bytes(key) == b"previous version"
        assert store.list("silver/orders/u/j") == [key]
    finally:
        azurite.stop()


def test_wrong_credentials_fail_fast_naming_the_setting_without_the_secret(clouds, tmp_path):
    env = clouds.env("adls")
    bad_key = "d3JvbmcK" * 11
    with patched_env({**env, "AZURE_STORAGE_KEY": bad_key}), pytest.raises(StorageConfigError) as err:
        open_storage(clouds.settings("adls", tmp_path, env))
    assert "AZURE_STORAGE_KEY" in str(err.value) and bad_key not in str(err.value)
    env = clouds.env("oss")
    with patched_env({**env, "OSS_ACCESS_KEY_SECRET": "not-the-secret"}), pytest.raises(StorageConfigError) as err:
        open_storage(clouds.settings("oss", tmp_path, env))
    assert "OSS_ACCESS_KEY_SECRET" in str(err.value) and "not-the-secret" not in str(err.value)
    with patched_env({**env, "OSS_ACCESS_KEY_ID": "LTAI-nobody"}), pytest.raises(StorageConfigError, match="OSS_"):
        open_storage(clouds.settings("oss", tmp_path, env))


def test_missing_container_or_bucket_is_named(clouds, tmp_path):
    env = clouds.env("adls", place="no-such-container")
    with patched_env(env), pytest.raises(StorageConfigError, match="no-such-container.*AZURE_STORAGE_CONTAINER"):
        open_storage(clouds.settings("adls", tmp_path, env))
    env = clouds.env("oss", place="no-such-bucket")
    with patched_env(env), pytest.raises(StorageConfigError, match="no-such-bucket.*OSS_BUCKET"):
        open_storage(clouds.settings("oss", tmp_path, env))


def test_missing_settings_are_named(tmp_path):
    blank = {k: "" for k in ("AZURE_STORAGE_CONTAINER", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_ACCOUNT_URL",
                             "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN",
                             "OSS_BUCKET", "OSS_ENDPOINT", "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET")}
    with patched_env(blank):
        with pytest.raises(StorageConfigError, match="AZURE_STORAGE_ACCOUNT"):
            open_storage(storage_settings("adls"))
        with pytest.raises(StorageConfigError, match="AZURE_STORAGE_CONTAINER"):
            open_storage(StorageSettings("adls", account_url="http://127.0.0.1:1/x"))
        with pytest.raises(StorageConfigError, match="OSS_BUCKET"):
            open_storage(storage_settings("oss"))
        with pytest.raises(StorageConfigError, match="OSS_ACCESS_KEY_ID"):
            open_storage(StorageSettings("oss", bucket="b", endpoint="http://127.0.0.1:1"))
    with patched_env({"STORAGE_BACKEND": "s3"}), pytest.raises(ValueError, match="STORAGE_BACKEND='s3'"):
        storage_settings()


def test_azure_credentials_are_chosen_by_precedence(clouds, tmp_path):
    """Connection string, then account key, then SAS; with none, DefaultAzureCredential."""
    from azure.identity import DefaultAzureCredential
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    from orchestrator_assets.storage.backends import open_adls

    env = clouds.env("adls")
    sas = generate_container_sas(ACCOUNT, env["AZURE_STORAGE_CONTAINER"], account_key=ACCOUNT_KEY,
                                 permission=ContainerSasPermissions(read=True, write=True, list=True, delete=True),
                                 expiry=datetime(2100, 1, 1))
    settings = clouds.settings("adls", tmp_path, env)
    with patched_env({**env, "AZURE_STORAGE_KEY": "", "AZURE_STORAGE_SAS_TOKEN": sas}):
        store = open_storage(settings)
        store.put_bytes("requests/u/j/request.json", b"{}")  # a SAS that works end to end
    with patched_env({**env, "AZURE_STORAGE_KEY": "", "AZURE_STORAGE_CONNECTION_STRING":
                      clouds.azurite.connection_string}):
        assert open_storage(settings).get_bytes("requests/u/j/request.json") == b"{}"
    with patched_env({**env, "AZURE_STORAGE_KEY": ""}):  # a token credential needs HTTPS; no request is made
        credential = open_adls(replace(settings, account_url="https://acct.blob.core.windows.net")).container.credential
    assert isinstance(credential, DefaultAzureCredential)


def test_oss_sts_token_is_sent(clouds, tmp_path):
    from support.oss_dialect import OssDialectServer

    sts = OssDialectServer(clouds.moto_endpoint, OSS_KEY_ID, OSS_SECRET, security_token="sts-token-1").start()
    try:
        env = {**clouds.env("oss"), "OSS_ENDPOINT": sts.endpoint}
        settings = StorageSettings("oss", bucket=env["OSS_BUCKET"], endpoint=sts.endpoint)
        with patched_env({**env, "OSS_SECURITY_TOKEN": "sts-token-1"}):
            open_storage(settings).put_bytes("requests/u/j/request.json", b"{}")
        with patched_env({**env, "OSS_SECURITY_TOKEN": ""}), pytest.raises(StorageConfigError):
            open_storage(settings)
    finally:
        sts.stop()
