"""The model path: a chat model plans the follow-up tools through tool calls and writes the narrative.

Any langchain-core chat model works (bind_tools + tool_calls). For the providers of `orchestrator ask`
(AI_PROVIDER, docs/ai.md) ProviderChatModel adapts the issue-13 Provider, so the same official SDKs, bounded
retries and key handling apply and no further SDK wrapper is needed: each turn is one structured-output call
whose JSON names the tool and its arguments.
"""
from __future__ import annotations

import json
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from .planner import call_id

RESULT_CHARS = 6000  # one tool result as the model sees it; the report keeps it whole
FINISH = "finish"

_TABLE = {"type": "string", "description": "a table of the partition's spec"}
TOOL_SPECS = [
    {"name": "check_results", "description": "Silver checks: rows reconcile per table, the accuracy bar.",
     "parameters": {"type": "object", "properties": {}}},
    {"name": "accuracy_by_kind", "description": "Per injected error kind: repaired, nulled, quarantined, missed.",
     "parameters": {"type": "object", "properties": {}}},
    {"name": "quarantine_by_rule", "description": "Quarantined rows per table, rule and column, with shares and "
     "how many were held because their parent row was quarantined (cascade).",
     "parameters": {"type": "object", "properties": {}}},
    {"name": "quarantine_sample", "description": "Sample quarantined rows of one rule (and column) with reasons.",
     "parameters": {"type": "object", "properties": {"table": _TABLE, "rule": {"type": "string"},
                                                     "column": {"type": "string"}, "limit": {"type": "integer"}},
                    "required": ["table", "rule"]}},
    {"name": "missed_samples", "description": "Injected errors of one kind that reached Silver unrepaired: dirty, "
     "clean and Silver value per table and column.",
     "parameters": {"type": "object", "properties": {"kind": {"type": "string"}, "limit": {"type": "integer"}},
                    "required": ["kind"]}},
    {"name": "column_profiles", "description": "Null rate, distinct count, min/max per Silver column of a table, "
     "against the spec's declared source (range or choices).",
     "parameters": {"type": "object", "properties": {"table": _TABLE}, "required": ["table"]}},
    {"name": "gold_tests", "description": "The partition's Gold dbt test results.",
     "parameters": {"type": "object", "properties": {}}},
    {"name": "compare_earlier", "description": "This job against the same user's other jobs: rows, error rates, "
     "quarantine shares.", "parameters": {"type": "object", "properties": {}}},
]
REPORT_SPEC = {
    "name": "report_findings",
    "description": "The audit narrative: a summary and findings, every number copied from the evidence.",
    "parameters": {"type": "object", "required": ["summary", "findings"], "properties": {
        "summary": {"type": "string"},
        "findings": {"type": "array", "items": {"type": "object", "required": ["title", "severity", "evidence"],
                                                "properties": {
            "title": {"type": "string"}, "severity": {"type": "string", "enum": ["critical", "warning", "info"]},
            "evidence": {"type": "string"}, "cause": {"type": "string"}, "action": {"type": "string"}}}}}},
}

PLAN_PROMPT = """You audit the data quality of one partition of a data pipeline (Bronze -> Silver -> Gold).
The baseline evidence is below. Call the tools that explain what looks wrong: sample the quarantine of a rule
with a high share, check a parent table's quarantine when a child's foreign keys were held back (a cascade),
profile tables whose error kinds were missed or whose values may have drifted. Call no tool (or `finish`) once
the evidence explains what is wrong."""
NARRATE_PROMPT = """Write the audit narrative with report_findings: a short summary and one finding per problem
(severity, evidence, likely cause, recommended action). Copy every number from the evidence or the templated
findings below; a finding with a number that is not there is dropped."""


def _compact(value: Any) -> str:
    text = json.dumps(value, default=str, separators=(",", ":"))
    return text if len(text) <= RESULT_CHARS else text[:RESULT_CHARS] + "...(cut)"


def _context(p, state) -> str:
    tables = {t: p.manifest.rows(t) for t in p.manifest.tables}
    return f"Partition {p.key}; tables and Bronze rows: {_compact(tables)}\nBaseline evidence:\n{_entries(state)}"


def _entries(state) -> str:
    return "\n".join(f"{call_id(e)} -> {_compact(e['result'])}" for e in state["evidence"])


