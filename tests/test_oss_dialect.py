"""The OSS dialect layer must let the real oss2 SDK work against moto for every call the project makes."""

from __future__ import annotations

import hashlib
import io
import uuid

import oss2
import pytest
import requests
from oss2.utils import Crc64
from support.oss_dialect import OSS_MIN_PART_SIZE, OssDialectServer, create_bucket, start_moto

pytestmark = pytest.mark.xdist_group("oss")

BUCKET = "dialect-bucket"
KEY_ID, KEY_SECRET = "test-key-id", "test-key-secret"


def _crc64(data: bytes) -> int:
    crc = Crc64()
    crc.update(data)
    return crc.crc


@pytest.fixture(scope="module")
def moto_endpoint():
    server, endpoint = start_moto()
    create_bucket(endpoint, BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def dialect(moto_endpoint):
    server = OssDialectServer(moto_endpoint, KEY_ID, KEY_SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def bucket(dialect):
    return oss2.Bucket(oss2.Auth(KEY_ID, KEY_SECRET), dialect.endpoint, BUCKET)


@pytest.fixture
def prefix():
    return f"t-{uuid.uuid4().hex[:8]}/"


def test_put_object_keeps_user_meta_and_reports_crc(bucket, prefix):
    data = b"bronze rows\n" * 100
    sha = hashlib.sha256(data).hexdigest()
    put = bucket.put_object(prefix + "a b.csv", data, headers={"x-oss-meta-sha256": sha})
    assert put.crc == _crc64(data)
    assert put.request_id

    head = bucket.head_object(prefix + "a b.csv")
    assert head.content_length == len(data)
    assert head.etag.lower() == hashlib.md5(data).hexdigest()
    assert head.headers["x-oss-meta-sha256"] == sha
    assert head.object_type == "Normal"


def test_put_object_from_file_object_path_and_stream(bucket, prefix, tmp_path):
    data = bytes(range(256)) * 1000
    bucket.put_object(prefix + "fileobj", io.BytesIO(data))
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    bucket.put_object_from_file(prefix + "path", str(source))
    # An unsized iterable makes oss2 send the body with chunked transfer encoding.
    put = bucket.put_object(prefix + "stream", (data[i:i + 4096] for i in range(0, len(data), 4096)))
    assert put.crc == _crc64(data)

    for key in ("fileobj", "path", "stream"):
        target = tmp_path / f"{key}.out"
        result = bucket.get_object_to_file(prefix + key, str(target))  # raises InconsistentError on bad CRC
        assert result.server_crc == _crc64(data)
        assert target.read_bytes() == data


def test_get_object_streams_in_chunks(bucket, prefix):
    data = uuid.uuid4().bytes * 40_000  # 640 KB
    bucket.put_object(prefix + "big", data)
    result = bucket.get_object(prefix + "big")
    chunks = []
    while chunk := result.read(64 * 1024):
        chunks.append(chunk)
    assert len(chunks) >= 10
    assert b"".join(chunks) == data
    assert result.client_crc == result.server_crc == _crc64(data)


def test_range_read_carries_no_whole_object_crc(bucket, prefix, tmp_path):
    bucket.put_object(prefix + "ranged", b"0123456789abcdef")
    result = bucket.get_object(prefix + "ranged", byte_range=(2, 5))
    assert result.read() == b"2345"
    assert result.server_crc is None
    bucket.get_object_to_file(prefix + "ranged", str(tmp_path / "part"), byte_range=(10, 15))
    assert (tmp_path / "part").read_bytes() == b"abcdef"


def test_object_exists_and_delete(bucket, prefix):
    bucket.put_object(prefix + "gone", b"x")
    assert bucket.object_exists(prefix + "gone")
    bucket.delete_object(prefix + "gone")
    assert not bucket.object_exists(prefix + "gone")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.head_object(prefix + "gone")


def test_missing_key_and_bucket_raise_typed_errors(bucket, dialect, prefix):
    with pytest.raises(oss2.exceptions.NoSuchKey) as missing_key:
        bucket.get_object(prefix + "never-written")
    assert missing_key.value.request_id

    other = oss2.Bucket(oss2.Auth(KEY_ID, KEY_SECRET), dialect.endpoint, "no-such-bucket")
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        other.get_object("k")
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        other.object_exists("k")


def test_list_objects_v2_paginates(bucket, prefix):
    keys = sorted(f"{prefix}part {i:02d}.parquet" for i in range(25))
    for key in keys:
        bucket.put_object(key, b"p")
    bucket.put_object(prefix.rstrip("/") + "-sibling", b"not under the prefix")

    listed, pages, token = [], [], ""
    while True:
        page = bucket.list_objects_v2(prefix=prefix, continuation_token=token, max_keys=10)
        pages.append(len(page.object_list))
        listed += [obj.key for obj in page.object_list]
        if not page.is_truncated:
            break
        token = page.next_continuation_token
    assert pages == [10, 10, 5]
    assert listed == keys
    assert {obj.type for obj in page.object_list} == {"Normal"}
    assert page.object_list[0].size == 1


def test_batch_delete_objects(bucket, prefix):
    keys = [prefix + name for name in ("a", "b/c", "d e")]
    for key in keys:
        bucket.put_object(key, b"x")
    result = bucket.batch_delete_objects(keys)
    assert sorted(result.deleted_keys) == sorted(keys)
    assert bucket.list_objects_v2(prefix=prefix).object_list == []


def test_multipart_upload_round_trip(bucket, prefix):
    parts_data = [b"a" * OSS_MIN_PART_SIZE, b"b" * OSS_MIN_PART_SIZE, b"tail"]
    key = prefix + "multi.parquet"
    upload_id = bucket.init_multipart_upload(key, headers={"x-oss-meta-sha256": "feed"}).upload_id
    parts = []
    for number, data in enumerate(parts_data, start=1):
        result = bucket.upload_part(key, upload_id, number, data)
        assert result.crc == _crc64(data)
        parts.append(oss2.models.PartInfo(number, result.etag))
    done = bucket.complete_multipart_upload(key, upload_id, parts)
    assert done.etag.endswith("-3")
    assert done.crc == _crc64(b"".join(parts_data))

    assert bucket.get_object(key).read() == b"".join(parts_data)
    head = bucket.head_object(key)
    assert head.object_type == "Multipart"
    assert head.headers["x-oss-meta-sha256"] == "feed"


def test_abort_multipart_upload(bucket, prefix):
    key = prefix + "aborted"
    upload_id = bucket.init_multipart_upload(key).upload_id
    bucket.upload_part(key, upload_id, 1, b"x" * 10)
    assert upload_id in [u.upload_id for u in bucket.list_multipart_uploads(prefix=prefix).upload_list]
    assert [p.size for p in bucket.list_parts(key, upload_id).parts] == [10]

    bucket.abort_multipart_upload(key, upload_id)
    assert upload_id not in [u.upload_id for u in bucket.list_multipart_uploads(prefix=prefix).upload_list]
    # moto answers UploadPart on an aborted upload with a 500, so probe with ListParts instead.
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        bucket.list_parts(key, upload_id)
    assert not bucket.object_exists(key)


def test_forbid_overwrite_maps_to_file_already_exists(bucket, prefix):
    bucket.put_object(prefix + "once", b"first")
    with pytest.raises(oss2.exceptions.ServerError) as exc:
        bucket.put_object(prefix + "once", b"second", headers={"x-oss-forbid-overwrite": "true"})
    assert (exc.value.status, exc.value.code) == (409, "FileAlreadyExists")
    assert bucket.get_object(prefix + "once").read() == b"first"


def test_wrong_secret_or_key_id_is_rejected(dialect):
    wrong_secret = oss2.Bucket(oss2.Auth(KEY_ID, "nope"), dialect.endpoint, BUCKET)
    with pytest.raises(oss2.exceptions.SignatureDoesNotMatch):
        wrong_secret.put_object("should-not-exist", b"x")

    wrong_id = oss2.Bucket(oss2.Auth("someone-else", KEY_SECRET), dialect.endpoint, BUCKET)
    with pytest.raises(oss2.exceptions.ServerError) as exc:  # oss2 has no class for this code
        wrong_id.get_object("k")
    assert (exc.value.status, exc.value.code) == (403, "InvalidAccessKeyId")

    anonymous = oss2.Bucket(oss2.AnonymousAuth(), dialect.endpoint, BUCKET)
    with pytest.raises(oss2.exceptions.AccessDenied):
        anonymous.get_object("k")
    assert not oss2.Bucket(oss2.Auth(KEY_ID, KEY_SECRET), dialect.endpoint, BUCKET).object_exists(
        "should-not-exist")


def test_signature_covers_the_resource(bucket, prefix):
    bucket.put_object(prefix + "public", b"x")
    bucket.put_object(prefix + "secret", b"y")
    # Sign a request the way oss2 does internally, then replay its headers against another key.
    signed = oss2.http.Request("GET", f"{bucket.endpoint}/{BUCKET}/{prefix}public")
    bucket.auth._sign_request(signed, BUCKET, prefix + "public")
    assert requests.get(signed.url, headers=dict(signed.headers)).content == b"x"

    replayed = requests.get(f"{bucket.endpoint}/{BUCKET}/{prefix}secret", headers=dict(signed.headers))
    assert replayed.status_code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in replayed.content
    assert replayed.headers["x-oss-request-id"]


def test_sts_token_is_required_and_checked(moto_endpoint, prefix):
    server = OssDialectServer(moto_endpoint, "sts-id", "sts-secret", security_token="token-1").start()
    try:
        good = oss2.Bucket(oss2.StsAuth("sts-id", "sts-secret", "token-1"), server.endpoint, BUCKET)
        good.put_object(prefix + "sts", b"temporary credentials")
        assert good.get_object(prefix + "sts").read() == b"temporary credentials"

        for auth in (oss2.StsAuth("sts-id", "sts-secret", "token-2"), oss2.Auth("sts-id", "sts-secret")):
            with pytest.raises(oss2.exceptions.ServerError) as exc:
                oss2.Bucket(auth, server.endpoint, BUCKET).get_object(prefix + "sts")
            assert (exc.value.status, exc.value.code) == (403, "InvalidSecurityToken")
    finally:
        server.stop()


def test_server_dying_mid_multipart_upload(moto_endpoint, prefix):
    server = OssDialectServer(moto_endpoint, KEY_ID, KEY_SECRET).start()
    bucket = oss2.Bucket(oss2.Auth(KEY_ID, KEY_SECRET), server.endpoint, BUCKET, connect_timeout=5)
    key = prefix + "interrupted"
    try:
        upload_id = bucket.init_multipart_upload(key).upload_id
        server.stop_after_parts(1)
        bucket.upload_part(key, upload_id, 1, b"a" * OSS_MIN_PART_SIZE)
        with pytest.raises(oss2.exceptions.RequestError):
            bucket.upload_part(key, upload_id, 2, b"b" * OSS_MIN_PART_SIZE)
        with pytest.raises(oss2.exceptions.RequestError):
            bucket.complete_multipart_upload(key, upload_id, [oss2.models.PartInfo(1, "x")])

        server.start()  # same port, so the same Bucket object reaches it again
        assert not bucket.object_exists(key)
        pending = [u for u in bucket.list_multipart_uploads(prefix=prefix).upload_list if u.key == key]
        assert [u.upload_id for u in pending] == [upload_id]
        bucket.abort_multipart_upload(key, upload_id)
    finally:
        server.stop()
