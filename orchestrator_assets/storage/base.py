"""The storage seam: every layer reads and writes objects through this interface.

Keys are relative POSIX paths ("silver/orders/alice/j1/part-00000.parquet"). Backends publish
whole objects atomically: a reader sees the old object or the new one, never a partial one.
"""
from __future__ import annotations

import abc
import posixpath
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=-]*$")


class StorageError(RuntimeError):
    pass


def check_key(key: str) -> str:
    """Reject keys that could escape the storage root or name nothing."""
    if not key or key.startswith("/") or "\\" in key:
        raise StorageError(f"invalid storage key {key!r}: must be a relative POSIX path")
    parts = key.rstrip("/").split("/")
    for part in parts:
        if part in ("", ".", "..") or not _SEGMENT.match(part):
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
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Keys under prefix (recursively), sorted."""

    @abc.abstractmethod
    def delete(self, key: str) -> None: ...

    @abc.abstractmethod
    def uri(self, key: str) -> str:
        """Where a reader such as DuckDB finds the object (a local path or a cloud URL)."""

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

    @contextmanager
    def scratch(self) -> Iterator[Path]:
        """A private local directory for building objects before they are published."""
        path = Path(tempfile.mkdtemp(prefix="orchestrator-"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
