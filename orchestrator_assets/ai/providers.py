"""One small interface over the models that can write a spec, through the official SDKs.

The SDKs' own retries are off: one bounded loop here retries rate limits, time-outs, unreachable servers and
5xx answers for every provider alike, with a back-off the settings choose (tests set it near zero).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from .settings import KEY_VARS, AISettings, api_key

TOOL_NAME = "dataset_spec"
TOOL_PURPOSE = "Return the complete dataset spec."
# A full spec is about 4,000 tokens; the margin covers verbose models.
ANTHROPIC_MAX_TOKENS = 16_000


class ProviderError(RuntimeError):
    """A model call that failed for good; the message names the provider and the setting to check, never a key."""


@dataclass(frozen=True)
class Reply:
    text: str
    input_tokens: int
    output_tokens: int
    calls: int  # HTTP calls it took, retries included


class Provider:
    name: str
    model: str

    def complete(self, system: str, messages: list[dict[str, str]], schema: dict, name: str = TOOL_NAME,
                 purpose: str = TOOL_PURPOSE) -> Reply:
        """The answer as JSON text following schema; name and purpose label it (the auditor asks other things)."""
        raise NotImplementedError


def open_provider(settings: AISettings) -> Provider:
    if settings.provider == "anthropic":
        return AnthropicMessages(settings)
    return OpenAIChat(settings)


def _retrying(settings: AISettings, label: str, call, sdk, passthrough: tuple = ()):
    """Run call(); retry what may pass on a second try; turn every other SDK error (but passthrough) into a
    ProviderError."""
    retryable = (sdk.RateLimitError, sdk.APITimeoutError, sdk.APIConnectionError, sdk.InternalServerError)
    key_var = KEY_VARS[settings.provider]
    for attempt in range(settings.retries + 1):
        try:
            return call(), attempt + 1
        except passthrough:
            raise
        except retryable as err:
            if attempt == settings.retries:
                raise ProviderError(f"{label}: {_reason(err, sdk)} after {attempt + 1} attempts "
                                    f"(AI_RETRIES={settings.retries})") from None
            time.sleep(settings.backoff_seconds * 2 ** attempt)
        except (sdk.AuthenticationError, sdk.PermissionDeniedError) as err:
            # The server's text can echo part of the key, so it is not repeated.
            raise ProviderError(f"{label} refused the credentials (HTTP {err.status_code}); check {key_var}") from None
        except sdk.NotFoundError:
            raise ProviderError(f"{label}: model or deployment {settings.model_label!r} not found (HTTP 404); "
                                "check AI_MODEL, AZURE_OPENAI_DEPLOYMENT or the base URL") from None
        except sdk.APIStatusError as err:
            raise ProviderError(f"{label} answered HTTP {err.status_code}: {_scrub(str(err), settings)[:300]}") from None


def _reason(err, sdk) -> str:
    if isinstance(err, sdk.RateLimitError):
        return "still rate-limited (HTTP 429)"
    if isinstance(err, sdk.APITimeoutError):
        return "still timing out (AI_TIMEOUT_SECONDS)"
    if isinstance(err, sdk.APIConnectionError):
        return "still unreachable"
    return f"still failing (HTTP {err.status_code})"


def _scrub(text: str, settings: AISettings) -> str:
    key = os.environ.get(KEY_VARS[settings.provider], "").strip()
    return text.replace(key, "***") if key else text


class OpenAIChat(Provider):
    """OpenAI, Azure OpenAI and OpenAI-compatible servers: the chat completions API."""

    def __init__(self, settings: AISettings):
        import openai

        self.settings, self.sdk = settings, openai
        self.name, self.model = settings.provider, settings.model_label
        self.json_mode = settings.json_mode
        common = {"api_key": api_key(settings.provider) or "unused", "timeout": settings.timeout_seconds,
                  "max_retries": 0}
        if settings.provider == "azure_openai":
            self.client = openai.AzureOpenAI(azure_endpoint=settings.azure_endpoint,
                                             azure_deployment=settings.azure_deployment,
                                             api_version=settings.api_version, **common)
            self.label = f"Azure OpenAI at {settings.azure_endpoint}"
        else:
            self.client = openai.OpenAI(base_url=settings.base_url or None, **common)
            self.label = f"{settings.provider} at {self.client.base_url}"

    def _format(self, schema: dict, name: str) -> dict:
        if self.json_mode == "json_object":
            return {"type": "json_object"}
        # strict mode needs every property required, which the spec's optional fields are not.
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}

    def complete(self, system, messages, schema, name=TOOL_NAME, purpose=TOOL_PURPOSE):
        def call():
            return self.client.chat.completions.create(
                model=self.model, temperature=0, response_format=self._format(schema, name),
                messages=[{"role": "system", "content": system}, *messages])

        may_fall_back = self.settings.provider == "openai_compatible" and self.json_mode == "json_schema"
        try:
            resp, calls = _retrying(self.settings, self.label, call, self.sdk,
                                    (self.sdk.BadRequestError,) if may_fall_back else ())
        except self.sdk.BadRequestError:
            # Servers without structured output refuse json_schema; JSON mode plus the schema in the prompt remains.
            self.json_mode = "json_object"
            resp, calls = _retrying(self.settings, self.label, call, self.sdk)
            calls += 1
        usage = resp.usage
        return Reply(resp.choices[0].message.content or "", getattr(usage, "prompt_tokens", 0) or 0,
                     getattr(usage, "completion_tokens", 0) or 0, calls)


class AnthropicMessages(Provider):
    """Anthropic's messages API; the spec comes back as the input of a forced tool call (input_schema)."""

    def __init__(self, settings: AISettings):
        import anthropic

        self.settings, self.sdk = settings, anthropic
        self.name, self.model = settings.provider, settings.model
        self.client = anthropic.Anthropic(api_key=api_key("anthropic"), base_url=settings.base_url or None,
                                          timeout=settings.timeout_seconds, max_retries=0)
        self.label = f"Anthropic at {self.client.base_url}"

    def complete(self, system, messages, schema, name=TOOL_NAME, purpose=TOOL_PURPOSE):
        tool = {"name": name, "description": purpose, "input_schema": schema}

        def call():
            return self.client.messages.create(
                model=self.model, max_tokens=ANTHROPIC_MAX_TOKENS, system=system,
                messages=messages, tools=[tool], tool_choice={"type": "tool", "name": name})

        resp, calls = _retrying(self.settings, self.label, call, self.sdk)
        used = [b.input for b in resp.content if b.type == "tool_use"]
        text = json.dumps(used[0]) if used else "".join(getattr(b, "text", "") for b in resp.content)
        return Reply(text, resp.usage.input_tokens or 0, resp.usage.output_tokens or 0, calls)
