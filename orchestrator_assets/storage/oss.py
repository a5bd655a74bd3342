"""Alibaba Cloud Object Storage Service through the official SDK (oss2).

Small objects go up in one PUT; larger ones as a multipart upload, which OSS makes visible only when it is
completed, and which is aborted on failure, so no partial object ever appears under the final name.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import oss2
from oss2.exceptions import NoSuchBucket, NotFound, OssError, RequestError
from oss2.models import PartInfo

from .base import (
    CHUNK,
    ObjectInfo,
    ObjectNotFound,
    StorageConfigError,
    StorageError,
    check_key,
    sha256_file,
)
from .cloud import CloudStorage

PART_SIZE = 8 << 20
MULTIPART_THRESHOLD = 16 << 20
LIST_PAGE = 1000
CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSecurityToken", "SecurityTokenExpired",
                    "AccessDenied"}


class OssStorage(CloudStorage):
    name = "oss"

    def __init__(self, bucket: oss2.Bucket, prefix: str = "", part_size: int = PART_SIZE,
                 multipart_threshold: int = MULTIPART_THRESHOLD, list_page: int = LIST_PAGE):
        super().__init__(prefix)
        self.bucket = bucket
        self.part_size = part_size
        self.multipart_threshold = multipart_threshold
        self.list_page = list_page

    @classmethod
    def connect(cls, bucket: str, endpoint: str, access_key_id: str | None, access_key_secret: str | None,
                security_token: str | None = None, prefix: str = "", **options) -> OssStorage:
        for setting, value in [("OSS_BUCKET", bucket), ("OSS_ENDPOINT", endpoint),
                               ("OSS_ACCESS_KEY_ID", access_key_id), ("OSS_ACCESS_KEY_SECRET", access_key_secret)]:
            if not value:
                raise StorageConfigError(f"{setting} is not set (needed for STORAGE_BACKEND=oss)")
        auth = (oss2.StsAuth(access_key_id, access_key_secret, security_token) if security_token
                else oss2.Auth(access_key_id, access_key_secret))
        try:
            handle = oss2.Bucket(auth, endpoint, bucket, connect_timeout=10)
        except oss2.exceptions.ClientError:
            raise StorageConfigError(f"OSS_BUCKET={bucket!r} is not a valid bucket name") from None
        return cls(handle, prefix, **options)

    @contextmanager
    def _errors(self, what: str):
        try:
            yield
        except NoSuchBucket:
            raise StorageConfigError(f"bucket {self.bucket.bucket_name!r} does not exist at "
                                     f"{self.bucket.endpoint} (OSS_BUCKET, OSS_ENDPOINT)") from None
        except NotFound:
            raise ObjectNotFound(f"{what}: not found in bucket {self.bucket.bucket_name!r}") from None
        except RequestError as err:
            raise StorageError(f"{what}: cannot reach {self.bucket.endpoint}: {type(err.exception).__name__}") from err
        except OssError as err:
            if err.code in CREDENTIAL_CODES:
                raise StorageConfigError(f"{what}: OSS refused the credentials ({err.code}); check "
                                         "OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET and OSS_SECURITY_TOKEN") from None
            raise StorageError(f"{what}: OSS answered {err.status} {err.code}") from err

    def check(self) -> None:
        with self._errors("checking the bucket"):
            self.bucket.list_objects_v2(prefix=self.prefix, max_keys=1)

    def put_file(self, key: str, source: Path) -> int:
        name = self._name(key)
        size = Path(source).stat().st_size
        headers = {"x-oss-meta-sha256": sha256_file(Path(source))}
        with self._errors(f"writing {key}"):
            if size <= self.multipart_threshold:
                with open(source, "rb") as fh:
                    self.bucket.put_object(name, fh, headers=headers)
            else:
                self._put_multipart(name, Path(source), headers)
        return size

    def _put_multipart(self, name: str, source: Path, headers: dict[str, str]) -> None:
        upload_id = self.bucket.init_multipart_upload(name, headers=headers).upload_id
        try:
            parts = []
            with open(source, "rb") as fh:
                for number, data in enumerate(iter(lambda: fh.read(self.part_size), b""), start=1):
                    parts.append(PartInfo(number, self.bucket.upload_part(name, upload_id, number, data).etag))
            self.bucket.complete_multipart_upload(name, upload_id, parts)
        except BaseException:
            try:
                self.bucket.abort_multipart_upload(name, upload_id)
            except OssError:
                pass  # the server may be the thing that failed; the parts stay invisible either way
            raise

    def get_file(self, key: str, target: Path) -> Path:
        with self._errors(f"reading {key}"):
            self.bucket.get_object_to_file(self._name(key), str(target))
        return target

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        with self._errors(f"reading {key}"):
            stream = self.bucket.get_object(self._name(key))
            yield from iter(lambda: stream.read(CHUNK), b"")

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            with self._errors(f"inspecting {key}"):
                head = self.bucket.head_object(self._name(key))
        except ObjectNotFound:
            return None
        return ObjectInfo(check_key(key), head.content_length, head.headers.get("x-oss-meta-sha256"))

    def _list_names(self, start: str) -> list[str]:
        names, token = [], ""
        with self._errors(f"listing {start}"):
            while True:
                page = self.bucket.list_objects_v2(prefix=start, continuation_token=token, max_keys=self.list_page)
                names += [o.key for o in page.object_list]
                if not page.is_truncated:
                    return names
                token = page.next_continuation_token

    def delete(self, key: str) -> None:
        with self._errors(f"deleting {key}"):
            self.bucket.delete_object(self._name(key))

    @property
    def _base_url(self) -> str:
        return f"oss://{self.bucket.bucket_name}"
