"""A private nginx on 127.0.0.1 for the tests, serving one site file (deploy/proxy/dagster.conf, filled in).

It runs in the foreground (daemon off) with its prefix, pid, logs and temporary files in its own directory,
installing Debian's nginx first if it is missing, and is stopped afterwards.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from .local_services import answers, apt_install

BINARY = "/usr/sbin/nginx"


def _install() -> None:
    if not (shutil.which("nginx") or Path(BINARY).exists()):
        apt_install("nginx")


def _main_config(workdir: Path, site: Path) -> str:
    temp = {name: workdir / "tmp" / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(parents=True, exist_ok=True)
    # As root nginx hands requests to an unprivileged worker, which could not read the htpasswd file or
    # write temporary files inside pytest's private (0700) directories.
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""{user}
daemon off;
worker_processes 1;
pid {workdir / 'nginx.pid'};
error_log {workdir / 'error.log'} info;
events {{ worker_connections 128; }}
http {{
    access_log {workdir / 'access.log'};
    client_body_temp_path {temp['client_body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
    include {site};
}}
"""


class Nginx:
    def __init__(self, workdir: Path, site: Path, port: int):
        self.workdir, self.site, self.port = workdir, site, port
        self.process: subprocess.Popen | None = None

    @property
    def error_log(self) -> str:
        path = self.workdir / "error.log"
        return path.read_text() if path.exists() else ""

    def start(self) -> Nginx:
        _install()
        config = self.workdir / "nginx.conf"
        config.write_text(_main_config(self.workdir, self.site))
        # -e: the error log before the configuration is read, else nginx tries /var/log/nginx/error.log.
        command = [BINARY, "-p", str(self.workdir), "-c", str(config), "-e", str(self.workdir / "error.log")]
        checked = subprocess.run([*command, "-t"], check=False, capture_output=True, text=True)
        if checked.returncode:
            raise RuntimeError(f"nginx refused the configuration:\n{checked.stderr}")
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not start:\n{self.error_log}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: fast shutdown of the master and its worker
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
