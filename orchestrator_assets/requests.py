"""A job request: what a user asked the generator for, stored beside the data it produces.

Storing the request makes every partition self-describing: re-materialising it from the UI, a
backfill or a sensor needs no run config, and the same request always yields the same Bronze.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import layout
from .generation.bronze import COMPRESSIONS
from .generation.limits import MAX_ROWS
from .generation.sizing import check_size
from .generation.spec import DatasetSpec, load_spec, parse_spec
from .generation.values import check_pools
from .ids import check_id, partition_key
from .storage.base import Storage


class RequestError(ValueError):
    pass


@dataclass(frozen=True)
class JobRequest:
    user: str
    job: str
    rows: int
    seed: int
    spec: DatasetSpec
    compression: str = "none"

    def __post_init__(self):
        check_id(self.user, "user")
        check_id(self.job, "job")
        if not 1 <= self.rows <= MAX_ROWS:
            raise RequestError(f"rows must be between 1 and {MAX_ROWS:,} (got {self.rows})")
        if self.compression not in COMPRESSIONS:
            raise RequestError(f"compression must be one of {sorted(COMPRESSIONS)}")
        # A spec that fits 1,000 anchor rows may not fit 50 million: the two are checked together.
        check_size(self.spec, self.rows, f"job {self.partition_key}")

    @property
    def partition_key(self) -> str:
        return partition_key(self.user, self.job)

    def to_json(self) -> dict:
        return {"user": self.user, "job": self.job, "rows": self.rows, "seed": self.seed,
                "compression": self.compression, "spec": self.spec.model_dump(mode="json")}

    @classmethod
    def from_json(cls, data: dict) -> JobRequest:
        return cls(data["user"], data["job"], int(data["rows"]), int(data["seed"]),
                   parse_spec(data["spec"], "job request"), data.get("compression", "none"))

    def same_as(self, other: JobRequest) -> bool:
        return self.to_json() == other.to_json()


def new_job_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def build_request(user: str, job: str | None, rows: int, seed: int,
                  spec_path: str | Path | DatasetSpec | None = None, compression: str = "none") -> JobRequest:
    """A request checked in full (ids, rows, spec, sizes, Faker pools), so a refused one is never stored.

    spec_path: a file, None for the built-in spec, or a spec already parsed (sent as text through the API)."""
    spec = spec_path if isinstance(spec_path, DatasetSpec) else load_spec(spec_path)
    request = JobRequest(user, job or new_job_id(), rows, seed, spec, compression)
    check_pools(request.spec)
    return request


def load_request(storage: Storage, user: str, job: str) -> JobRequest | None:
    key = layout.request_key(user, job)
    if not storage.exists(key):
        return None
    return JobRequest.from_json(json.loads(storage.get_bytes(key)))


def save_request(storage: Storage, request: JobRequest) -> bool:
    """Record the request; True if new. A different request for an existing job is refused."""
    existing = load_request(storage, request.user, request.job)
    if existing is not None:
        if existing.same_as(request):
            return False
        raise RequestError(
            f"job {request.partition_key} was already requested with rows={existing.rows}, seed={existing.seed}, "
            f"spec={existing.spec.name}; a job's data is immutable, so submit under a new job id"
        )
    check_pools(request.spec)  # free after build_request (cached); a JobRequest made by hand gets it here
    storage.put_bytes(layout.request_key(request.user, request.job),
                      json.dumps(request.to_json(), indent=2).encode())
    return True
