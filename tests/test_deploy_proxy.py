"""deploy/proxy/dagster.conf: a real nginx in front of the real dagster-webserver, over TLS, with basic auth.

Expected: nothing is served without a valid user (UI, static files, /graphql); GraphQL over GET (a link or an
<img> on any page would do) and form posts are refused and change nothing; JSON POSTs and the UI's WebSocket
work; requests and WebSockets that another site's page starts (foreign Origin) are refused.
"""
from __future__ import annotations

import asyncio
import base64
import http.client
import json
import re
import ssl
import subprocess
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import dagster
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from orchestrator_assets.settings import PROJECT_DIR

pytestmark = pytest.mark.xdist_group("dagster_webserver")

SITE = PROJECT_DIR / "deploy" / "proxy" / "dagster.conf"
USERS = {"ops": "apr1 from openssl", "viewer": "sha512 from python"}
PARTITIONS = '{ assetNodeOrError(assetKey: {path: ["bronze", "orders"]}) { ... on AssetNode { partitionKeys } } }'


def add_partition(key: str) -> str:
    return ('mutation { addDynamicPartition(repositorySelector: {repositoryName: "__repository__", '
            f'repositoryLocationName: "orchestrator"}}, partitionsDefName: "jobs", partitionKey: "{key}") '
            '{ __typename } }')


def _htpasswd(path: Path) -> None:
    """The two ways deploy/proxy/README.md gives, the password on stdin so it stays out of `ps`."""
    apr1 = subprocess.run(["openssl", "passwd", "-apr1", "-stdin"], input=USERS["ops"], capture_output=True,
                          text=True, check=True).stdout.strip()
    sha512 = subprocess.run([sys.executable, "-W", "ignore", "-c",
                             "import crypt, sys; print(crypt.crypt(sys.stdin.read(), crypt.METHOD_SHA512))"],
                            input=USERS["viewer"], capture_output=True, text=True, check=True).stdout.strip()
    path.write_text(f"ops:{apr1}\nviewer:{sha512}\n")


def _certificate(workdir: Path) -> tuple[Path, Path]:
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def _render(workdir: Path, port: int, upstream: int) -> Path:
    cert, key = _certificate(workdir)
    _htpasswd(workdir / "htpasswd")
    values = {"@SERVER_NAME@": "127.0.0.1", "@LISTEN@": f"127.0.0.1:{port}", "@TLS_CERT@": str(cert),
              "@TLS_KEY@": str(key), "@HTPASSWD@": str(workdir / "htpasswd"), "@UPSTREAM@": f"127.0.0.1:{upstream}"}
    text = SITE.read_text()
    for placeholder, value in values.items():
        assert placeholder in text
        text = text.replace(placeholder, value)
    assert not re.search("@[A-Z_]+@", text)  # every placeholder filled
    site = workdir / "dagster.conf"
    site.write_text(text)
    return site


