"""What the servers the tests start on 127.0.0.1 share: finding a port, seeing whether one answers, installing."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def apt_install(package: str) -> None:
    """Debian's package, as root or through passwordless sudo. Test processes install one at a time, and apt
    waits for a dpkg lock another installer holds rather than failing at once."""
    import fcntl
    import tempfile

    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    wait = ["-o", "DPkg::Lock::Timeout=600"]
    with open(os.path.join(tempfile.gettempdir(), "orchestrator-tests-apt.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run([*sudo, "apt-get", *wait, "update", "-qq"], check=True, env=env)
        subprocess.run([*sudo, "apt-get", *wait, "install", "-y", "-qq", package], check=True, env=env)


class TrackedHandler(BaseHTTPRequestHandler):
    """Keeps the server's set of open client sockets (server.connections), so stopping it can cut them."""

    def setup(self):
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self):
        self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, *args):  # one stderr line per request drowns pytest's output
        pass


def serve(httpd) -> int:
    """Serve a TrackedHandler server on a daemon thread; returns its port."""
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return httpd.server_address[1]


def shut(httpd) -> None:
    """Stop the server like a crashed process: the listener closes and open keep-alive connections die too."""
    httpd.shutdown()
    httpd.server_close()
    for conn in list(httpd.connections):
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)


def wait_until(what: str, check, timeout: float = 240, every: float = 0.5):
    """check()'s first truthy value, polled every `every` seconds; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
