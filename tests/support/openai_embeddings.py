"""OpenAI's embeddings endpoint on 127.0.0.1, for the real `openai` SDK: POST /v1/embeddings (OpenAI and
compatible servers, `Authorization: Bearer`) and POST /openai/deployments/<name>/embeddings?api-version=...
(Azure OpenAI, `api-key` header). Vectors are hashed bags of words, so texts sharing words land close.

`fail` queues answers to give before the next good one: (status, body) pairs, e.g. a 429 the SDK retries.
"""
from __future__ import annotations

import base64
import json
import re
import socket
import struct
import threading
import zlib
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .local_services import HOST, TrackedHandler, serve, shut

DIM = 64
_WORD = re.compile(r"[a-z0-9äöüßéèàçñãõ]+")
_AZURE = re.compile(r"^/openai/deployments/([^/]+)/embeddings$")


def bag_of_words(text: str) -> list[float]:
    vec = [0.0] * DIM
    for word in _WORD.findall(text.lower()):
        vec[zlib.crc32(word.encode()) % DIM] += 1.0
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    return [v / norm for v in vec]


class LocalEmbeddingsServer:
    def __init__(self, api_key: str):
        self.api_key = api_key
        self.requests: list[dict] = []  # {"path", "model", "input", "query"} of every answered call
        self.fail: list[tuple[int, dict]] = []
        self._lock = threading.Lock()
        self._httpd = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> LocalEmbeddingsServer:
        self._httpd = _HTTPServer(self)
        self.port = serve(self._httpd)
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            shut(httpd)

    def texts(self) -> list[str]:
        return [t for r in self.requests for t in r["input"]]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, server: LocalEmbeddingsServer):
        self.service = server
        self.connections: set[socket.socket] = set()
        super().__init__((HOST, 0), _Handler)


def _error(status: int, message: str, kind: str) -> tuple[int, dict]:
    return status, {"error": {"message": message, "type": kind, "param": None, "code": None}}


class _Handler(TrackedHandler):
    protocol_version = "HTTP/1.1"  # the SDK keeps connections alive

    def do_POST(self):
        service: LocalEmbeddingsServer = self.server.service
        url = urlsplit(self.path)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        status, answer = self._answer(service, url, body)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("retry-after-ms", "10")
        self.end_headers()
        self.wfile.write(data)

    def _answer(self, service: LocalEmbeddingsServer, url, body: dict) -> tuple[int, dict]:
        azure = _AZURE.match(url.path)
        if url.path != "/v1/embeddings" and not azure:
            return _error(404, f"no route {url.path}", "invalid_request_error")
        if azure:
            if not parse_qs(url.query).get("api-version"):
                return _error(400, "api-version query parameter is required", "invalid_request_error")
            given = self.headers.get("api-key", "")
        else:
            given = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if given != service.api_key:
            return _error(401, f"Incorrect API key provided: {given}.", "invalid_request_error")
        with service._lock:
            if service.fail:
                return service.fail.pop(0)
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            return _error(400, "input must be a non-empty string or array of strings", "invalid_request_error")
        model = azure.group(1) if azure else body.get("model")
        with service._lock:
            service.requests.append({"path": url.path, "model": model, "input": texts, "query": url.query})
        rows = []
        for i, text in enumerate(texts):
            vec = bag_of_words(text)
            if body.get("encoding_format") == "base64":  # what the SDK asks for unless told otherwise
                vec = base64.b64encode(struct.pack(f"<{DIM}f", *vec)).decode()
            rows.append({"object": "embedding", "index": i, "embedding": vec})
        tokens = sum(len(t.split()) for t in texts)
        return 200, {"object": "list", "data": rows, "model": model,
                     "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
