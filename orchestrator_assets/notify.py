"""Notifications of failed runs and failed checks to a webhook: Slack, Microsoft Teams, or plain JSON.

One generic HTTPS POST covers all three (Slack and Teams incoming webhooks take a JSON body of their own shape),
so no SDK is needed. The webhook URL carries its secret (Slack's and Teams' URLs are the credential), so it is
read from the environment when a notification is sent and only its scheme and host ever appear in a log line
or an error.
"""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .settings import NotifySettings, SettingsError, notify_settings


@dataclass(frozen=True)
class Notice:
    """What went wrong, in the words of a message: a title, facts (label -> value), and a link to the run."""
    event: str  # run_failure | check_failure
    title: str
    facts: dict[str, str] = field(default_factory=dict)
    url: str | None = None

    def text(self) -> str:
        return "\n".join([self.title, *(f"{k}: {v}" for k, v in self.facts.items())]
                         + ([f"run: {self.url}"] if self.url else []))


def run_url(run_id: str) -> str | None:
    ui = os.environ.get("DAGSTER_UI_URL", "").strip().rstrip("/")
    return f"{ui}/runs/{run_id}" if ui else None


def payload(notice: Notice, style: str) -> dict:
    if style == "slack":  # Slack incoming webhook: text is the fallback, blocks the message
        body = "\n".join(f"*{k}:* {v}" for k, v in notice.facts.items())
        if notice.url:
            body += f"\n<{notice.url}|Open the run in Dagster>"
        return {"text": notice.text(), "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": notice.title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body or notice.title}}]}
    if style == "teams":  # Teams workflow webhook ("when a Teams webhook request is received"): an Adaptive Card
        card = {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "version": "1.4", "body": [
                    {"type": "TextBlock", "text": notice.title, "weight": "Bolder", "size": "Medium", "wrap": True},
                    {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in notice.facts.items()]}]}
        if notice.url:
            card["actions"] = [{"type": "Action.OpenUrl", "title": "Open the run in Dagster", "url": notice.url}]
        return {"type": "message", "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}
    return {"event": notice.event, "title": notice.title, **notice.facts, "url": notice.url}


def redacted(url: str) -> str:
    """The URL as it may be shown: scheme and host only; path and query hold the webhook's secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "") + "/…"


def _post(url: str, body: bytes, timeout: float) -> None:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "orchestrator"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()


def _reason(err: Exception) -> str:
    # Never str(err) of a URLError/HTTPError as a whole: some carry the URL.
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"{type(err.reason).__name__}: {getattr(err.reason, 'strerror', None) or 'unreachable'}"
    return type(err).__name__


def send(notice: Notice, log: Callable[[str], None], settings: NotifySettings | None = None,
         sleep: Callable[[float], None] = time.sleep) -> bool:
    """POST the notice; retried with doubling delays up to the configured attempts. Never raises: a webhook
    that is down is logged (without its secret) and the caller goes on. False if not delivered."""
    try:
        settings = settings or notify_settings()
    except SettingsError as err:  # a bad setting must not stop the sensor that reports failures
        log(f"notification '{notice.title}' not sent: {err}")
        return False
    if not settings.webhook_url:
        return False
    body = json.dumps(payload(notice, settings.style)).encode()
    delay = settings.first_delay
    for attempt in range(1, settings.attempts + 1):
        try:
            _post(settings.webhook_url, body, settings.timeout)
            return True
        except (urllib.error.URLError, OSError, ValueError) as err:
            # 4xx other than 429 means the request itself is refused (bad URL, revoked hook): retrying is futile.
            final = attempt == settings.attempts or (isinstance(err, urllib.error.HTTPError)
                                                     and 400 <= err.code < 500 and err.code != 429)
            if final:
                log(f"notification '{notice.title}' to {redacted(settings.webhook_url)} not delivered after "
                    f"{attempt} attempt(s): {_reason(err)}")
                return False
            sleep(delay)
            delay *= 2
    return False
