"""`ask` through each provider's real SDK against a local server speaking that provider's wire protocol.

What must hold: the SDK calls carry the project's JSON Schema (response_format / tool input_schema), the right
paths and auth headers; invalid answers are sent back with their validation messages and repaired within the
bound; answers that never validate, or a refused key, give a clear error, leave no file and never show the key;
429s and time-outs are retried with the configured back-off.
"""
from __future__ import annotations

import json
import time

import pytest

from orchestrator_assets.ai.ask import AskError, ask
from orchestrator_assets.ai.planner import plan
from orchestrator_assets.ai.providers import ProviderError
from orchestrator_assets.generation.spec import export_json_schema

KEY = "sk-test-secret-0123456789"
REQUEST = "20k orders from a French shop"
AI_VARS = ("AI_PROVIDER", "AI_MODEL", "AI_BASE_URL", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT",
           "OPENAI_API_VERSION", "OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AI_JSON_MODE",
           "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")


@pytest.fixture(scope="module")
def server():
    from support.llm_server import LLMServer

    started = LLMServer(key=KEY).start()
    yield started
    started.stop()


@pytest.fixture
def env(monkeypatch, tmp_path, server):
    for var in AI_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ORCHESTRATOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AI_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("AI_TIMEOUT_SECONDS", "1")
    server.key = KEY

    def use(provider: str):
        settings = {
            "openai": {"AI_MODEL": "gpt-test", "AI_BASE_URL": f"{server.url}/v1", "OPENAI_API_KEY": KEY},
            "azure_openai": {"AZURE_OPENAI_ENDPOINT": server.url, "AZURE_OPENAI_DEPLOYMENT": "spec-writer",
                             "OPENAI_API_VERSION": "2024-10-21", "AZURE_OPENAI_API_KEY": KEY},
            "anthropic": {"AI_MODEL": "claude-test", "AI_BASE_URL": server.url, "ANTHROPIC_API_KEY": KEY},
            "openai_compatible": {"AI_MODEL": "llama3.1", "AI_BASE_URL": f"{server.url}/v1"},
        }[provider]
        monkeypatch.setenv("AI_PROVIDER", provider)
        for var, value in settings.items():
            monkeypatch.setenv(var, value)
        if provider == "openai_compatible":
            server.key = "unused"  # what the client sends for a server without keys
        return tmp_path / "data"

    return use


@pytest.fixture(scope="module")
def good_spec():
    return plan(REQUEST).spec


def _invalid(spec: dict) -> dict:
    bad = json.loads(json.dumps(spec))
    bad["tables"]["users"]["columns"]["age"]["errors"] = ["invalid_email"]
    return bad


def _files(data_dir):
    return sorted(p.name for p in data_dir.rglob("*") if p.is_file()) if data_dir.exists() else []


