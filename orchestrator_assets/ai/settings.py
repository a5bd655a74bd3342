"""Which model, if any, turns requests into specs: read from the environment, in one place.

AI_PROVIDER          none | openai | azure_openai | anthropic | openai_compatible (default none: the offline planner)
AI_MODEL             model name (openai, anthropic, openai_compatible; for azure_openai the deployment is used)
AI_BASE_URL          base URL of an OpenAI-compatible server (Ollama, vLLM, llama.cpp: http://host:port/v1);
                     also replaces the default endpoint of openai / anthropic (proxies, gateways)
AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_DEPLOYMENT, OPENAI_API_VERSION   the Azure OpenAI resource
AI_JSON_MODE         json_schema | json_object: how OpenAI-style servers are asked for JSON (json_schema;
                     an openai_compatible server that refuses json_schema is asked again in json_object mode)
AI_MAX_REPAIRS       answers that fail validation are sent back with the errors at most this often (2)
AI_RETRIES           rate-limited (429), timed-out, unreachable or 5xx calls are retried this often (3)
AI_BACKOFF_SECONDS   the first retry waits this long, each next one twice as long (1.0)
AI_TIMEOUT_SECONDS   one model call may take this long (120)
AI_LIBRARY_MIN_SCORE library specs at least this close to a request are offered before a new one is made (0.82, from the schema-library benchmark)
Keys, from the environment only and read when a provider is opened: OPENAI_API_KEY (openai; optional for
openai_compatible), AZURE_OPENAI_API_KEY, ANTHROPIC_API_KEY. They never appear in logs, errors or stored specs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..settings import SettingsError

PROVIDERS = ("none", "openai", "azure_openai", "anthropic", "openai_compatible")
JSON_MODES = ("json_schema", "json_object")
KEY_VARS = {"openai": "OPENAI_API_KEY", "azure_openai": "AZURE_OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
            "openai_compatible": "OPENAI_API_KEY"}


@dataclass(frozen=True)
class AISettings:
    provider: str
    model: str
    base_url: str
    azure_endpoint: str
    azure_deployment: str
    api_version: str
    json_mode: str
    max_repairs: int
    retries: int
    backoff_seconds: float
    timeout_seconds: float
    library_min_score: float

    @property
    def model_label(self) -> str:
        return self.azure_deployment if self.provider == "azure_openai" else self.model


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _number(name: str, default: float, low: float, high: float, whole: bool = False) -> float:
    raw = _env(name)
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        kind = "a whole number" if whole else "a number"
        raise SettingsError(f"{name}={raw!r} is not {kind} between {low:g} and {high:g}")
    return value


def ai_settings() -> AISettings:
    provider = (_env("AI_PROVIDER") or "none").lower()
    if provider not in PROVIDERS:
        raise SettingsError(f"AI_PROVIDER={provider!r} is not supported; choose one of: {', '.join(PROVIDERS)}")
    json_mode = (_env("AI_JSON_MODE") or "json_schema").lower()
    if json_mode not in JSON_MODES:
        raise SettingsError(f"AI_JSON_MODE={json_mode!r} is not supported; choose one of: {', '.join(JSON_MODES)}")
    settings = AISettings(
        provider=provider, model=_env("AI_MODEL"), base_url=_env("AI_BASE_URL").rstrip("/"),
        azure_endpoint=_env("AZURE_OPENAI_ENDPOINT").rstrip("/"), azure_deployment=_env("AZURE_OPENAI_DEPLOYMENT"),
        api_version=_env("OPENAI_API_VERSION"), json_mode=json_mode,
        max_repairs=int(_number("AI_MAX_REPAIRS", 2, 0, 10, whole=True)),
        retries=int(_number("AI_RETRIES", 3, 0, 10, whole=True)),
        backoff_seconds=_number("AI_BACKOFF_SECONDS", 1.0, 0, 60),
        timeout_seconds=_number("AI_TIMEOUT_SECONDS", 120, 0.01, 3600),
        library_min_score=_number("AI_LIBRARY_MIN_SCORE", 0.82, 0, 1),
    )
    missing = _missing(settings)
    if missing:
        raise SettingsError(f"AI_PROVIDER={provider} needs {' and '.join(missing)}")
    return settings


def _missing(s: AISettings) -> list[str]:
    need = {
        "openai": {"AI_MODEL": s.model},
        "anthropic": {"AI_MODEL": s.model},
        "openai_compatible": {"AI_MODEL": s.model, "AI_BASE_URL": s.base_url},
        "azure_openai": {"AZURE_OPENAI_ENDPOINT": s.azure_endpoint, "AZURE_OPENAI_DEPLOYMENT": s.azure_deployment,
                         "OPENAI_API_VERSION": s.api_version},
    }.get(s.provider, {})
    return [name for name, value in need.items() if not value]


def api_key(provider: str) -> str:
    """The provider's key; only an openai_compatible server may go without one (a local Ollama needs none)."""
    var = KEY_VARS[provider]
    key = _env(var)
    if not key and provider != "openai_compatible":
        raise SettingsError(f"AI_PROVIDER={provider} needs the key in {var}")
    return key
