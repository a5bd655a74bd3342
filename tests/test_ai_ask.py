"""`orchestrator ask` as a user runs it (real subprocesses), the `ask_job` in Dagster, and what ask hands the
schema library.

The library itself is built beside this work (orchestrator_assets/ai/library.py); until it is merged, ask runs
without it (the CLI tests) and the library tests use a small in-memory store with the same interface, to check
what ask stores, offers and never stores.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from orchestrator_assets.ai.ask import AskError, ask
from orchestrator_assets.generation.spec import load_spec

CLI = [str(Path(sys.executable).with_name("orchestrator"))]
GERMAN = "50k orders from a German fashion shop, 20% of e-mails dirty, no reviews table"
KEY = "sk-cli-secret-987654321"


def run(args, env, check=True, timeout=600):
    proc = subprocess.run(CLI + args, check=False, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture
def env(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AI_", "OPENAI_", "AZURE_OPENAI_", "ANTHROPIC_"))}
    return {**clean, "DAGSTER_HOME": str(tmp_path / "home"), "ORCHESTRATOR_DATA_DIR": str(tmp_path / "data")}


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_offline_ask_prints_the_summary_and_saves_a_spec_that_submit_can_use(env, tmp_path):
    start = time.monotonic()
    proc = run(["ask", GERMAN], env)
    elapsed = time.monotonic() - start
    out = proc.stdout
    assert "Dataset spec 'ecommerce_de': 9 tables, 50,000 orders" in out
    assert "users" in out and "45% dirty" in out  # 30% before, less the 5% e-mails had, plus the asked-for 20%
    assert "Locale: Faker de_DE; phones region DE; currency EUR" in out
    assert "Left out: reviews" in out and "Gold step fails" in out
    assert "product and category names stay generic" in out
    assert "  - users.email: 20% of rows" in out and "  - left out: reviews" in out
    spec_line = next(line for line in out.splitlines() if line.startswith("Spec: "))
    path = Path(spec_line.removeprefix("Spec: ").split()[0])
    spec = load_spec(path)
    assert path.parent == tmp_path / "data" / "specs" and path.name.startswith(f"ecommerce_de-{spec.digest()[:12]}")
    assert "reviews" not in spec.tables and spec.tables["orders"].rows.count == 50_000
    provenance = json.loads(path.with_suffix(".provenance.json").read_text())
    assert provenance["generator"] == "offline planner" and provenance["prompt"] == GERMAN
    assert provenance["left_out"] == ["reviews"] and provenance["rows"] == 50_000
    # Asking again finds the same spec at the same path: nothing is duplicated.
    again = run(["ask", GERMAN], env)
    assert spec_line in again.stdout and len(_files(tmp_path / "data" / "specs")) == 2
    print(f"offline ask, whole command: {elapsed:.2f}s")


@pytest.mark.parametrize("args, message", [
    (["ask", ""], "error: the request is empty"),
    (["ask", "90 billion orders"], "'90 billion orders' is 90,000,000,000 orders, above the limit of 50,000,000"),
    (["ask", "1k orders", "--user", "../root"], "invalid user id '../root'"),
    (["ask", "1k orders", "--rows", "0"], "--rows 0 is outside 1 to 50,000,000"),
    (["ask", "1k orders", "--reuse", "abc123"], "--reuse abc123: not a library id"),
    (["ask", "1k orders", "--reuse", "0123456789ab"], "--reuse 0123456789ab: no spec with that id in the library"),
])
def test_refused_requests_are_clear_and_write_nothing(env, tmp_path, args, message):
    proc = run(args, env, check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert _files(tmp_path / "data") == []


def test_ask_against_a_model_server_from_the_command_line(env, tmp_path):
    from support.llm_server import Answer, LLMServer

    from orchestrator_assets.ai.planner import plan

    server = LLMServer(key=KEY).start()
    try:
        server.reset(Answer(content=plan("5k orders from a UK shop").spec, input_tokens=2100, output_tokens=950))
        env.update(AI_PROVIDER="openai", AI_MODEL="gpt-test", AI_BASE_URL=f"{server.url}/v1", OPENAI_API_KEY=KEY)
        proc = run(["ask", "5k orders from a UK shop"], env)
        assert "Dataset spec 'ecommerce_gb': 10 tables, 5,000 orders" in proc.stdout
        assert "phones region GB; currency GBP" in proc.stdout
        (provenance_file,) = (tmp_path / "data" / "specs").glob("*.provenance.json")
        provenance = json.loads(provenance_file.read_text())
        assert provenance["provider"] == "openai" and provenance["model"] == "gpt-test"
        assert provenance["input_tokens"] == 2100 and provenance["output_tokens"] == 950
        everything = (proc.stdout + proc.stderr).encode() + b"".join(p.read_bytes() for p in _files(tmp_path / "data"))
        assert KEY.encode() not in everything
        # A wrong key: exit 2, the variable named, the key nowhere, nothing more written.
        before = _files(tmp_path / "data")
        env["OPENAI_API_KEY"] = "sk-wrong-key-55555"
        refused = run(["ask", "6k orders"], env, check=False)
        assert refused.returncode == 2 and "check OPENAI_API_KEY" in refused.stderr
        assert "sk-wrong-key-55555" not in refused.stderr + refused.stdout
        assert _files(tmp_path / "data") == before
    finally:
        server.stop()


# ---- the library, as ask uses it -------------------------------------------------------------------
@dataclass
class Entry:
    id: str
    name: str
    request: str
    owner: str
    tags: list
    tables: list
    source: str
    created_at: str
    jobs: list = field(default_factory=list)
    provenance: dict = field(default_factory=dict)


class MemoryLibrary:
    """The SchemaLibrary interface, in memory: search scores by shared words."""

    def __init__(self):
        self.entries: dict[str, tuple[Entry, object]] = {}

    def add(self, spec, *, request="", owner="", tags=(), source="generated", provenance=None):
        entry = Entry(spec.digest()[:12], spec.name, request, owner, list(tags), list(spec.tables), source, "now",
                      provenance=provenance or {})
        self.entries.setdefault(entry.id, (entry, spec))
        return self.entries[entry.id][0]

    def search(self, text, k=3):
        words = set(text.lower().split())
        scored = [(e, len(words & set(e.request.lower().split())) / max(len(words), 1))
                  for e, _ in self.entries.values()]
        return sorted(scored, key=lambda es: -es[1])[:k]

    def get(self, entry_id):
        return self.entries[entry_id]

    def record_job(self, entry_id, partition_key):
        self.entries[entry_id][0].jobs.append(partition_key)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    for var in list(os.environ):
        if var.startswith("AI_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("ORCHESTRATOR_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_ask_saves_to_the_library_with_provenance_and_offers_close_specs(offline):
    library = MemoryLibrary()
    first = ask(GERMAN, owner="alice", library=library)
    (entry, stored) = library.entries[first.entry_id]
    assert stored.digest() == first.spec.digest() and entry.owner == "alice" and entry.request == GERMAN
    assert entry.provenance["generator"] == "offline planner" and entry.provenance["rows"] == 50_000
    # A close request is offered the stored spec, and --reuse takes it without writing a new one.
    second = ask("50k orders from a German fashion shop, no reviews table", library=library)
    assert (first.entry_id, "ecommerce_de") == second.similar[0][:2] and second.similar[0][2] >= 0.75
    reused = ask("the German shop again", library=library, reuse=first.entry_id, rows=1000)
    assert reused.spec.digest() == first.spec.digest() and reused.rows == 1000 and reused.entry_id == first.entry_id
    assert reused.provenance["generator"] == "library"
    with pytest.raises(AskError, match="--reuse nope: not a library id"):
        ask("x", library=library, reuse="nope")
    with pytest.raises(AskError, match="--reuse 0123456789ab: no spec with that id"):
        ask("x", library=library, reuse="0123456789ab")


def test_nothing_reaches_the_library_when_the_answer_never_validates(offline, monkeypatch):
    from support.llm_server import Answer, LLMServer

    server = LLMServer(key=KEY).start()
    try:
        for var, value in {"AI_PROVIDER": "anthropic", "AI_MODEL": "claude-test", "AI_BASE_URL": server.url,
                           "ANTHROPIC_API_KEY": KEY, "AI_MAX_REPAIRS": "1", "AI_BACKOFF_SECONDS": "0"}.items():
            monkeypatch.setenv(var, value)
        server.reset(Answer(content={"name": "Bad Name"}), Answer(content="sorry, I cannot"))
        library = MemoryLibrary()
        with pytest.raises(AskError, match="gave no valid spec in 2 attempts"):
            ask("anything", library=library)
        assert library.entries == {} and _files(offline) == []
    finally:
        server.stop()


# ---- Dagster -------------------------------------------------------------------------------------
def test_ask_job_in_dagster(offline):
    from dagster import DagsterInstance

    from orchestrator_assets.definitions import defs

    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("ask_job").execute_in_process(
            instance=instance, run_config={"ops": {"ask_request": {"config": {"request": "2k orders, no errors",
                                                                              "user": "carol"}}}})
    assert result.success
    out = result.output_for_node("ask_request")
    assert out["rows"] == 2000 and out["provider"] == "none" and out["partition"] is None
    spec = load_spec(out["spec"])
    assert spec.error_rate == 0 and Path(out["spec"]).parent == offline / "specs"


def test_ask_job_refuses_a_bad_request_and_writes_nothing(offline):
    from dagster import DagsterInstance

    from orchestrator_assets.definitions import defs

    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("ask_job").execute_in_process(
            instance=instance, raise_on_error=False,
            run_config={"ops": {"ask_request": {"config": {"request": "   "}}}})
    assert not result.success and _files(offline) == []
    failure = result.failure_data_for_node("ask_request")
    assert "the request is empty" in failure.error.cause.message


@pytest.mark.xdist_group("cli")
@pytest.mark.e2e
def test_ask_submit_runs_the_job_end_to_end(env, tmp_path):
    proc = run(["ask", "300 orders from a French shop, 10% errors", "--submit", "--user", "ann", "--job", "a1"], env)
    summary = json.loads(Path(proc.stdout.strip().splitlines()[-1]).read_text())
    assert summary["bronze"]["orders"] >= 300 and summary["accuracy"]["passed"] is True
    assert summary["gold"]["fact_orders"] == summary["silver"]["orders"] > 0
    manifest = json.loads(next((tmp_path / "data" / "storage").rglob("manifest.json")).read_text())
    assert manifest["spec_name"] == "ecommerce_fr"


def test_ask_finds_its_earlier_spec_in_the_real_schema_library(offline):
    from orchestrator_assets.ai.library import SchemaLibrary

    library = SchemaLibrary.open()
    first = ask(GERMAN, owner="alice", library=library)
    entry, stored = library.get(first.entry_id)
    assert stored.digest() == first.spec.digest() and entry.owner == "alice" and entry.source == "generated"
    second = ask("fifty thousand orders of a fashion store in Germany, dirty e-mails, without reviews",
                 library=library)
    assert second.similar and second.similar[0][0] == first.entry_id
