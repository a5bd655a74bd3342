"""One Storage over several: each key goes to the store of its layer, named by the key's first segment.

layout.py puts every object under its layer's name ("bronze/...", "silver/..."), so a step that reads one layer
and writes another (Silver reads Bronze) keeps a single Storage in its code while the layer IO managers place
each layer where their config says. Keys of other layers (requests/, audit/, status/) go to the default store.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .base import STALE_AFTER_SECONDS, ObjectInfo, Storage, check_key


class LayeredStorage(Storage):
    name = "layered"

    def __init__(self, layers: dict[str, Storage], default: Storage, writes: str | None = None):
        """writes: the layer the step publishes; scratch space comes from its store, so a local publish is a
        rename rather than a copy."""
        self.layers = dict(layers)
        self.default = default
        self.work = self.layers[writes] if writes else default

    def route(self, key: str) -> Storage:
        return self.layers.get(check_key(key).split("/")[0], self.default)

    def single(self) -> Storage | None:
        """The one store behind every layer, or None when layers live in different places."""
        locations = {s.location: s for s in [*self.layers.values(), self.default]}
        return next(iter(locations.values())) if len(locations) == 1 else None

    def put_file(self, key: str, source: Path) -> int:
        return self.route(key).put_file(key, source)

    def get_file(self, key: str, target: Path) -> Path:
        return self.route(key).get_file(key, target)

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        return self.route(key).iter_chunks(key)

    def stat(self, key: str) -> ObjectInfo | None:
        return self.route(key).stat(key)

    def exists(self, key: str) -> bool:
        return self.route(key).exists(key)

    def check(self) -> None:
        for store in {id(s): s for s in [*self.layers.values(), self.default]}.values():
            store.check()

    def list(self, prefix: str) -> list[str]:
        return self.route(prefix).list(prefix)

    def delete(self, key: str) -> None:
        self.route(key).delete(key)

    def delete_prefix(self, prefix: str) -> int:
        return self.route(prefix).delete_prefix(prefix)

    def remove_stale_work(self, prefixes: list[str], older_than: float = STALE_AFTER_SECONDS) -> int:
        return sum(self.route(p).remove_stale_work([p], older_than) for p in prefixes)

    @property
    def location(self) -> str:
        if self.single() is not None:
            return self.default.location
        return ", ".join(f"{layer}: {s.location}" for layer, s in sorted(self.layers.items()))

    def uri(self, key: str) -> str:
        return self.route(key).uri(key)

    @contextmanager
    def local_view(self, keys: list[str]) -> Iterator[Path]:
        stores = {id(self.route(k)): self.route(k) for k in keys}
        if len(stores) <= 1:
            # One layer: that store's own view (the local backend's root, no copy).
            with (next(iter(stores.values())) if stores else self.default).local_view(keys) as root:
                yield root
        else:
            with super().local_view(keys) as root:
                yield root

    @contextmanager
    def scratch(self) -> Iterator[Path]:
        with self.work.scratch() as path:
            yield path
