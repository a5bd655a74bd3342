"""`orchestrator schemas search|show|list|delete`: look into the schema library from the shell."""
from __future__ import annotations

import json
import sys

import yaml

from ..generation.spec import SpecError
from ..ids import PartitionKeyError
from ..settings import SettingsError
from .embeddings import EmbeddingError
from .library import LibraryError, SchemaLibrary, SpecEntry


def add_parser(subparsers) -> None:
    schemas = subparsers.add_parser("schemas", help="search and manage the library of dataset specs")
    sub = schemas.add_subparsers(dest="schemas_command", required=True)
    search = sub.add_parser("search", help="specs closest in meaning to a description")
    search.add_argument("text")
    search.add_argument("-k", type=int, default=3, help="how many (default 3)")
    show = sub.add_parser("show", help="one entry and its spec (YAML)")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="the spec as JSON, nothing else")
    listing = sub.add_parser("list", help="every entry, oldest first")
    listing.add_argument("--owner", help="only this user's specs")
    delete = sub.add_parser("delete", help="remove an entry")
    delete.add_argument("id")


def _line(entry: SpecEntry, score: float | None = None) -> str:
    lead = f"{score:.3f}  " if score is not None else ""
    jobs = f", {len(entry.jobs)} job(s)" if entry.jobs else ""
    return (f"{lead}{entry.id}  {entry.name}  [{entry.source}{', ' + entry.owner if entry.owner else ''}{jobs}]  "
            f"{len(entry.tables)} tables: {', '.join(entry.tables)}")


def run(args) -> int:
    try:
        library = SchemaLibrary.open()
        command = args.schemas_command
        if command == "search":
            for entry, score in library.search(args.text, args.k):
                print(_line(entry, score))
        elif command == "list":
            for entry in library.list(args.owner):
                print(_line(entry))
        elif command == "show":
            entry, spec = library.get(args.id)
            if args.json:
                print(json.dumps(spec.model_dump(mode="json"), indent=2))
            else:
                about = {k: v for k, v in vars(entry).items() if k != "columns" and v not in ("", [], {})}
                print(yaml.safe_dump({"entry": about}, sort_keys=False, allow_unicode=True), end="")
                print(yaml.safe_dump({"spec": spec.model_dump(mode="json", exclude_defaults=True)},
                                     sort_keys=False, allow_unicode=True), end="")
        elif command == "delete":
            library.delete(args.id)
            print(f"deleted {args.id}")
        return 0
    except (LibraryError, EmbeddingError, SettingsError, SpecError, PartitionKeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
