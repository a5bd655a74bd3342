"""`orchestrator ask "<request>"`: the command line of ask (cli.py adds the parser and calls run)."""
from __future__ import annotations

import argparse
import sys

from ..ids import PartitionKeyError, check_id
from ..requests import RequestError
from ..settings import SettingsError
from .ask import AskError, LazyLibrary, ask
from .providers import ProviderError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("ask", help="turn a plain-language request into a dataset spec (docs/ai.md)")
    p.add_argument("request", help='e.g. "50k orders from a German shop, 20%% of e-mails dirty, no reviews"')
    p.add_argument("--user", default="anonymous", help="who asks (owner in the library; the job's user)")
    p.add_argument("--rows", type=int, default=None, help="rows of the anchor table; wins over the request")
    p.add_argument("--submit", action="store_true", help="run the spec as a job right away")
    p.add_argument("--job", default=None, help="job id for --submit (default: a new timestamped id)")
    p.add_argument("--seed", type=int, default=42, help="seed for --submit")
    p.add_argument("--reuse", default=None, metavar="ID", help="use this library spec instead of writing one")
    return p


def run(args) -> int:
    def log(line: str) -> None:
        print(line, file=sys.stderr)

    try:
        check_id(args.user, "user")
        library = LazyLibrary(log)
        result = ask(args.request, rows=args.rows, owner=args.user, library=library, reuse=args.reuse, log=log)
    except (AskError, ProviderError, SettingsError, PartitionKeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for entry_id, name, score in result.similar:
        if entry_id != result.entry_id:
            print(f"close spec in the library: {entry_id} ({name}, score {score:.2f}); "
                  f"use it with --reuse {entry_id}")
    print(result.summary)
    print(f"\nSpec: {result.path}" + (f"  (library id {result.entry_id})" if result.entry_id else ""))
    if not args.submit:
        print(f"Run it: orchestrator submit --user {args.user} --rows {result.rows} --spec {result.path}")
        return 0
    from ..cli import _write_summary, submit

    try:
        request, run_result = submit(args.user, args.job, result.rows, args.seed, str(result.path))
    except (RequestError, PartitionKeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if library and result.entry_id:
        library.record_job(result.entry_id, request.partition_key)
    print(f"run {run_result.run_id} for partition {request.partition_key}: "
          f"{'SUCCESS' if run_result.success else 'FAILURE'}", file=sys.stderr)
    if not run_result.success:
        return 1
    print(_write_summary(request.user, request.job))
    return 0
