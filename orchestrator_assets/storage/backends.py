"""Open the backend that settings name, with credentials from the environment."""
from __future__ import annotations

from urllib.parse import urlparse

from ..settings import StorageSettings, azure_secrets, oss_secrets
from .base import Storage, StorageConfigError


def account_name(settings: StorageSettings) -> str:
    """The storage account: as set, else the URL host's first label, or its first path segment (emulators)."""
    if settings.account:
        return settings.account
    url = urlparse(settings.account_url)
    if url.hostname in ("127.0.0.1", "localhost") or (url.hostname or "").replace(".", "").isdigit():
        return url.path.strip("/").split("/")[0]
    return (url.hostname or "").split(".")[0]


def open_adls(settings: StorageSettings) -> Storage:
    from azure.identity import DefaultAzureCredential

    from .adls import AdlsStorage

    secrets = azure_secrets()
    if "AZURE_STORAGE_CONNECTION_STRING" in secrets:
        return AdlsStorage.connect(settings.container, prefix=settings.prefix,
                                   connection_string=secrets["AZURE_STORAGE_CONNECTION_STRING"])
    if not settings.account_url:
        raise StorageConfigError("set AZURE_STORAGE_ACCOUNT or AZURE_STORAGE_ACCOUNT_URL for STORAGE_BACKEND=adls")
    if "AZURE_STORAGE_KEY" in secrets:
        credential = {"account_name": account_name(settings), "account_key": secrets["AZURE_STORAGE_KEY"]}
    elif "AZURE_STORAGE_SAS_TOKEN" in secrets:
        credential = secrets["AZURE_STORAGE_SAS_TOKEN"]
    else:
        credential = DefaultAzureCredential()
    return AdlsStorage.connect(settings.container, account_url=settings.account_url, credential=credential,
                               prefix=settings.prefix)


def open_oss(settings: StorageSettings) -> Storage:
    from .oss import OssStorage

    secrets = oss_secrets()
    return OssStorage.connect(settings.bucket, settings.endpoint, secrets["OSS_ACCESS_KEY_ID"],
                              secrets["OSS_ACCESS_KEY_SECRET"], secrets["OSS_SECURITY_TOKEN"] or None,
                              prefix=settings.prefix)


def open_storage(settings: StorageSettings, check: bool = True) -> Storage:
    """The backend, checked (container or bucket exists, credentials accepted) unless check is False."""
    from .local import LocalStorage

    if settings.backend == "local":
        store: Storage = LocalStorage(settings.root)
    elif settings.backend == "adls":
        store = open_adls(settings)
    elif settings.backend == "oss":
        store = open_oss(settings)
    else:
        raise StorageConfigError(f"unknown storage backend {settings.backend!r}: choose local, adls or oss")
    if check:
        store.check()
    return store
