"""The schema library: every dataset spec the project uses, searchable by meaning.

Specs live in one ChromaDB collection under <ORCHESTRATOR_DATA_DIR>/schema_library, one entry per distinct
spec (its id is a prefix of the spec's digest, so adding the same spec twice keeps one entry). Each entry holds
the validated spec, the request that produced it, its tables and columns, tags, owner, source and the jobs that
used it. The embedded text is a plain description of the spec (see `describe`), embedded with the function
AI_EMBEDDINGS picks; the collection records which one, and opening it with another re-embeds every entry.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..generation.spec import DatasetSpec, SpecError, load_spec, parse_spec
from ..ids import check_id, split_key
from ..settings import load_settings
from .embeddings import open_embedder

COLLECTION = "specs"
REBUILD = "specs_rebuild"
REBUILD_BATCH = 64  # texts per embeddings call when re-embedding (providers cap the inputs of one call)
ID_LENGTH = 12
SOURCES = ("builtin", "file", "generated")
MAX_RESULTS = 50
_ID = re.compile(f"[0-9a-f]{{{ID_LENGTH}}}")
_TAG = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")
_LISTS = ("tags", "tables", "columns", "jobs")


class LibraryError(ValueError):
    pass


@dataclass(frozen=True)
class SpecEntry:
    id: str
    name: str
    request: str
    owner: str
    tags: list[str]
    tables: list[str]
    columns: list[str]  # "table.column", emitted columns only
    source: str
    created_at: str
    jobs: list[str] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)

    def _metadata(self, spec: DatasetSpec) -> dict:
        data = asdict(self)
        data.pop("id")
        for key in (*_LISTS, "provenance"):
            data[key] = json.dumps(data[key])
        data["spec"] = json.dumps(spec.model_dump(mode="json"))
        return data

    @classmethod
    def _from_metadata(cls, entry_id: str, meta: dict) -> SpecEntry:
        values = {k: meta[k] for k in ("name", "request", "owner", "source", "created_at")}
        values.update({k: json.loads(meta[k]) for k in (*_LISTS, "provenance")})
        return cls(id=entry_id, **values)


def entry_id(spec: DatasetSpec) -> str:
    return spec.digest()[:ID_LENGTH]


def check_entry_id(value: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise LibraryError(f"invalid schema id {value!r}: expected {ID_LENGTH} hex digits (see `orchestrator "
                           "schemas list`)")
    return value


def describe(spec: DatasetSpec, request: str = "", tags: Sequence[str] = ()) -> str:
    """The text that is embedded: what a user would say about the data, most telling first."""
    lines = [f"{spec.name.replace('_', ' ')}: {spec.description}".strip()]
    if request:
        lines.append(request)
    if tags:
        lines.append("tags: " + ", ".join(tags))
    for tname, table in spec.tables.items():
        cols = ", ".join(c.replace("_", " ") for c in spec.emitted(tname))
        lines.append(f"{tname.replace('_', ' ')} ({table.description.rstrip('.')}): {cols}")
    return "\n".join(lines)


def _check_tags(tags: Sequence[str]) -> list[str]:
    cleaned = []
    for tag in tags:
        t = tag.strip().lower() if isinstance(tag, str) else tag
        if not isinstance(t, str) or not _TAG.fullmatch(t):
            raise LibraryError(f"invalid tag {tag!r}: use 1-40 characters of a-z, 0-9, '_', '.' or '-'")
        if t not in cleaned:
            cleaned.append(t)
    return cleaned


def _open_client(path: Path):
    import chromadb
    from chromadb.config import Settings

    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))


class SchemaLibrary:
    def __init__(self, client, collection, embedder, path: Path):
        self._client, self._collection, self._embedder, self.path = client, collection, embedder, path

    @classmethod
    def open(cls, path: Path | None = None, embeddings: str | None = None) -> SchemaLibrary:
        """The library under the data directory (or `path`), with the built-in spec in it."""
        path = Path(path) if path else load_settings().data_dir / "schema_library"
        embedder = open_embedder(embeddings)
        client = _open_client(path)
        library = cls(client, _collection(client, embedder), embedder, path)
        builtin = load_spec()
        library.add(builtin, request=builtin.description, tags=("builtin",), source="builtin")
        return library

    @property
    def embedder_id(self) -> str:
        return self._embedder.id

    def add(self, spec: DatasetSpec, *, request: str = "", owner: str = "", tags: Sequence[str] = (),
            source: str = "generated", provenance: dict | None = None) -> SpecEntry:
        """Store a spec; the same spec again returns the entry already stored, unchanged."""
        # A model built without validation (model_construct) must not get in: validate its data again.
        spec = parse_spec(spec.model_dump(mode="json"), "spec to store")
        if owner:
            check_id(owner, "owner")
        if source not in SOURCES:
            raise LibraryError(f"invalid source {source!r}: choose one of {', '.join(SOURCES)}")
        try:
            json.dumps(provenance or {})
        except TypeError as err:
            raise LibraryError(f"provenance must be plain JSON data: {err}") from None
        tags = _check_tags(tags)
        eid = entry_id(spec)
        existing = self._entries([eid])
        if existing:
            return existing[0][0]
        entry = SpecEntry(
            id=eid, name=spec.name, request=request.strip(), owner=owner, tags=tags,
            tables=list(spec.tables), columns=[f"{t}.{c}" for t in spec.tables for c in spec.emitted(t)],
            source=source, created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            provenance=dict(provenance or {}),
        )
        text = describe(spec, entry.request, tags)
        self._collection.add(ids=[eid], documents=[text], embeddings=self._embedder.passages([text]),
                             metadatas=[entry._metadata(spec)])
        # Chroma keeps the first of two adds of one id, so a concurrent add of the same spec may have won.
        return self._entries([eid])[0][0]

    def search(self, text: str, k: int = 3) -> list[tuple[SpecEntry, float]]:
        """The k entries closest in meaning to the text, closest first; score = cosine similarity in [0, 1]."""
        if not isinstance(text, str) or not text.strip():
            raise LibraryError("search text is empty")
        if not 1 <= k <= MAX_RESULTS:
            raise LibraryError(f"k must be between 1 and {MAX_RESULTS} (got {k})")
        count = self._collection.count()
        if count == 0:
            return []
        found = self._collection.query(query_embeddings=[self._embedder.query(text.strip())],
                                       n_results=min(k, count), include=["metadatas", "distances"])
        return [(SpecEntry._from_metadata(i, m), min(1.0, max(0.0, 1.0 - d)))
                for i, m, d in zip(found["ids"][0], found["metadatas"][0], found["distances"][0], strict=True)]

    def get(self, entry_id: str) -> tuple[SpecEntry, DatasetSpec]:
        found = self._entries([check_entry_id(entry_id)])
        if not found:
            raise LibraryError(f"no spec {entry_id!r} in the schema library at {self.path}")
        entry, meta = found[0]
        try:
            spec = parse_spec(json.loads(meta["spec"]), f"schema library entry {entry_id}")
        except SpecError as err:
            raise LibraryError(str(err)) from None
        return entry, spec

    def list(self, owner: str | None = None) -> list[SpecEntry]:
        where = {"owner": check_id(owner, "owner")} if owner else None
        found = self._collection.get(where=where, include=["metadatas"])
        entries = [SpecEntry._from_metadata(i, m) for i, m in zip(found["ids"], found["metadatas"], strict=True)]
        return sorted(entries, key=lambda e: (e.created_at, e.id))

    def delete(self, entry_id: str) -> None:
        entry, _ = self.get(entry_id)
        if entry.source == "builtin":
            raise LibraryError(f"{entry_id} is the built-in spec; it is always in the library")
        self._collection.delete(ids=[entry_id])

    def record_job(self, entry_id: str, partition_key: str) -> None:
        """Note that a job (partition "<user>.<job>") used this spec; recording it twice keeps one."""
        split_key(partition_key)
        found = self._entries([check_entry_id(entry_id)])
        if not found:
            raise LibraryError(f"no spec {entry_id!r} in the schema library at {self.path}")
        entry, meta = found[0]
        if partition_key not in entry.jobs:
            self._collection.update(ids=[entry_id],
                                    metadatas=[{**meta, "jobs": json.dumps([*entry.jobs, partition_key])}])

    def _entries(self, ids: list[str]) -> list[tuple[SpecEntry, dict]]:
        found = self._collection.get(ids=ids, include=["metadatas"])
        return [(SpecEntry._from_metadata(i, m), m) for i, m in zip(found["ids"], found["metadatas"], strict=True)]


def _collection(client, embedder):
    """The live collection, re-embedded first if it was built with another embedding function."""
    names = {c.name for c in client.list_collections()}
    if COLLECTION not in names and REBUILD in names:  # a rebuild stopped after dropping the old collection
        client.get_collection(REBUILD, embedding_function=None).modify(name=COLLECTION)
        names = {COLLECTION}
    if COLLECTION not in names:
        return _create(client, COLLECTION, embedder)
    live = client.get_collection(COLLECTION, embedding_function=None)
    if (live.metadata or {}).get("embedder") == embedder.id:
        return live
    if REBUILD in names:  # an earlier rebuild stopped half way; the live collection is still whole
        client.delete_collection(REBUILD)
    stored = live.get(include=["documents", "metadatas"])
    fresh = _create(client, REBUILD, embedder)
    for start in range(0, len(stored["ids"]), REBUILD_BATCH):
        part = slice(start, start + REBUILD_BATCH)
        fresh.add(ids=stored["ids"][part], documents=stored["documents"][part],
                  metadatas=stored["metadatas"][part], embeddings=embedder.passages(stored["documents"][part]))
    client.delete_collection(COLLECTION)
    fresh.modify(name=COLLECTION)
    return client.get_collection(COLLECTION, embedding_function=None)


def _create(client, name: str, embedder):
    # Embeddings are always passed in, so chroma's default embedding function (a model download) never runs.
    return client.create_collection(name, embedding_function=None, metadata={"embedder": embedder.id},
                                    configuration={"hnsw": {"space": "cosine"}})


def remember(spec: DatasetSpec, request: str = "", owner: str = "", source: str = "file",
             partition_key: str | None = None) -> SpecEntry:
    """Keep a spec a job is about to use, and the job, in the library (the hook `orchestrator submit` calls)."""
    library = SchemaLibrary.open()
    entry = library.add(spec, request=request, owner=owner, source=source)
    if partition_key:
        library.record_job(entry.id, partition_key)
    return library.get(entry.id)[0]
