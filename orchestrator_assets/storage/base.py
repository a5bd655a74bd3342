"""The storage seam: every layer reads and writes objects through this interface.

Keys are relative POSIX paths ("silver/orders/alice/j1/part-00000.parquet"). Backends publish
whole objects atomically: a reader sees the old object or the new one, never a partial one.
Cloud backends record each object's SHA-256 as object metadata when they write it, so copies between
backends can be compared without reading both sides.
"""
from __future__ import annotations

import abc
import hashlib
import posixpath
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=-]*")


CHUNK = 4 << 20
# Unfinished work (a half-copied file, a build folder) younger than this may belong to a live run: left alone.
STALE_AFTER_SECONDS = 3600


class StorageError(RuntimeError):
    pass


class ObjectNotFound(StorageError):
    pass


class StorageConfigError(StorageError):
    """A setting or credential is missing or wrong; the message names the setting."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str | None  # None: written by something other than this project, so not recorded


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def check_key(key: str) -> str:
    """Reject keys that could escape the storage root or name nothing."""
    if not key or key.startswith("/") or "\\" in key:
        raise StorageError(f"invalid storage key {key!r}: must be a relative POSIX path")
    parts = key.rstrip("/").split("/")
    for part in parts:
        if part in ("", ".", "..") or not _SEGMENT.fullmatch(part):
            raise StorageError(f"invalid storage key {key!r}: bad segment {part!r}")
    return posixpath.join(*parts)


class Storage(abc.ABC):
    """Object storage for the Medallion layers."""

    name: str = "abstract"

    @abc.abstractmethod
    def put_file(self, key: str, source: Path) -> int:
        """Publish a local file under key atomically; returns its size in bytes."""

    @abc.abstractmethod
    def get_file(self, key: str, target: Path) -> Path:
        """Copy the object to a local file."""

    @abc.abstractmethod
    def iter_chunks(self, key: str) -> Iterator[bytes]:
        """The object's bytes in pieces, so a reader never holds a whole large object in memory."""

    @abc.abstractmethod
    def stat(self, key: str) -> ObjectInfo | None:
        """Size and recorded checksum, or None if there is no such object."""

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def check(self) -> None:
        """Fail fast, naming the setting, when the container, bucket or credentials are wrong."""

    @abc.abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Keys under prefix (recursively), sorted."""

    @abc.abstractmethod
    def delete(self, key: str) -> None: ...

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the layers live, as a person would write it: a directory, abfs:// or oss:// URL."""

    def uri(self, key: str) -> str:
        """The object's full address, for logs and asset metadata."""
        return f"{self.location}/{check_key(key)}"

    def put_bytes(self, key: str, data: bytes) -> int:
        with self.scratch() as tmp:
            path = tmp / "object"
            path.write_bytes(data)
            return self.put_file(key, path)

    def get_bytes(self, key: str) -> bytes:
        with self.scratch() as tmp:
            return self.get_file(key, tmp / "object").read_bytes()

    def replace_prefix(self, prefix: str, published: list[str]) -> int:
        """After writing a new set of objects under prefix, remove the ones left from an older write."""
        keep = set(published)
        stale = [k for k in self.list(prefix) if k not in keep]
        for key in stale:
            self.delete(key)
        return len(stale)

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under prefix (or the object named prefix); returns how many."""
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)

    def remove_stale_work(self, prefixes: list[str], older_than: float = STALE_AFTER_SECONDS) -> int:
        """Remove what dead runs left under prefixes; returns how many things were removed.

        Object stores show an upload only once it completes, so they hold no unfinished work.
        """
        return 0

    @contextmanager
    def local_view(self, keys: list[str]) -> Iterator[Path]:
        """A local directory where each key is a readable file at <dir>/<key>, for DuckDB and dbt.

        Cloud backends download the keys into a scratch directory that is removed afterwards.
        """
        with self.scratch() as tmp:
            for key in keys:
                target = tmp / check_key(key)
                target.parent.mkdir(parents=True, exist_ok=True)
                self.get_file(key, target)
            yield tmp

    @contextmanager
    def scratch(self) -> Iterator[Path]:
        """A private local directory for building objects before they are published."""
        path = Path(tempfile.mkdtemp(prefix="orchestrator-"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
