"""The schema library: storing, finding and keeping dataset specs, on the local model and on a provider's API.

Expected outcomes, written before the code: the built-in spec is always there; adding a spec twice keeps one
entry (id = digest prefix); get gives back an equal, validated spec; a malformed id, owner, tag, partition key or
spec is refused with a message naming it and stores nothing; entries, jobs and all survive a reopen in another
process that opens no network connection; the local embedder finds the intended spec for at least 85% of a
benchmark subset within the first three (a broken embedder scores near chance, ~25%); the provider path sends
the texts to the OpenAI wire protocol through the real SDK, retries a 429, and names the setting but never the
key when refused.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator_assets.ai.embeddings import EmbeddingError
from orchestrator_assets.ai.library import LibraryError, SchemaLibrary, entry_id, remember
from orchestrator_assets.generation.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from retrieval import SPECS, evaluate, load_queries

HOTEL = SPECS / "hotel_bookings.yaml"
LIBRARY_LOANS = SPECS / "library_loans.yaml"


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return SchemaLibrary.open(tmp_path_factory.mktemp("library"), "local")


def test_builtin_is_seeded_and_adding_twice_keeps_one_entry(lib):
    builtin = load_spec()
    assert [e.source for e in lib.list() if e.id == entry_id(builtin)] == ["builtin"]
    hotel = load_spec(HOTEL)
    first = lib.add(hotel, request="hotel stays", owner="alice", tags=["Travel", "travel"], source="file")
    assert first.id == hotel.digest()[:12] and first.tags == ["travel"] and first.owner == "alice"
    assert first.tables == ["guests", "rooms", "bookings", "payments"] and "rooms.nightly_rate" in first.columns
    again = lib.add(hotel, request="something else", owner="bob")
    assert again == first
    assert [e.id for e in lib.list()].count(first.id) == 1
    entry, spec = lib.get(first.id)
    assert entry == first and spec == hotel and spec.digest() == hotel.digest()


def test_search_ranks_by_meaning_with_scores_in_0_1(lib):
    lib.add(load_spec(LIBRARY_LOANS), source="file")
    found = lib.search("Hotelbuchungen: Gäste und Zimmer", k=3)
    assert found[0][0].name == "hotel_bookings"
    scores = [s for _, s in found]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert lib.search("borrowed books and late fees", k=1)[0][0].name == "library_loans"
    with pytest.raises(LibraryError, match="search text is empty"):
        lib.search("   ")
    with pytest.raises(LibraryError, match="k must be between 1 and 50"):
        lib.search("hotel", k=0)


def test_list_by_owner_and_record_job(lib):
    hotel_id = entry_id(load_spec(HOTEL))
    assert [e.id for e in lib.list(owner="alice")] == [hotel_id]
    assert lib.list(owner="nobody") == []
    lib.record_job(hotel_id, "alice.j1")
    lib.record_job(hotel_id, "alice.j1")
    lib.record_job(hotel_id, "bob.j2")
    assert lib.get(hotel_id)[0].jobs == ["alice.j1", "bob.j2"]
    with pytest.raises(ValueError, match="invalid partition key 'no-dot'"):
        lib.record_job(hotel_id, "no-dot")
    with pytest.raises(LibraryError, match="no spec '000000000000'"):
        lib.record_job("000000000000", "alice.j1")


@pytest.mark.parametrize("bad", ["../etc/passwd", "ABCDEF123456", "3de904f5473", "", "3de904f54737 "])
def test_malformed_ids_are_refused_at_the_door(lib, bad):
    for call in (lib.get, lib.delete, lambda i: lib.record_job(i, "alice.j1")):
        with pytest.raises(LibraryError, match=f"invalid schema id {bad!r}"):
            call(bad)


def test_nothing_is_stored_for_a_refused_add(lib):
    before = {e.id for e in lib.list()}
    broken = load_spec(LIBRARY_LOANS).model_copy(update={"anchor": "no_such_table"})  # skips validation
    with pytest.raises(SpecError, match="anchor 'no_such_table' is not a table"):
        lib.add(broken)
    spec = load_spec(SPECS / "car_rental.yaml")
    with pytest.raises(ValueError, match="invalid owner id 'Eve!'"):
        lib.add(spec, owner="Eve!")
    with pytest.raises(LibraryError, match="invalid tag 'two words'"):
        lib.add(spec, tags=["ok", "two words"])
    with pytest.raises(LibraryError, match="invalid source 'web'"):
        lib.add(spec, source="web")
    with pytest.raises(LibraryError, match="provenance must be plain JSON"):
        lib.add(spec, provenance={"when": object()})
    assert {e.id for e in lib.list()} == before


def test_delete(lib):
    car = lib.add(load_spec(SPECS / "car_rental.yaml"), source="file")
    lib.delete(car.id)
    assert car.id not in {e.id for e in lib.list()}
    with pytest.raises(LibraryError, match=f"no spec '{car.id}'"):
        lib.get(car.id)
    with pytest.raises(LibraryError, match="is the built-in spec"):
        lib.delete(entry_id(load_spec()))


_REOPEN = """
import json, socket, sys
attempts = []
def local(addr):
    host = addr[0] if isinstance(addr, tuple) else addr
    return isinstance(host, (str, bytes)) and (str(host).startswith(("127.", "/")) or host in ("localhost", "::1"))
