"""What the object-store backends share: a key prefix inside the container or bucket, and folder listing."""
from __future__ import annotations

import abc
import posixpath

from .base import Storage, check_key


class CloudStorage(Storage):
    def __init__(self, prefix: str = ""):
        self.prefix = check_key(prefix) if prefix else ""

    def _name(self, key: str) -> str:
        key = check_key(key)
        return posixpath.join(self.prefix, key) if self.prefix else key

    def _key(self, name: str) -> str:
        return name[len(self.prefix) + 1:] if self.prefix else name

    @property
    @abc.abstractmethod
    def _base_url(self) -> str:
        """abfs://container@account... or oss://bucket, without the prefix."""

    @property
    def location(self) -> str:
        return f"{self._base_url}/{self.prefix}" if self.prefix else self._base_url

    @abc.abstractmethod
    def _list_names(self, start: str) -> list[str]:
        """Full object names starting with start, every page."""

    def list(self, prefix: str) -> list[str]:
        # Object stores have no folders: list "prefix/" so that "j1" does not match "j10", then allow an exact key.
        keys = [self._key(n) for n in self._list_names(self._name(prefix) + "/")]
        if not keys and self.exists(prefix):
            return [check_key(prefix)]
        return sorted(keys)