PROVIDERS = ["openai", "azure_openai", "anthropic", "openai_compatible"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_valid_answer_becomes_the_spec_with_its_provenance(env, server, good_spec, provider):
    from support.llm_server import Answer

    data = env(provider)
    server.reset(Answer(content=good_spec, input_tokens=1500, output_tokens=800))
    result = ask(REQUEST)
    assert result.spec.name == "ecommerce_fr" and result.rows == 20_000
    prov = result.provenance
    assert prov["provider"] == provider and prov["attempts"] == 1 and prov["calls"] == 1
    assert (prov["input_tokens"], prov["output_tokens"]) == (1500, 800)
    assert prov["model"] == ("spec-writer" if provider == "azure_openai" else
                             {"openai": "gpt-test", "anthropic": "claude-test"}.get(provider, "llama3.1"))
    assert prov["prompt"] == f"Request: {REQUEST}"
    saved = json.loads(result.path.read_text())
    assert saved["name"] == "ecommerce_fr"
    assert KEY not in "".join((data / "specs" / name).read_text() for name in _files(data))
    # What the SDK put on the wire.
    (seen,) = server.seen
    schema = export_json_schema()
    if provider == "anthropic":
        assert seen.path == "/v1/messages"
        assert seen.headers.get("x-api-key", seen.headers.get("authorization", "").removeprefix("Bearer ")) == KEY
        assert seen.headers["anthropic-version"]
        assert seen.body["model"] == "claude-test" and seen.body["max_tokens"] > 4000
        assert seen.body["tools"][0]["input_schema"] == schema
        assert seen.body["tool_choice"] == {"type": "tool", "name": "dataset_spec"}
        assert seen.body["messages"] == [{"role": "user", "content": f"Request: {REQUEST}"}]
        assert "JSON Schema" in seen.body["system"]
    else:
        fmt = seen.body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == schema
        assert [m["role"] for m in seen.body["messages"]] == ["system", "user"]
        if provider == "azure_openai":
            assert seen.path == "/openai/deployments/spec-writer/chat/completions"
            assert seen.query == {"api-version": ["2024-10-21"]} and seen.headers["api-key"] == KEY
        else:
            assert seen.path == "/v1/chat/completions"
            assert seen.headers["authorization"] == f"Bearer {server.key}"
            assert seen.body["model"] == prov["model"]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_an_invalid_answer_is_repaired_with_the_validation_messages(env, server, good_spec, provider):
    from support.llm_server import Answer

    env(provider)
    server.reset(Answer(content=_invalid(good_spec)), Answer(content=good_spec))
    result = ask(REQUEST)
    assert result.provenance["attempts"] == 2 and result.provenance["calls"] == 2
    first, second = result.provenance["attempt_log"]
    assert not first["valid"] and "age: error 'invalid_email' does not apply to type 'int'" in first["problems"]
    assert second["valid"]
    # The second call carries the first answer and the problems found in it.
    turns = server.seen[1].body["messages"]
    assert turns[-2]["role"] == "assistant" and json.loads(turns[-2]["content"]) == _invalid(good_spec)
    assert turns[-1]["role"] == "user" and "does not apply to type 'int'" in turns[-1]["content"]


@pytest.mark.parametrize("provider", ["azure_openai", "anthropic"])
def test_answers_that_never_validate_end_in_a_clear_error_and_nothing_saved(env, server, good_spec, provider,
                                                                             monkeypatch):
    from support.llm_server import Answer

    data = env(provider)
    monkeypatch.setenv("AI_MAX_REPAIRS", "2")
    server.reset(Answer(content="this is not JSON"), Answer(content=_invalid(good_spec)),
                 Answer(content={"name": "x"}))
    with pytest.raises(AskError) as err:
        ask(REQUEST)
    text = str(err.value)
    assert "gave no valid spec in 3 attempts" in text and "nothing was saved" in text
    assert "anchor" in text  # the last answer's problem is named
    assert len(server.seen) == 3 and _files(data) == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_rate_limit_then_success_is_retried(env, server, good_spec, provider):
    from support.llm_server import Answer

    env(provider)
    server.reset(Answer(status=429), Answer(status=429), Answer(content=good_spec))
    result = ask(REQUEST)
    assert result.provenance["calls"] == 3 and result.provenance["attempts"] == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_time_out_then_success_is_retried(env, server, good_spec, provider):
    from support.llm_server import Answer

    env(provider)
    server.reset(Answer(content=good_spec, delay=3), Answer(content=good_spec))
    start = time.monotonic()
    result = ask(REQUEST)
    assert result.provenance["calls"] == 2
    assert time.monotonic() - start < 3  # the client gave up after AI_TIMEOUT_SECONDS=1, not the server's 3 s


def test_retries_are_bounded(env, server, monkeypatch):
    from support.llm_server import Answer

    data = env("openai")
    monkeypatch.setenv("AI_RETRIES", "2")
    server.reset(*[Answer(status=429)] * 5)
    with pytest.raises(ProviderError, match=r"still rate-limited \(HTTP 429\) after 3 attempts"):
        ask(REQUEST)
    assert len(server.seen) == 3 and _files(data) == []


@pytest.mark.parametrize("provider, var", [("openai", "OPENAI_API_KEY"), ("azure_openai", "AZURE_OPENAI_API_KEY"),
                                           ("anthropic", "ANTHROPIC_API_KEY")])
def test_a_refused_key_is_a_clear_error_without_the_key(env, server, provider, var, capsys, caplog):
    data = env(provider)
    server.reset()
    server.key = "the-key-the-server-expects"
    with pytest.raises(ProviderError) as err:
        ask(REQUEST)
    assert f"refused the credentials (HTTP 401); check {var}" in str(err.value)
    assert KEY not in str(err.value) and KEY not in repr(err.value.__cause__)
    out = capsys.readouterr()
    assert KEY not in out.out + out.err + caplog.text
    assert len(server.seen) == 1 and _files(data) == []  # auth errors are not retried


def test_a_compatible_server_without_structured_output_is_asked_in_json_mode(env, server, good_spec):
    from support.llm_server import Answer

    env("openai_compatible")
    server.reset(Answer(content=good_spec, only_for_json_mode="json_object"))
    result = ask(REQUEST)
    assert [s.body["response_format"]["type"] for s in server.seen] == ["json_schema", "json_object"]
    assert "JSON Schema of a dataset spec" in server.seen[1].body["messages"][0]["content"]
    assert result.spec.name == "ecommerce_fr"


@pytest.mark.parametrize("env_vars, message", [
    ({"AI_PROVIDER": "gemini"}, "AI_PROVIDER='gemini' is not supported"),
    ({"AI_PROVIDER": "openai"}, "AI_PROVIDER=openai needs AI_MODEL"),
    ({"AI_PROVIDER": "openai", "AI_MODEL": "m"}, "needs the key in OPENAI_API_KEY"),
    ({"AI_PROVIDER": "azure_openai", "AZURE_OPENAI_ENDPOINT": "http://x"},
     "needs AZURE_OPENAI_DEPLOYMENT and OPENAI_API_VERSION"),
    ({"AI_PROVIDER": "openai_compatible", "AI_MODEL": "m"}, "needs AI_BASE_URL"),
    ({"AI_MAX_REPAIRS": "many"}, "AI_MAX_REPAIRS='many' is not a whole number"),
])
def test_bad_settings_name_the_variable(env, monkeypatch, env_vars, message):
    for var, value in env_vars.items():
        monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=message):
        ask(REQUEST)
