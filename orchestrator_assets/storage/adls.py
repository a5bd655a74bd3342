"""Azure Data Lake Storage Gen2 (and plain Blob Storage, and the Azurite emulator) through the Blob API.

The Blob API is used rather than the DFS endpoint because Azurite answers the DFS calls with HTTP 400, and
hierarchical-namespace accounts accept Blob calls too. A block blob becomes visible only when its block list
is committed, so a failed or interrupted upload never leaves a partial object under the final name.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.storage.blob import BlobServiceClient, ContainerClient, ExponentialRetry

from .base import (
    ObjectInfo,
    ObjectNotFound,
    StorageConfigError,
    StorageError,
    check_key,
    sha256_file,
)
from .cloud import CloudStorage

# Tuned for throughput on a small machine; tests lower the block size to interrupt uploads part-way.
BLOCK_SIZE = 8 << 20
SINGLE_PUT_SIZE = 16 << 20
CONCURRENCY = 4
LIST_PAGE = 5000


class AdlsStorage(CloudStorage):
    name = "adls"

    def __init__(self, container: ContainerClient, prefix: str = "", concurrency: int = CONCURRENCY,
                 list_page: int = LIST_PAGE):
        super().__init__(prefix)
        self.container = container
        self.account = container.account_name
        self.concurrency = concurrency
        self.list_page = list_page

    @classmethod
    def connect(cls, container: str, *, account_url: str | None = None, connection_string: str | None = None,
                credential=None, prefix: str = "", block_size: int = BLOCK_SIZE,
                single_put_size: int = SINGLE_PUT_SIZE, retries: int = 3, **options) -> AdlsStorage:
        if not container:
            raise StorageConfigError("AZURE_STORAGE_CONTAINER is not set: name the container (file system)")
        # The SDK's own retry schedule (15 s, then 18 s, 24 s) rides out a real service's hiccups.
        client_options = {"max_block_size": block_size, "max_single_put_size": single_put_size,
                          "retry_policy": ExponentialRetry(initial_backoff=15, increment_base=3, retry_total=retries),
                          "connection_timeout": 10, "read_timeout": 120}
        if connection_string:
            try:
                service = BlobServiceClient.from_connection_string(connection_string, **client_options)
            except ValueError:
                raise StorageConfigError("AZURE_STORAGE_CONNECTION_STRING is malformed") from None
        else:
            if not account_url:
                raise StorageConfigError(
                    "set AZURE_STORAGE_ACCOUNT (or AZURE_STORAGE_ACCOUNT_URL) or AZURE_STORAGE_CONNECTION_STRING")
            service = BlobServiceClient(account_url, credential=credential, **client_options)
        return cls(service.get_container_client(container), prefix, **options)

    @contextmanager
    def _errors(self, what: str):
        try:
            yield
        except ResourceNotFoundError as err:
            if err.error_code == "ContainerNotFound":
                raise StorageConfigError(
                    f"container {self.container.container_name!r} does not exist in account {self.account!r} "
                    "(AZURE_STORAGE_CONTAINER)") from None
            raise ObjectNotFound(f"{what}: not found in {self.container.container_name!r}") from None
        except HttpResponseError as err:
            if isinstance(err, ClientAuthenticationError) or err.status_code in (401, 403):
                raise StorageConfigError(
                    f"{what}: Azure refused the credentials ({err.error_code or err.status_code}); check "
                    "AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN, AZURE_STORAGE_CONNECTION_STRING or the identity "
                    "DefaultAzureCredential finds") from None
            raise StorageError(f"{what}: Azure answered {err.status_code} {err.error_code or ''}".rstrip()) from err
        except (ServiceRequestError, AzureError) as err:
            raise StorageError(f"{what}: cannot reach {self.container.url.split('?')[0]}: "
                               f"{type(err).__name__}") from err

    def check(self) -> None:
        # Listing needs only the list permission a container SAS grants; container properties need more.
        with self._errors("checking the container"):
            next(iter(self.container.list_blobs(name_starts_with=self.prefix or None, results_per_page=1)), None)

    def put_file(self, key: str, source: Path) -> int:
        name = self._name(key)
        size = Path(source).stat().st_size
        with self._errors(f"writing {key}"), open(source, "rb") as fh:
            self.container.upload_blob(name, fh, length=size, overwrite=True, max_concurrency=self.concurrency,
                                       metadata={"sha256": sha256_file(Path(source))})
        return size

    def get_file(self, key: str, target: Path) -> Path:
        with self._errors(f"reading {key}"), open(target, "wb") as fh:
            self.container.download_blob(self._name(key), max_concurrency=self.concurrency).readinto(fh)
        return target

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        with self._errors(f"reading {key}"):
            yield from self.container.download_blob(self._name(key)).chunks()

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            with self._errors(f"inspecting {key}"):
                props = self.container.get_blob_client(self._name(key)).get_blob_properties()
        except ObjectNotFound:
            return None
        return ObjectInfo(check_key(key), props.size, (props.metadata or {}).get("sha256"))

    def _list_names(self, start: str) -> list[str]:
        with self._errors(f"listing {start}"):
            return [b.name for b in self.container.list_blobs(name_starts_with=start, results_per_page=self.list_page)]

    def delete(self, key: str) -> None:
        try:
            with self._errors(f"deleting {key}"):
                self.container.delete_blob(self._name(key))
        except ObjectNotFound:
            pass

    @property
    def _base_url(self) -> str:
        return f"abfs://{self.container.container_name}@{self.account}.dfs.core.windows.net"
