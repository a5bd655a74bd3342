"""The auditor's model path: a scripted langchain-core chat model, and the real SDKs against the local server.

Expected, written before the code: the model's tool calls are what the graph runs after the baseline; the
results go back to it as tool messages; its narrative keeps findings whose numbers are in the evidence and
drops (and logs) one with a made-up number; the templated findings and the trustworthy verdict stay.
"""
from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest
from audit_partitions import build, corrupted_users
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from pydantic import Field

from orchestrator_assets.audit.graph import audit, open_model
from orchestrator_assets.audit.grounding import numbers_in, ungrounded
from orchestrator_assets.audit.tools import Partition, quarantine_by_rule
from orchestrator_assets.storage.local import LocalStorage

KEY = "sk-test-audit-0123456789"
MADE_UP = 98765


@pytest.fixture(scope="module")
def store(tmp_path_factory, spec):
    store = LocalStorage(tmp_path_factory.mktemp("audit-llm"))
    build(store, corrupted_users(spec), "carol", "cascade", seed=40)
    return store


@pytest.fixture(scope="module")
def facts(store):
    """Numbers the scripted model quotes, read with the same tool the graph uses."""
    p = Partition(store, "carol", "cascade")
    try:
        q = quarantine_by_rule(p)
    finally:
        p.close()
    orders = next(r for r in q["rules"] if r["table"] == "orders" and r["cascade"])
    return {"cascade": orders["cascade"], "users_held": q["tables"]["users"]["entities_held"]}


class ScriptedChat(GenericFakeChatModel):
    """Replays scripted AI messages; records the tools bound and the messages of each turn."""

    bound: list = Field(default_factory=list)
    seen: list = Field(default_factory=list)

    def bind_tools(self, tools, **kwargs):
        self.bound.append([t["name"] for t in tools])
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.seen.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def _narrative(facts) -> dict:
    return {"summary": f"Orders lost {facts['cascade']} rows to a cascade. Revenue fell by {MADE_UP} dollars.",
            "findings": [
                {"title": f"orders: {facts['cascade']} rows held because their users row was quarantined",
                 "severity": "critical", "evidence": f"users held {facts['users_held']} rows",
                 "cause": "upstream orphan cascade", "action": "fix users first"},
                {"title": f"{MADE_UP} payments are duplicated", "severity": "warning", "evidence": "none",
                 "cause": "made up", "action": "none"}]}


def test_scripted_model_plans_the_tools_and_its_made_up_number_is_dropped(store, facts, caplog):
    model = ScriptedChat(messages=iter([
        AIMessage(content="", tool_calls=[
            {"name": "quarantine_sample", "args": {"table": "users", "rule": "required", "column": "first_name"},
             "id": "t1"},
            {"name": "column_profiles", "args": {"table": "orders"}, "id": "t2"}]),
        AIMessage(content="", tool_calls=[{"name": "finish", "args": {}, "id": "t3"}]),
        AIMessage(content="", tool_calls=[{"name": "report_findings", "args": _narrative(facts), "id": "t4"}]),
    ]))
    p = Partition(store, "carol", "cascade")
    with caplog.at_level(logging.WARNING, logger="orchestrator_assets.audit.graph"):
        try:
            report = audit(p, model)
        finally:
            p.close()
    assert report["planner"] == "model"
    assert [(e["tool"], e["args"].get("table")) for e in report["evidence"][5:]] == [
        ("quarantine_sample", "users"), ("column_profiles", "orders")]
    assert "quarantine_sample" in model.bound[0] and model.bound[-1] == ["report_findings"]
    # The second planning turn got both results back as tool messages, answering the calls by id.
    answers = [m for m in model.seen[1] if isinstance(m, ToolMessage)]
    assert [m.tool_call_id for m in answers] == ["t1", "t2"] and "first_name is missing" in answers[0].content
    narrative = report["narrative"]
    assert [f["severity"] for f in narrative["findings"]] == ["critical"]
    assert narrative["summary"] == f"Orders lost {facts['cascade']} rows to a cascade."
    assert {str(MADE_UP)} == {n for d in report["dropped"] for n in d["ungrounded"]} and len(report["dropped"]) == 2
    assert str(MADE_UP) in caplog.text
    # The templated findings still decide the verdict.
    assert any(f["cause"] == "upstream_orphan_cascade" for f in report["findings"]) and not report["trustworthy"]


def test_grounding_accepts_rounded_and_percent_forms_only():
    known = {Decimal("0.1784"), Decimal(905), Decimal(1234)}
    assert ungrounded("905 rows (17.8%) of 1,234", known) == []
    assert ungrounded("about 17.84%, i.e. 0.18", known) == []
    assert ungrounded("906 rows, 18.5%", known) == ["906", "18.5%"]
    # Digits inside ids and names are not numbers of the narrative.
    assert numbers_in("job-1 of user carol2 in sha256 at step 3.") == ["3"]


@pytest.fixture(scope="module")
def server():
    from support.llm_server import LLMServer

    started = LLMServer(key=KEY).start()
    yield started
    started.stop()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_provider_path_through_the_real_sdk(provider, store, facts, server, monkeypatch):
    from support.llm_server import Answer

    for var in ("AI_BASE_URL", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "AI_JSON_MODE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AI_PROVIDER", provider)
    monkeypatch.setenv("AI_MODEL", "audit-test")
    monkeypatch.setenv("AI_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("AI_BASE_URL", f"{server.url}/v1" if provider == "openai" else server.url)
    monkeypatch.setenv("OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY", KEY)
    server.reset(
        Answer({"tool": "quarantine_sample", "arguments": {"table": "users", "rule": "required"}}),
        Answer(status=429),  # retried by the issue-13 provider loop
        Answer({"tool": "finish", "arguments": {}}),
        Answer(_narrative(facts)),
    )
    p = Partition(store, "carol", "cascade")
    try:
        report = audit(p, open_model())
    finally:
        p.close()
    assert [(e["tool"], e["args"]) for e in report["evidence"][5:]] == [
        ("quarantine_sample", {"table": "users", "rule": "required"})]
    assert [f["severity"] for f in report["narrative"]["findings"]] == ["critical"]
    assert len(report["dropped"]) == 2
    assert len(server.seen) == 4
    first, last = server.seen[0].body, server.seen[-1].body
    if provider == "openai":
        assert first["response_format"]["json_schema"]["name"] == "next_tool"
        assert last["response_format"]["json_schema"]["name"] == "report_findings"
        sent = json.dumps(first["messages"])
    else:
        assert first["tool_choice"]["name"] == "next_tool" and last["tools"][0]["name"] == "report_findings"
        sent = json.dumps(first["messages"]) + first["system"]
    assert "carol.cascade" in sent and KEY not in sent


def test_a_bad_tool_call_comes_back_as_an_error_and_the_audit_goes_on(store):
    from orchestrator_assets.audit.graph import run_tool

    p = Partition(store, "carol", "cascade")
    try:
        unknown = run_tool(p, {"tool": "drop_tables", "args": {}})["result"]
        missing = run_tool(p, {"tool": "quarantine_sample", "args": {"table": "nope", "rule": "required"}})["result"]
        wrong = run_tool(p, {"tool": "column_profiles", "args": {"tabel": "users"}})["result"]
    finally:
        p.close()
    assert "drop_tables" in unknown["error"] and "column_profiles" in unknown["error"]
    assert "nope" in missing["error"]
    assert "tabel" in wrong["error"]