@dataclass
class Proxy:
    port: int
    tls: ssl.SSLContext

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, user: str | None = "ops", password: str | None = None,
                body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
        headers = dict(headers or {})
        if user:
            secret = USERS.get(user, "") if password is None else password
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.tls, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def graphql(self, query: str, **kwargs) -> tuple[int, dict]:
        status, _, body = self.request("POST", "/graphql", body=json.dumps({"query": query}).encode(),
                                       headers={"Content-Type": "application/json", **kwargs.pop("headers", {})},
                                       **kwargs)
        return status, json.loads(body) if body.startswith(b"{") else {}

    def partitions(self) -> list[str]:
        status, answer = self.graphql(PARTITIONS)
        assert status == 200, answer
        return answer["data"]["assetNodeOrError"]["partitionKeys"]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    from support.dagster_webserver import DagsterWebserver

    server = DagsterWebserver(tmp_path_factory.mktemp("webserver"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def proxy(webserver, tmp_path_factory):
    from support.local_services import free_port
    from support.nginx import Nginx

    workdir = tmp_path_factory.mktemp("nginx")
    port = free_port()
    nginx = Nginx(workdir, _render(workdir, port, webserver.port), port)
    try:
        nginx.start()
        yield Proxy(port, ssl.create_default_context(cafile=str(workdir / "cert.pem")))
    finally:
        nginx.stop()


def test_the_bare_webserver_runs_a_mutation_sent_as_get(webserver):
    """Why the proxy refuses GET: Dagster executes a mutation found in a GET's query string."""
    url = f"http://127.0.0.1:{webserver.port}/graphql?" + urllib.parse.urlencode({"query": add_partition("pat.bare")})
    with urllib.request.urlopen(url, timeout=60) as response:
        assert response.status == 200
    assert "pat.bare" in webserver.post(PARTITIONS)["data"]["assetNodeOrError"]["partitionKeys"]


@pytest.mark.parametrize("method,path", [("GET", "/"), ("GET", "/favicon.png"), ("GET", "/server_info"),
                                         ("POST", "/graphql")])
def test_nothing_is_served_without_a_user(proxy, method, path):
    body = json.dumps({"query": "{ version }"}).encode() if method == "POST" else None
    status, headers, answer = proxy.request(method, path, user=None, body=body,
                                            headers={"Content-Type": "application/json"})
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="Dagster"'
    assert b"1.13" not in answer and b"version" not in answer


def test_a_mutation_without_a_user_or_with_a_wrong_password_changes_nothing(proxy):
    assert proxy.request("GET", "/", user="ops", password="not the password")[0] == 401
    assert proxy.graphql(add_partition("pat.anonymous"), user=None)[0] == 401
    assert proxy.graphql(add_partition("pat.wrong"), user="ops", password="not the password")[0] == 401
    assert proxy.graphql(add_partition("pat.nobody"), user="nobody", password=USERS["ops"])[0] == 401
    assert {"pat.anonymous", "pat.wrong", "pat.nobody"}.isdisjoint(proxy.partitions())


@pytest.mark.parametrize("user", sorted(USERS))
def test_each_way_of_making_a_user_opens_the_ui(proxy, user):
    status, headers, page = proxy.request("GET", "/", user=user)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert page.startswith(b"<!DOCTYPE html>") and b"Dagster" in page
    assert proxy.request("GET", "/favicon.png", user=user)[0] == 200


# The escaped path names the same route upstream; HEAD runs the GET handler.
@pytest.mark.parametrize("method,path", [("GET", "/graphql"), ("GET", "/%67raphql"), ("HEAD", "/graphql")])
def test_graphql_over_get_is_refused_and_runs_nothing(proxy, method, path):
    key = f"pat.{method.lower()}-{path.strip('/%')}"
    status, _, _ = proxy.request(method, f"{path}?" + urllib.parse.urlencode({"query": add_partition(key)}))
    assert status == 405
    assert key not in proxy.partitions()


def test_a_get_that_only_claims_to_be_a_websocket_runs_nothing(proxy):
    """The one GET with a query string nginx passes: the webserver takes it as a (broken) handshake."""
    query = urllib.parse.urlencode({"query": add_partition("pat.fake-upgrade")})
    status, _, _ = proxy.request("GET", f"/graphql?{query}", headers={"Upgrade": "websocket"})
    assert status == 400
    assert "pat.fake-upgrade" not in proxy.partitions()


def test_a_form_post_with_the_mutation_in_the_query_string_is_refused(proxy):
    """What an HTML form on another site can send without a CORS preflight."""
    query = urllib.parse.urlencode({"query": add_partition("pat.form")})
    status, _, _ = proxy.request("POST", f"/graphql?{query}", body=b"x=1",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415
    assert "pat.form" not in proxy.partitions()


def test_the_graphiql_page_is_still_served(proxy):
    status, _, page = proxy.request("GET", "/graphql", headers={"Accept": "text/html"})
    assert status == 200 and b"graphiql" in page.lower()


def test_queries_and_mutations_posted_as_json_go_through(proxy):
    status, answer = proxy.graphql("{ version }")
    assert (status, answer) == (200, {"data": {"version": dagster.__version__}})
    status, answer = proxy.graphql(add_partition("pat.posted"), user="viewer")
    assert (status, answer) == (200, {"data": {"addDynamicPartition": {"__typename": "AddDynamicPartitionSuccess"}}})
    assert "pat.posted" in proxy.partitions()


def test_a_request_from_another_sites_page_is_refused(proxy):
    status, _ = proxy.graphql(add_partition("pat.foreign"), headers={"Origin": "https://evil.example"})
    assert status == 403
    assert "pat.foreign" not in proxy.partitions()
    status, answer = proxy.graphql("{ version }", headers={"Origin": proxy.origin})
    assert status == 200 and answer["data"]["version"] == dagster.__version__


def _subscribe(proxy: Proxy, origin: str) -> list[dict]:
    """The asyncio client: the sync one reads a TLS socket in one thread while it writes in another, which
    OpenSSL does not allow and which, now and then, loses the handshake request."""
    return asyncio.run(_subscription(proxy, origin))


async def _subscription(proxy: Proxy, origin: str) -> list[dict]:
    auth = "Basic " + base64.b64encode(f"ops:{USERS['ops']}".encode()).decode()
    async with connect(f"wss://127.0.0.1:{proxy.port}/graphql", ssl=proxy.tls, origin=origin,
                       subprotocols=["graphql-ws"], additional_headers={"Authorization": auth},
                       open_timeout=30) as ws:
        assert ws.subprotocol == "graphql-ws"
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        await ws.send(json.dumps({"type": "start", "id": "1", "payload": {"query": (
            'subscription { pipelineRunLogs(runId: "no-such-run") { __typename '
            '... on PipelineRunLogsSubscriptionFailure { message } } }')}}))
        return [json.loads(await asyncio.wait_for(ws.recv(), 30)) for _ in range(3)]


def test_the_uis_subscription_websocket_works_from_its_own_page_only(proxy):
    ack, data, complete = _subscribe(proxy, proxy.origin)
    assert ack == {"type": "connection_ack"}
    assert data["payload"]["data"]["pipelineRunLogs"] == {
        "__typename": "PipelineRunLogsSubscriptionFailure", "message": "Could not load run with id no-such-run"}
    assert complete == {"type": "complete", "id": "1"}
    with pytest.raises(InvalidStatus) as refused:
        _subscribe(proxy, "https://evil.example")
    assert refused.value.response.status_code == 403
