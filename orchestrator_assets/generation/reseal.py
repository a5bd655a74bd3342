"""Accept a deliberate change to Bronze: record the parts' new sizes, hashes and line counts in the manifest.

The Silver step refuses Bronze that differs from its manifest (integrity.verified_bronze). Someone who edited a
part on purpose (removed a bad line, say) reseals the partition; the manifest keeps a record of when, and of
what each changed part was before.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from .. import layout
from ..storage.base import Storage
from .bronze import Manifest, read_manifest
from .integrity import scan_part


def reseal_bronze(storage: Storage, user: str, job: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Rewrite the manifest of user.job to match its parts as they are now; returns what changed."""
    manifest = read_manifest(storage, user, job)
    if manifest is None:
        raise FileNotFoundError(f"no Bronze manifest for {user}.{job} in {storage.location}")
    data = json.loads(json.dumps(manifest.data))
    changed = []
    for info in data["tables"].values():
        for part in info["parts"]:
            scan = scan_part(storage, part["key"])  # a missing part fails here, before anything is written
            before = {k: part.get(k) for k in ("bytes", "sha256", "lines")}
            after = {"bytes": scan.bytes, "sha256": scan.sha256, "lines": scan.lines}
            if before != after:
                changed.append({"key": part["key"], "before": before, "after": after})
                part.update(after)
        info["rows"] = sum(p["lines"] for p in info["parts"])
    at = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    if changed:
        data["resealed"] = [*data.get("resealed", []), {"at": at, "changes": changed}]
        # Published whole and atomically, like every object: a failed write leaves the old manifest.
        storage.put_bytes(layout.manifest_key(user, job), Manifest(data).to_json())
    return {"partition": f"{user}.{job}", "resealed_at": at if changed else None, "changed": changed}
