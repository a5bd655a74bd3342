"""Schema-library retrieval: do users' requests find the spec they mean?

Stores the built-in spec and bench/retrieval/specs/*.yaml (as file specs, with no request text) in a fresh
library, runs every request of bench/retrieval/queries.yaml and reports recall@1 and recall@3 per embedding
choice, with indexing and query times. Writes bench/results/retrieval-<date>.json and prints a Markdown row.

    .venv/bin/python bench/retrieval.py [--embeddings local,openai]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from orchestrator_assets.ai.library import SchemaLibrary
from orchestrator_assets.generation.spec import load_spec

HERE = Path(__file__).resolve().parent
SPECS = HERE / "retrieval" / "specs"
QUERIES = HERE / "retrieval" / "queries.yaml"


def load_queries(path: Path = QUERIES) -> list[dict]:
    return yaml.safe_load(path.read_text())


def build(root: Path, embeddings: str, spec_files: list[Path]) -> tuple[SchemaLibrary, float]:
    start = time.perf_counter()
    library = SchemaLibrary.open(root, embeddings)
    for path in spec_files:
        library.add(load_spec(path), source="file", tags=("bench",))
    return library, time.perf_counter() - start


def evaluate(library: SchemaLibrary, queries: list[dict], k: int = 3) -> dict:
    """recall@1 and recall@k, the misses, and how the scores of right and wrong answers compare.

    Queries with expect: null have no right answer; only their best score is kept."""
    hits1 = hitsk = 0
    misses, right, wrong, unanswerable, top_right, times = [], [], [], [], [], []
    for q in queries:
        start = time.perf_counter()
        found = library.search(q["query"], k)
        times.append(time.perf_counter() - start)
        names = [entry.name for entry, _ in found]
        if q["expect"] is None:
            unanswerable.append(found[0][1])
            continue
        hits1 += names[:1] == [q["expect"]]
        if names[:1] == [q["expect"]]:
            top_right.append(found[0][1])
        hitsk += q["expect"] in names
        if names[:1] != [q["expect"]]:
            misses.append({"query": q["query"], "expect": q["expect"], "got": names})
        for entry, score in found[:2]:
            (right if entry.name == q["expect"] else wrong).append(score)
    n = len(queries) - len(unanswerable)
    return {"queries": n, "recall_at_1": round(hits1 / n, 3), f"recall_at_{k}": round(hitsk / n, 3),
            "median_query_ms": round(1000 * statistics.median(times), 1),
            "median_score_right": round(statistics.median(right), 3) if right else None,
            "median_score_wrong": round(statistics.median(wrong), 3) if wrong else None,
            "min_top_score_right": round(min(top_right), 3) if top_right else None,
            "unanswerable_queries": len(unanswerable),
            "max_top_score_unanswerable": round(max(unanswerable), 3) if unanswerable else None,
            "misses": misses}


def main() -> None:
    sys.path.insert(0, str(HERE))
    from run import machine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embeddings", default="local", help="comma-separated AI_EMBEDDINGS choices")
    args = parser.parse_args()
    spec_files = sorted(SPECS.glob("*.yaml"))
    queries = load_queries()
    results = {"machine": machine(), "specs": len(spec_files) + 1, "runs": {}}
    for choice in args.embeddings.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            library, index_s = build(Path(tmp), choice, spec_files)
            run = evaluate(library, queries)
            run.update(embedder=library.embedder_id, index_seconds=round(index_s, 1))
            results["runs"][choice] = run
        print(f"| {choice} ({run['embedder']}) | {results['specs']} | {run['queries']} | {run['recall_at_1']:.2f} "
              f"| {run['recall_at_3']:.2f} | {run['index_seconds']} s | {run['median_query_ms']} ms |")
        print(f"  scores: right {run['median_score_right']}, wrong {run['median_score_wrong']} (medians of the top "
              f"two); lowest score of a right first answer {run['min_top_score_right']}; best score of a request no "
              f"spec answers: {run['max_top_score_unanswerable']}")
        for miss in run["misses"]:
            print(f"  miss: {miss['query']!r} -> {miss['got']} (expected {miss['expect']})")
    out = HERE / "results" / f"retrieval-{results['machine']['date']}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(out)


if __name__ == "__main__":
    main()
