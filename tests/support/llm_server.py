"""A model server on 127.0.0.1 for the tests: OpenAI chat completions (also at Azure OpenAI's deployment path)
and Anthropic messages, replaying scripted answers, with each protocol's authentication and error bodies.

Every request is kept (path, query, headers, JSON body) so tests can check what the real SDKs sent.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from support.local_services import HOST, TrackedHandler


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict


@dataclass
class Answer:
    """One scripted reply: a spec (dict) or raw text, an HTTP error status, or a delay before answering."""

    content: dict | str | None = None
    status: int = 200
    delay: float = 0.0
    input_tokens: int = 1200
    output_tokens: int = 900
    only_for_json_mode: str | None = None  # answer 400 unless the request asks for this response_format type


@dataclass
class LLMServer:
    key: str = "sk-test-123456"
    port: int = 0
    script: list[Answer] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    def start(self) -> LLMServer:
        server = self

        class Handler(TrackedHandler):
            def do_POST(self):
                server._handle(self)

        self._stop = threading.Event()
        self.httpd = ThreadingHTTPServer((HOST, self.port), Handler)
        self.httpd.connections = set()
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        for conn in list(self.httpd.connections):
            conn.close()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def reset(self, *answers: Answer) -> None:
        self.script[:] = list(answers)
        self.seen.clear()

    # ---- the wire -------------------------------------------------------------------------------
    def _handle(self, h) -> None:
        url = urlparse(h.path)
        length = int(h.headers.get("content-length", 0))
        raw = h.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else {}
        headers = {k.lower(): v for k, v in h.headers.items()}
        self.seen.append(Seen("POST", url.path, parse_qs(url.query), headers, body))
        if url.path == "/v1/messages":
            protocol = "anthropic"
        elif url.path.endswith("/chat/completions"):
            protocol = "openai"
        else:
            return self._send(h, 404, {"error": {"message": f"no route {url.path}", "type": "not_found"}})
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        # Azure sends api-key; OpenAI a bearer token; Anthropic x-api-key (older SDKs) or a bearer token.
        given = {"anthropic": headers.get("x-api-key") or bearer, "openai": headers.get("api-key") or bearer}
        if given[protocol] != self.key:
            # Real services echo (part of) the key they were given; the client must not repeat it.
            return self._error(h, protocol, 401, "authentication_error", f"Incorrect API key provided: {given[protocol]}")
        if not self.script:
            return self._error(h, protocol, 500, "api_error", "no scripted answer left")
        answer = self.script.pop(0)
        if answer.delay and self._stop.wait(answer.delay):
            return None
        if answer.only_for_json_mode and body.get("response_format", {}).get("type") != answer.only_for_json_mode:
            self.script.insert(0, answer)
            return self._error(h, protocol, 400, "invalid_request_error", "response_format json_schema is not supported")
        if answer.status != 200:
            kind = {429: "rate_limit_error", 401: "authentication_error"}.get(answer.status, "api_error")
            return self._error(h, protocol, answer.status, kind, f"scripted {answer.status}")
        if protocol == "anthropic":
            return self._send(h, 200, self._anthropic(body, answer))
        return self._send(h, 200, self._openai(body, answer))

    @staticmethod
    def _openai(body: dict, answer: Answer) -> dict:
        text = answer.content if isinstance(answer.content, str) else json.dumps(answer.content)
        return {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": answer.input_tokens, "completion_tokens": answer.output_tokens,
                          "total_tokens": answer.input_tokens + answer.output_tokens}}

    @staticmethod
    def _anthropic(body: dict, answer: Answer) -> dict:
        if isinstance(answer.content, dict):
            block = {"type": "tool_use", "id": "toolu_test", "name": body["tools"][0]["name"], "input": answer.content}
            stop = "tool_use"
        else:
            block, stop = {"type": "text", "text": answer.content or ""}, "end_turn"
        return {"id": "msg_test", "type": "message", "role": "assistant", "model": body.get("model", ""),
                "content": [block], "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens}}

    def _error(self, h, protocol: str, status: int, kind: str, message: str) -> None:
        if protocol == "anthropic":
            body = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            body = {"error": {"message": message, "type": kind, "code": None}}
        extra = {"retry-after-ms": "10"} if status == 429 else {}
        self._send(h, status, body, extra)

    @staticmethod
    def _send(h, status: int, body: dict, extra: dict | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            h.send_response(status)
            h.send_header("content-type", "application/json")
            h.send_header("content-length", str(len(data)))
            for k, v in (extra or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a time-out test)