def plan_with_model(model: BaseChatModel, p, state, budget: int) -> tuple[list[dict], list[BaseMessage]]:
    """The model's next tool calls, and the conversation with the results of its previous ones appended."""
    messages = list(state.get("messages") or [SystemMessage(PLAN_PROMPT), HumanMessage(_context(p, state))])
    last = messages[-1]
    if isinstance(last, AIMessage) and last.tool_calls:
        results = {call_id(e): e["result"] for e in state["evidence"]}
        for tc in last.tool_calls:
            found = results.get(call_id({"tool": tc["name"], "args": tc["args"]}), {"error": "not run: budget"})
            messages.append(ToolMessage(_compact(found), tool_call_id=tc["id"] or tc["name"]))
    messages.append(HumanMessage(f"{budget} tool calls left."))
    reply = model.bind_tools(TOOL_SPECS + [{"name": FINISH, "description": "End the investigation.",
                                            "parameters": {"type": "object", "properties": {}}}]).invoke(messages)
    messages.append(reply)
    calls = [{"tool": tc["name"], "args": dict(tc["args"])} for tc in reply.tool_calls if tc["name"] != FINISH]
    done = {call_id(e) for e in state["evidence"]}
    # A model asking only for what it already has is done too: the loop must end.
    return [c for c in calls if call_id(c) not in done], messages


def narrate_with_model(model: BaseChatModel, p, state) -> dict:
    findings = [{k: f[k] for k in ("severity", "title", "cause_text", "evidence", "action")} for f in state["findings"]]
    reply = model.bind_tools([REPORT_SPEC]).invoke([
        SystemMessage(NARRATE_PROMPT),
        HumanMessage(f"Partition {p.key}.\nTemplated findings: {_compact(findings)}\nEvidence:\n{_entries(state)}")])
    for tc in reply.tool_calls:
        if tc["name"] == REPORT_SPEC["name"]:
            return _narrative(tc["args"])
    try:
        return _narrative(json.loads(reply.content))
    except (TypeError, ValueError):
        return {"summary": str(reply.content), "findings": []}


def _narrative(data: Any) -> dict:
    if not isinstance(data, dict):
        return {"summary": "", "findings": []}
    found = [f for f in data.get("findings") or [] if isinstance(f, dict)]
    return {"summary": str(data.get("summary") or ""), "findings": found}


class ProviderChatModel(BaseChatModel):
    """A chat model over an issue-13 Provider: tool calls by structured output, one call per turn."""

    provider: Any
    tools: list[dict] = Field(default_factory=list)

    @classmethod
    def from_settings(cls, settings) -> ProviderChatModel:
        from ..ai.providers import open_provider

        return cls(provider=open_provider(settings))

    @property
    def _llm_type(self) -> str:
        return f"orchestrator-{self.provider.name}"

    def bind_tools(self, tools, **kwargs) -> ProviderChatModel:
        return self.model_copy(update={"tools": [convert_to_openai_tool(t)["function"] for t in tools]})

    def _generate(self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs) -> ChatResult:
        system = "\n".join(str(m.content) for m in messages if isinstance(m, SystemMessage))
        transcript = "\n\n".join(_render(m) for m in messages if not isinstance(m, SystemMessage))
        if len(self.tools) == 1:
            # One tool: its arguments are the answer (the narrative).
            tool = self.tools[0]
            reply = self.provider.complete(system, [{"role": "user", "content": transcript}], tool["parameters"],
                                           name=tool["name"], purpose=tool["description"])
            args = _json_object(reply.text)
            calls = [] if args is None else [{"name": tool["name"], "args": args, "id": "call-0"}]
        else:
            names = [t["name"] for t in self.tools]
            schema = {"type": "object", "required": ["tool", "arguments"], "properties": {
                "tool": {"type": "string", "enum": names}, "arguments": {"type": "object"}}}
            menu = "\n".join(f"- {t['name']}: {t['description']} arguments: {json.dumps(t['parameters'])}"
                             for t in self.tools)
            reply = self.provider.complete(
                f"{system}\n\nAnswer with JSON naming one tool and its arguments. Tools:\n{menu}",
                [{"role": "user", "content": transcript}], schema, name="next_tool", purpose="The next tool to call.")
            choice = _json_object(reply.text) or {"tool": FINISH}
            calls = [] if choice.get("tool") in (FINISH, None) else [
                {"name": choice["tool"], "args": choice.get("arguments") or {}, "id": "call-0"}]
        # Text that is not the JSON asked for ends the planning, or becomes an unstructured narrative.
        message = AIMessage(content="" if calls else reply.text, tool_calls=calls,
                            usage_metadata={"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens,
                                            "total_tokens": reply.input_tokens + reply.output_tokens})
        return ChatResult(generations=[ChatGeneration(message=message)])


def _json_object(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _render(m: BaseMessage) -> str:
    if isinstance(m, AIMessage):
        return "You called: " + ", ".join(f"{tc['name']}({json.dumps(tc['args'])})" for tc in m.tool_calls)
    if isinstance(m, ToolMessage):
        return f"Result: {m.content}"
    return str(m.content)