for name in ("connect", "connect_ex"):
    real = getattr(socket.socket, name)
    def guard(self, addr, _real=real):
        if self.family != socket.AF_UNIX and not local(addr):
            attempts.append(repr(addr))
            raise OSError("network blocked by the test")
        return _real(self, addr)
    setattr(socket.socket, name, guard)
real_getaddrinfo = socket.getaddrinfo
def lookup(host, *args, **kwargs):
    if host not in (None, "localhost") and not str(host).startswith("127."):
        attempts.append(f"dns {host}")
        raise OSError("name lookups blocked by the test")
    return real_getaddrinfo(host, *args, **kwargs)
socket.getaddrinfo = lookup
from orchestrator_assets.ai.library import SchemaLibrary
lib = SchemaLibrary.open(sys.argv[1])
hotel = [e for e in lib.list() if e.name == "hotel_bookings"][0]
top = lib.search("reservations of hotel rooms", k=1)[0][0].name
print(json.dumps({"names": sorted(e.name for e in lib.list()), "jobs": hotel.jobs, "top": top,
                  "attempts": attempts}))
"""


def test_entries_survive_a_reopen_in_another_process_that_opens_no_connection(lib):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_", "AI_"))}
    proc = subprocess.run([sys.executable, "-c", _REOPEN, str(lib.path)], check=False, capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["attempts"] == []
    assert seen["names"] == ["ecommerce", "hotel_bookings", "library_loans"]
    assert seen["jobs"] == ["alice.j1", "bob.j2"]
    assert seen["top"] == "hotel_bookings"


def test_remember_stores_a_submitted_file_spec_with_its_job(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_DATA_DIR", str(tmp_path))
    entry = remember(load_spec(HOTEL), owner="carol", source="file", partition_key="carol.first")
    assert entry.source == "file" and entry.owner == "carol" and entry.jobs == ["carol.first"]
    again = remember(load_spec(HOTEL), owner="carol", source="file", partition_key="carol.second")
    assert again.id == entry.id and again.jobs == ["carol.first", "carol.second"]
    stored = SchemaLibrary.open(tmp_path / "schema_library").get(entry.id)[0]
    assert stored.jobs == ["carol.first", "carol.second"]


SUBSET = ["hotel_bookings", "food_delivery", "car_rental", "library_loans", "airline_bookings", "fashion_shop_de",
          "japan_shop", "bank_transactions", "insurance_claims", "music_streaming", "online_courses", "real_estate"]


def test_local_embedder_meets_a_recall_floor_on_a_benchmark_subset(tmp_path):
    bench = SchemaLibrary.open(tmp_path, "local")
    for name in SUBSET:
        bench.add(load_spec(SPECS / f"{name}.yaml"), source="file")
    queries = [q for q in load_queries() if q["expect"] in {*SUBSET, "ecommerce"}]
    assert len(queries) >= 30
    result = evaluate(bench, queries)
    assert result["recall_at_3"] >= 0.85, result["misses"]
    assert result["recall_at_1"] >= 0.7, result["misses"]


# ---- provider embeddings, through the real openai SDK against the wire protocol on 127.0.0.1 ----
KEY = "sk-test-0123456789abcdef"


@pytest.fixture
def provider(monkeypatch):
    from support.openai_embeddings import LocalEmbeddingsServer

    server = LocalEmbeddingsServer(KEY).start()
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AI_EMBEDDING_MODEL", "AZURE_OPENAI_ENDPOINT",
                 "AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION", "AZURE_OPENAI_EMBEDDING_DEPLOYMENT"):
        monkeypatch.delenv(name, raising=False)
    yield server
    server.stop()


def test_openai_embeddings_store_and_find_specs(provider, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{provider.url}/v1")
    monkeypatch.setenv("AI_EMBEDDING_MODEL", "emb-small")
    lib = SchemaLibrary.open(tmp_path, "openai")
    assert lib.embedder_id == f"openai:emb-small@{provider.url}/v1"
    lib.add(load_spec(HOTEL), source="file")
    lib.add(load_spec(LIBRARY_LOANS), source="file")
    assert lib.search("hotel guests rooms bookings", k=1)[0][0].name == "hotel_bookings"
    assert {r["model"] for r in provider.requests} == {"emb-small"}
    assert any("guests (Hotel guests)" in t for t in provider.texts())
    assert provider.texts()[-1] == "hotel guests rooms bookings"

    provider.fail.append((429, {"error": {"message": "slow down", "type": "rate_limit", "code": None}}))
    assert lib.search("borrowed books late fees", k=1)[0][0].name == "library_loans"  # retried after the 429
    assert provider.fail == []


def test_a_refused_provider_call_names_the_setting_not_the_key_and_stores_nothing(provider, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", f"{provider.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    lib = SchemaLibrary.open(tmp_path, "openai")
    before = lib.list()
    wrong = "sk-wrong-secret-value-42"
    monkeypatch.setenv("OPENAI_API_KEY", wrong)
    with pytest.raises(EmbeddingError) as err:
        SchemaLibrary.open(tmp_path, "openai").add(load_spec(HOTEL))
    assert "HTTP 401" in str(err.value) and "OPENAI_API_KEY" in str(err.value) and wrong not in str(err.value)
    assert lib.list() == before
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ValueError, match="AI_EMBEDDINGS=openai needs OPENAI_API_KEY"):
        SchemaLibrary.open(tmp_path, "openai")


def test_azure_openai_deployment_and_a_switch_of_embedder_re_embeds_every_entry(provider, tmp_path, monkeypatch):
    local = SchemaLibrary.open(tmp_path, "local")
    local.add(load_spec(HOTEL), source="file", owner="dana")
    local.record_job(entry_id(load_spec(HOTEL)), "dana.j1")
    before = local.list()
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", provider.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("AZURE_OPENAI_EMBEDDING_DEPLOYMENT", "spec-embeddings")
    azure = SchemaLibrary.open(tmp_path, "azure_openai")
    assert azure.embedder_id == f"azure_openai:spec-embeddings@{provider.url}"
    assert azure.list() == before
    assert {r["path"] for r in provider.requests} == {"/openai/deployments/spec-embeddings/embeddings"}
    assert all("api-version=2024-10-21" in r["query"] for r in provider.requests)
    assert len(provider.texts()) == 2  # both stored entries, re-embedded in one call
    assert azure.search("hotel rooms and guests", k=1)[0][0].jobs == ["dana.j1"]
    with pytest.raises(ValueError, match="AI_EMBEDDINGS='word2vec' is not supported"):
        monkeypatch.setenv("AI_EMBEDDINGS", "word2vec")
        SchemaLibrary.open(tmp_path)


def test_a_switch_interrupted_after_the_old_collection_was_dropped_is_finished_on_open(tmp_path):
    lib = SchemaLibrary.open(tmp_path, "local")
    lib.add(load_spec(HOTEL), source="file")
    before = lib.list()
    # The state a switch leaves between dropping the old collection and renaming the new one.
    lib._client.get_collection("specs", embedding_function=None).modify(name="specs_rebuild")
    reopened = SchemaLibrary.open(tmp_path, "local")
    assert reopened.list() == before
    assert [c.name for c in reopened._client.list_collections()] == ["specs"]


def test_schemas_cli(tmp_path, monkeypatch, capsys):
    from orchestrator_assets.cli import main
    from orchestrator_assets.generation.spec import parse_spec

    monkeypatch.setenv("ORCHESTRATOR_DATA_DIR", str(tmp_path))
    hotel = SchemaLibrary.open().add(load_spec(HOTEL), source="file", owner="erin")
    builtin = entry_id(load_spec())
    capsys.readouterr()
    assert main(["schemas", "list", "--owner", "erin"]) == 0
    assert capsys.readouterr().out.split()[:3] == [hotel.id, "hotel_bookings", "[file,"]
    assert main(["schemas", "search", "Zimmer und Gäste eines Hotels", "-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].split()[1:3] == [hotel.id, "hotel_bookings"]
    assert main(["schemas", "show", hotel.id, "--json"]) == 0
    assert parse_spec(json.loads(capsys.readouterr().out)) == load_spec(HOTEL)
    assert main(["schemas", "show", builtin]) == 0
    assert "source: builtin" in capsys.readouterr().out
    assert main(["schemas", "show", "nope"]) == 2
    assert "invalid schema id 'nope'" in capsys.readouterr().err
    assert main(["schemas", "delete", builtin]) == 2
    assert "is the built-in spec" in capsys.readouterr().err
    assert main(["schemas", "delete", hotel.id]) == 0
    assert capsys.readouterr().out == f"deleted {hotel.id}\n"
    assert main(["schemas", "list"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [builtin]
