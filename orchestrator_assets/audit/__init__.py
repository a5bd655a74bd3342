"""The data-quality auditor: deterministic tools over one partition's facts, and a LangGraph graph over them."""
