"""Local-filesystem storage: the embedded default."""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .base import CHUNK, STALE_AFTER_SECONDS, ObjectInfo, ObjectNotFound, Storage, check_key, sha256_file

# Held locked by the process using a build folder; the kernel drops the lock when that process dies, however.
_LOCK = ".lock"


def _lock_is_free(path: Path) -> bool:
    try:
        with open(path, "rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
    except BlockingIOError:
        return False  # a live run holds it
    except FileNotFoundError:
        return False  # its run just finished and removed it


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


class LocalStorage(Storage):
    name = "local"

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / ".tmp"
        self._remove_dead_builds()

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put_file(self, key: str, source: Path) -> int:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Copy beside the target, then rename: rename is atomic within one filesystem.
        partial = target.parent / f".{target.name}.{uuid.uuid4().hex}.partial"
        try:
            if Path(source).resolve().is_relative_to(self._tmp):
                os.replace(source, partial)  # built in our own scratch area: a move is enough
            else:
                shutil.copyfile(source, partial)
            with open(partial, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return target.stat().st_size

    def _existing(self, key: str) -> Path:
        source = self.path(key)
        if not source.is_file():
            raise ObjectNotFound(f"no object at {key!r} in {self.root}")
        return source

    def get_file(self, key: str, target: Path) -> Path:
        shutil.copyfile(self._existing(key), target)
        return target

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        with open(self._existing(key), "rb") as fh:
            yield from iter(lambda: fh.read(CHUNK), b"")

    def stat(self, key: str) -> ObjectInfo | None:
        path = self.path(key)
        if not path.is_file():
            return None
        # Local files carry no metadata; hashing on demand is cheap next to a network copy.
        return ObjectInfo(check_key(key), path.stat().st_size, sha256_file(path))

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self.path(prefix)
        if base.is_file():
            return [check_key(prefix)]
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")
        )

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        # The folder goes as a whole, with any half-copied file a killed write left in it.
        path = self.path(prefix)
        count = len(self.list(prefix))
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        return count

    def remove_stale_work(self, prefixes: list[str], older_than: float = STALE_AFTER_SECONDS) -> int:
        cutoff = time.time() - older_than
        removed = self._remove_dead_builds()
        for prefix in prefixes:
            base = self.path(prefix)
            for partial in base.rglob(".*.partial") if base.is_dir() else ():
                try:
                    if partial.stat().st_mtime < cutoff:
                        partial.unlink()
                        removed += 1
                except FileNotFoundError:
                    pass  # its writer finished or another sweep got there first
        return removed

    def _remove_dead_builds(self) -> int:
        """Remove build folders whose process is gone (their lock is free), or that are old and have no lock."""
        removed = 0
        cutoff = time.time() - STALE_AFTER_SECONDS
        for folder in sorted(self._tmp.iterdir()) if self._tmp.is_dir() else ():
            if folder.name.startswith("build-") and (folder / _LOCK).exists():
                dead = _lock_is_free(folder / _LOCK)
            elif folder.name.startswith(("build-", "new-")):
                # Killed before it locked its folder, or left by a version without locks: its age decides.
                dead = _mtime(folder) < cutoff
            else:
                continue
            if dead:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed

    @property
    def location(self) -> str:
        return str(self.root)

    def uri(self, key: str) -> str:
        return str(self.path(key))

    @contextmanager
    def local_view(self, keys: list[str]) -> Iterator[Path]:
        for key in keys:
            self._existing(key)
        yield self.root

    @contextmanager
    def scratch(self) -> Iterator[Path]:
        # Inside the root so that publishing is a rename, not a copy across filesystems.
        self._tmp.mkdir(parents=True, exist_ok=True)
        # Locked before it takes its build- name, so a sweep never finds it unlocked while in use.
        path = Path(tempfile.mkdtemp(prefix="new-", dir=self._tmp))
        try:
            with open(path / _LOCK, "wb") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                path = path.rename(path.with_name("build-" + path.name[len("new-"):]))
                yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
