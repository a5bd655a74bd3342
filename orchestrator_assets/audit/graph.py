"""The audit as a LangGraph StateGraph: baseline tools, a planner choosing follow-ups up to a step budget,
templated findings, and (with a model) a written narrative whose numbers are checked against the evidence.

    baseline -> plan -> tool -> plan -> ... -> findings -> [narrate] -> report

Without a model the planner is deterministic (planner.py) and the findings are the report. With one, the model
chooses the follow-up tools through tool calls and writes the narrative; the templated findings stay (they
decide the `trustworthy` check), and the model's findings survive only if every number in them is grounded.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from . import findings as templated
from .grounding import evidence_numbers, sentences, ungrounded
from .planner import BASELINE, call_id, next_call
from .tools import TOOLS, Partition

log = logging.getLogger(__name__)
DEFAULT_STEPS = 24


class AuditState(TypedDict, total=False):
    evidence: list[dict]  # {"tool", "args", "result", "seconds"} in the order run
    pending: list[dict]  # the calls the planner chose for the tool node
    messages: list  # the model's conversation (LLM path only)
    findings: list[dict]
    narrative: dict | None
    dropped: list[dict]  # model findings or sentences whose numbers were not in the evidence
    planner: str


def run_tool(p: Partition, call: dict) -> dict:
    started = time.perf_counter()
    fn = TOOLS.get(call["tool"])
    try:
        if fn is None:
            raise ValueError(f"no tool named {call['tool']!r}; tools: {', '.join(TOOLS)}")
        result = fn(p, **call["args"])
    except (TypeError, ValueError, KeyError) as err:
        # A model can ask for a table or argument that does not exist; it gets the error back, the audit goes on.
        result = {"error": f"{type(err).__name__}: {err}"}
    return {"tool": call["tool"], "args": call["args"], "result": result,
            "seconds": round(time.perf_counter() - started, 4)}


def build_graph(p: Partition, model=None, max_steps: int = DEFAULT_STEPS):
    """The compiled graph for one partition. model: a langchain-core chat model, or None (deterministic)."""
    g = StateGraph(AuditState)

    def baseline(state: AuditState) -> AuditState:
        return {"evidence": [run_tool(p, {"tool": t, "args": {}}) for t in BASELINE],
                "planner": "model" if model is not None else "deterministic", "messages": [], "dropped": []}

    def tool(state: AuditState) -> AuditState:
        done = {call_id(e) for e in state["evidence"]}
        ran = [run_tool(p, c) for c in state["pending"] if call_id(c) not in done]
        return {"evidence": state["evidence"] + ran, "pending": []}

    def budget_left(state: AuditState) -> int:
        return max_steps - (len(state["evidence"]) - len(BASELINE))

    def plan(state: AuditState) -> AuditState:
        if budget_left(state) <= 0:
            return {"pending": []}
        if model is None:
            call = next_call(p, state["evidence"])
            return {"pending": [call] if call else []}
        from .llm import plan_with_model

        calls, messages = plan_with_model(model, p, state, budget_left(state))
        return {"pending": calls[:budget_left(state)], "messages": messages}

    def find(state: AuditState) -> AuditState:
        return {"findings": templated.derive(p, state["evidence"])}

    def narrate(state: AuditState) -> AuditState:
        from .llm import narrate_with_model

        narrative = narrate_with_model(model, p, state)
        return ground(state, narrative)

    g.add_node("baseline", baseline)
    g.add_node("plan", plan)
    g.add_node("tool", tool)
    g.add_node("findings", find)
    g.add_edge(START, "baseline")
    g.add_edge("baseline", "plan")
    g.add_conditional_edges("plan", lambda s: "tool" if s.get("pending") else "findings", ["tool", "findings"])
    g.add_edge("tool", "plan")
    if model is not None:
        g.add_node("narrate", narrate)
        g.add_edge("findings", "narrate")
        g.add_edge("narrate", END)
    else:
        g.add_edge("findings", END)
    return g.compile()


def ground(state: AuditState, narrative: dict) -> AuditState:
    """Keep the model's findings and summary sentences whose every number is in the evidence; log the rest."""
    known = evidence_numbers([e["result"] for e in state["evidence"]], state["findings"],
                             {"findings": len(state["findings"])},
                             [sum(f["severity"] == s for f in state["findings"]) for s in templated.SEVERITIES])
    dropped = list(state.get("dropped", []))
    kept = []
    for f in narrative.get("findings", []):
        text = " ".join(str(f.get(k, "")) for k in ("title", "evidence", "cause", "action"))
        bad = ungrounded(text, known)
        if bad:
            log.warning("audit: dropped a model finding with numbers not in the evidence %s: %s", bad, f.get("title"))
            dropped.append({"finding": f, "ungrounded": bad})
        else:
            kept.append(f)
    summary = []
    for s in sentences(narrative.get("summary", "")):
        bad = ungrounded(s, known)
        if bad:
            log.warning("audit: dropped a summary sentence with numbers not in the evidence %s: %s", bad, s)
            dropped.append({"sentence": s, "ungrounded": bad})
        else:
            summary.append(s)
    return {"narrative": {"summary": " ".join(summary), "findings": kept}, "dropped": dropped}


def audit(p: Partition, model=None, max_steps: int = DEFAULT_STEPS) -> dict:
    """Run the graph; the report as JSON-able data."""
    started = time.perf_counter()
    final = build_graph(p, model, max_steps).invoke({}, {"recursion_limit": 4 * max_steps + 20})
    found = final["findings"]
    critical = [f for f in found if f["severity"] == "critical"]
    narrative = final.get("narrative")
    model_critical = [f for f in (narrative or {}).get("findings", []) if f.get("severity") == "critical"]
    return {
        "partition": p.key, "summary": templated.summary_line(p.key, found),
        "trustworthy": not critical and not model_critical, "planner": final["planner"],
        "steps": len(final["evidence"]), "seconds": round(time.perf_counter() - started, 3),
        "findings": found, "narrative": narrative, "dropped": final.get("dropped", []),
        "evidence": [{k: e[k] for k in ("tool", "args", "seconds", "result")} for e in final["evidence"]],
    }


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, default=str)


def open_model(settings: Any = None):
    """The chat model the AI settings choose (AI_PROVIDER etc.), or None for the deterministic path."""
    from ..ai.settings import ai_settings

    settings = settings or ai_settings()
    if settings.provider == "none":
        return None
    from .llm import ProviderChatModel

    return ProviderChatModel.from_settings(settings)
