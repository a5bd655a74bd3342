"""A test-only Alibaba Cloud OSS front end for a local moto S3 server.

oss2 and S3 share the REST shape, but oss2 signs with its own scheme, cannot read S3's namespaced XML and
relies on x-oss-* headers moto does not know. ``OssDialectServer`` rewrites only those differences, so tests
exercise the real oss2 SDK: signing, XML parsing, CRC64 checks and typed errors.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import logging
import socket
import threading
import uuid
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.etree import ElementTree as ET

from oss2.utils import Crc64

from .local_services import TrackedHandler, serve, shut

HOST = "127.0.0.1"
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
# OSS accepts parts from 100 KB, S3 (and moto) only from 5 MB; tests should be able to use OSS-sized parts.
OSS_MIN_PART_SIZE = 100 * 1024
# moto picks its backend from the credential scope of a SigV4 header and never verifies the signature.
_MOTO_AUTH = "AWS4-HMAC-SHA256 Credential=oss/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"
# The query parameters OSS V1 puts into the signed resource (a subset of oss2's list that covers objects).
_SIGNED_SUBRESOURCES = frozenset({
    "acl", "append", "continuation-token", "delete", "objectMeta", "partNumber", "position", "restore",
    "security-token", "symlink", "tagging", "uploadId", "uploads", "versionId", "x-oss-process",
    *(f"response-{name}" for name in ("cache-control", "content-disposition", "content-encoding",
                                      "content-language", "content-type", "expires")),
})
# oss2 always sends these list parameters, empty when unused; moto treats an empty value as a real one.
_DROP_WHEN_EMPTY = frozenset({"continuation-token", "start-after", "delimiter", "prefix", "marker",
                              "key-marker", "upload-id-marker", "part-number-marker"})
_REQUEST_HEADER_MAP = {"x-oss-copy-source": "x-amz-copy-source", "x-oss-tagging": "x-amz-tagging"}
_HOP_BY_HOP = frozenset({"host", "authorization", "connection", "keep-alive", "transfer-encoding", "expect",
                         "server", "date"})


def start_moto():
    """Start an in-process moto server; returns ``(server, endpoint)``, stop it with ``server.stop()``."""
    from moto.s3 import models as s3_models
    from moto.server import ThreadedMotoServer

    s3_models.S3_UPLOAD_PART_MIN_SIZE = OSS_MIN_PART_SIZE
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)  # port 0: the OS picks a free one
    server.start()
    return server, "http://{}:{}".format(*server.get_host_and_port())


def _moto_request(endpoint: str, method: str, path: str, body: bytes | None = None, headers=None):
    with contextlib.closing(http.client.HTTPConnection(urlsplit(endpoint).netloc, timeout=30)) as conn:
        conn.request(method, path, body=body, headers={**(headers or {}), "Authorization": _MOTO_AUTH})
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()


def create_bucket(moto_endpoint: str, name: str) -> None:
    status, _, body = _moto_request(moto_endpoint, "PUT", f"/{name}")
    if status != 200:
        raise RuntimeError(f"creating bucket {name} failed: {status} {body!r}")


def _crc64(data: bytes) -> str:
    crc = Crc64()
    crc.update(data)
    return str(crc.crc)


def _object_type(etag: str) -> str:
    return "Multipart" if "-" in etag else "Normal"


def _error_xml(code: str, message: str, request_id: str, string_to_sign: str | None = None) -> bytes:
    root = ET.Element("Error")
    for tag, text in [("Code", code), ("Message", message), ("RequestId", request_id), ("HostId", HOST),
                      ("StringToSign", string_to_sign)]:
        if text is not None:
            ET.SubElement(root, tag).text = text
    return ET.tostring(root, encoding="utf-8")


def _to_oss_xml(body: bytes) -> bytes:
    root = ET.fromstring(body)
    for element in root.iter():
        element.tag = element.tag.removeprefix(S3_NS)
    # oss2's parsers insist on elements S3 omits.
    if root.tag == "ListBucketResult":
        for contents in root.findall("Contents"):
            if contents.find("Type") is None:
                ET.SubElement(contents, "Type").text = _object_type(contents.findtext("ETag", ""))
    if root.tag == "ListMultipartUploadsResult":
        for tag in ("NextKeyMarker", "NextUploadIdMarker"):
            if root.find(tag) is None:
                ET.SubElement(root, tag)
    return ET.tostring(root, encoding="utf-8")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, layer: OssDialectServer):
        self.layer = layer
        self.connections: set[socket.socket] = set()  # open client sockets, so a "crash" can cut them
        super().__init__(address, _Handler)


class _Handler(TrackedHandler):
    protocol_version = "HTTP/1.1"  # oss2 (requests) keeps connections alive; dropping them must be visible

    def _handle(self):
        layer: OssDialectServer = self.server.layer
        url = urlsplit(self.path)
        params = parse_qsl(url.query, keep_blank_values=True)
        body = self._read_body()
        request_id = uuid.uuid4().hex[:24].upper()
        denied = layer._check_auth(self.command, self.headers, unquote(url.path), params)
        if denied:
            code, message, *string_to_sign = denied
            error = _error_xml(code, message, request_id, *string_to_sign)
            return self._reply(403, {"content-type": "application/xml", "x-oss-request-id": request_id}, error)
        query = "&".join(p for p in url.query.split("&") if p and p.rstrip("=") not in _DROP_WHEN_EMPTY)
        upstream_path = url.path + ("?" + query if query else "")
        status, headers, payload = self._forward(layer.upstream, upstream_path, body)
        headers.setdefault("x-oss-request-id", request_id)
        if status >= 400:
            status, payload = self._translate_error(layer.upstream, upstream_path, status, headers, payload)
        elif payload and headers.get("content-type", "").endswith("xml"):
            payload = _to_oss_xml(payload)
        if status == 200:
            self._add_oss_headers(layer.upstream, url.path, dict(params), headers, body, payload)
        self._reply(status, headers, payload)
        is_part = self.command == "PUT" and {"partNumber", "uploadId"} <= dict(params).keys()
        if status == 200 and is_part and layer._part_answered():
            self.close_connection = True
            layer.stop()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []  # oss2 streams iterables and unsized file objects chunked
        while size := int(self.rfile.readline().split(b";")[0], 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        self.rfile.readline()  # requests never sends trailers, only the final CRLF
        return b"".join(chunks)

    def _forward(self, upstream: str, path: str, body: bytes):
        headers = {}
        for name, value in self.headers.items():
            lower = name.lower()
            if lower.startswith("x-oss-meta-"):
                headers["x-amz-meta-" + lower.removeprefix("x-oss-meta-")] = value
            elif lower in _REQUEST_HEADER_MAP:
                headers[_REQUEST_HEADER_MAP[lower]] = value
            elif lower == "x-oss-forbid-overwrite" and value.lower() == "true":
                headers["If-None-Match"] = "*"
            elif not lower.startswith("x-oss-") and lower not in _HOP_BY_HOP:
                headers[name] = value
        status, raw_headers, payload = _moto_request(upstream, self.command, path, body or None, headers)
        out = {}  # lower-case names: moto mixes "ETag" and "content-type" styles
        for name, value in raw_headers:
            lower = name.lower()
            if lower.startswith("x-amz-meta-"):
                out["x-oss-meta-" + lower.removeprefix("x-amz-meta-")] = value
            elif lower in ("x-amz-request-id", "x-amzn-requestid"):
                out["x-oss-request-id"] = value
            elif not lower.startswith(("x-amz", "access-control-")) and lower not in _HOP_BY_HOP:
                out[lower] = value
        return status, out, payload

    def _add_oss_headers(self, upstream, path, params, headers, body, payload) -> None:
        if self.command == "POST" and "uploadId" in params:
            # S3 reports the completed object's ETag only in the body; oss2 reads headers, and checks the CRC
            # of the whole object when the caller passed part CRCs.
            headers.setdefault("etag", ET.fromstring(payload).findtext("ETag", ""))
            headers["x-oss-hash-crc64ecma"] = _crc64(_moto_request(upstream, "GET", path)[2])
        if self.command == "PUT" and "x-oss-copy-source" not in self.headers:
            headers["x-oss-hash-crc64ecma"] = _crc64(body)
        if self.command in ("GET", "HEAD") and "etag" in headers:
            headers["x-oss-object-type"] = _object_type(headers["etag"])
        if self.command == "GET" and "etag" in headers:  # ranged reads are 206 and, as on OSS, carry no CRC
            headers["x-oss-hash-crc64ecma"] = _crc64(payload)

    def _translate_error(self, upstream, upstream_path, status, headers, payload):
        if self.command == "HEAD":
            # HEAD has no body, so ask moto again with GET to learn the error code; OSS reports it in x-oss-err.
            _, _, payload = _moto_request(upstream, "GET", upstream_path)
        try:
            root = ET.fromstring(payload)
            code, message = root.findtext("Code", ""), root.findtext("Message")
        except ET.ParseError:
            code, message = "", payload.decode("utf-8", "replace")
        if code == "PreconditionFailed" and self.headers.get("x-oss-forbid-overwrite", "").lower() == "true":
            status, code, message = 409, "FileAlreadyExists", "The object you specified already exists."
        code = code or ("InternalError" if status >= 500 else "")
        error = _error_xml(code, message or code, headers["x-oss-request-id"])
        headers["content-type"] = "application/xml"
        if self.command == "HEAD":
            headers["x-oss-err"] = base64.b64encode(error).decode()
            return status, b""
        return status, error

    def _reply(self, status: int, headers: dict, payload: bytes) -> None:
        if self.command != "HEAD":  # a HEAD keeps moto's length: the size of the object
            headers["content-length"] = str(len(payload))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


class OssDialectServer:
    """An OSS endpoint on 127.0.0.1 that verifies OSS V1 signatures and stores objects in moto."""

    def __init__(self, upstream: str, access_key_id: str, access_key_secret: str,
                 security_token: str | None = None, port: int = 0):
        self.upstream = upstream.rstrip("/")
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.security_token = security_token
        self.port = port
        self._httpd: _HTTPServer | None = None
        self._lock = threading.Lock()
        self._parts_before_death = 0

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> OssDialectServer:
        # Rebinding the same port after stop() lets a test "restart" the server and inspect what survived.
        self._httpd = _HTTPServer((HOST, self.port), self)
        self.port = serve(self._httpd)
        return self

    def stop(self) -> None:
        with self._lock:
            httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        shut(httpd)

    def stop_after_parts(self, n: int) -> None:
        """Fault hook: answer n more UploadPart requests, then die as if the process was killed."""
        with self._lock:
            self._parts_before_death = n

    def _part_answered(self) -> bool:
        """True when the stop_after_parts budget has just run out; it then goes negative, so it fires once."""
        with self._lock:
            self._parts_before_death -= 1
            return self._parts_before_death == 0

    def _check_auth(self, method: str, headers, path: str, params: list[tuple[str, str]]):
        """Return ``(code, message[, extra])`` for a request OSS would refuse, else None."""
        scheme, _, credentials = headers.get("Authorization", "").partition(" ")
        key_id, _, signature = credentials.rpartition(":")
        if scheme != "OSS" or not key_id:
            return "AccessDenied", "Only OSS V1 signed requests are accepted."
        if key_id != self.access_key_id:
            return "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records."
        if headers.get("x-oss-security-token") != self.security_token:
            return "InvalidSecurityToken", "The security token you provided is invalid."
        oss_headers = sorted((k.lower(), v) for k, v in headers.items() if k.lower().startswith("x-oss-"))
        subresources = sorted((k, v) for k, v in params if k in _SIGNED_SUBRESOURCES)
        query = "&".join(f"{k}={v}" if v else k for k, v in subresources)
        string_to_sign = "\n".join([
            method,
            headers.get("Content-MD5", ""),
            headers.get("Content-Type", ""),
            headers.get("x-oss-date") or headers.get("Date", ""),
            "".join(f"{k}:{v}\n" for k, v in oss_headers) + path + ("?" + query if query else ""),
        ])
        digest = hmac.new(self.access_key_secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), signature):
            # Real OSS echoes the string it signed, which is what makes a mismatch debuggable.
            return "SignatureDoesNotMatch", "The request signature we calculated does not match.", string_to_sign
        return None
