"""A failed Gold build explained from dbt's run_results.json: which tests failed on how many rows, which nodes
errored, and that nothing was published."""
from __future__ import annotations

from dagster import Failure, MetadataValue


def build_failure(partition: str, silver_version: str, run_results: dict | None) -> Failure | None:
    """The step's Failure, or None when run_results names no failed test and no error (the caller then raises
    dbt's own error).

    A failed test is deterministic (the same Silver fails it again), so that Failure is not retried; an error
    (a lost connection, a killed dbt) may be transient and keeps the job's retry policy.
    """
    results = (run_results or {}).get("results", [])
    failed = [r for r in results if r.get("status") == "fail"]
    errors = [r for r in results if r.get("status") == "error"]
    if not failed and not errors:
        return None
    skipped = sum(r.get("status") == "skipped" for r in results)
    what = []
    if failed:
        what.append(f"{len(failed)} dbt test{'s' if len(failed) != 1 else ''} failed")
    if errors:
        what.append(f"{len(errors)} dbt node{'s' if len(errors) != 1 else ''} errored")
    lines = [(f"Gold of {partition} was not published: {' and '.join(what)} on Silver version {silver_version}; "
              "the marts keep this partition's previous rows.")]
    lines += [f"- {r['unique_id']}: {_rows(r.get('failures'))}" for r in failed]
    lines += [f"- {r['unique_id']}: error: {_one_line(r.get('message'))}" for r in errors]
    if skipped:
        lines.append(f"({skipped} models and tests after them were skipped.)")
    return Failure(
        description="\n".join(lines),
        metadata={
            "failed_tests": MetadataValue.json({r["unique_id"]: r.get("failures") for r in failed}),
            "errored_nodes": MetadataValue.json({r["unique_id"]: _one_line(r.get("message")) for r in errors}),
            "silver_version": silver_version,
        },
        allow_retries=not failed,
    )


def _rows(failures: int | None) -> str:
    if failures is None:
        return "failed"
    return f"{failures:,} failing row{'s' if failures != 1 else ''}"


def _one_line(message: str | None, limit: int = 300) -> str:
    # dbt's messages put the kind of error on one line and the database's words on the next.
    text = " ".join(line.strip() for line in (message or "").splitlines() if line.strip()) or "no message"
    return text if len(text) <= limit else text[: limit - 1] + "…"
