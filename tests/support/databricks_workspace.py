"""A local stand-in for a Databricks workspace's REST API, for tests that drive the real databricks-sdk.

It serves what PipesDatabricksClient and the project use: DBFS, one-time job runs (runs/submit, runs/get,
runs/cancel, runs/get-output), clusters/get and secrets. A submitted run really executes: each task is a child
process of sys.executable on this machine. DBFS lives under <root>/dbfs, which the child finds through
DBFS_FUSE_ROOT (a cluster mounts it at /dbfs), and Unity Catalog volumes under <root>/volumes. Errors have the
platform's shape, {"error_code", "message"} with its HTTP status, so the SDK raises its typed exceptions.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import hmac
import itertools
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Self
from urllib.parse import parse_qsl, urlsplit

from .local_services import TrackedHandler, serve, shut

HOST = "127.0.0.1"
log = logging.getLogger(__name__)
MAX_BLOCK = 1024 * 1024  # DBFS takes and returns at most 1 MB per call
DEFAULT_READ = 512 * 1024
STDERR_LINES = 10  # how much of a failed task's stderr its state_message carries
ORCHESTRATOR_ONLY = ("AZURE_", "OSS_", "STORAGE_", "DATABRICKS_", "DAGSTER_")
TERMINAL = frozenset({"TERMINATED", "SKIPPED", "INTERNAL_ERROR"})
_API_PATH = re.compile(r"/api/2\.\d/(.+)")
_SECRET_REF = re.compile(r"\{\{secrets/([^/{}]+)/([^/{}]+)\}\}")
# A python_wheel_task runs the entry point named in the distribution's metadata (any group); failing that,
# Databricks calls <package>.<entry_point>() directly.
_WHEEL_BOOTSTRAP = """\
import importlib, sys
from importlib.metadata import distribution
package, name, *args = sys.argv[1:]
found = [ep for ep in distribution(package).entry_points if ep.name == name]
main = found[0].load() if found else getattr(importlib.import_module(package.replace("-", "_")), name)
sys.argv = [name, *args]
sys.exit(main())
"""


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _bad(message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def _missing(message: str) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)


def _exists(message: str) -> ApiError:
    return ApiError(400, "RESOURCE_ALREADY_EXISTS", message)


class SetupError(Exception):
    """A task that cannot start: its cluster or libraries could not be set up."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _kill_group(pid: int) -> None:
    # Tasks start in their own session, so the group is the task and everything it started.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _tail(path: Path, lines: int) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class _Task:
    spec: dict
    run_id: int
    workdir: Path
    life_cycle: str = "PENDING"
    result: str | None = None
    message: str = ""
    start_time: int = 0
    end_time: int = 0
    process: subprocess.Popen | None = None

    @property
    def key(self) -> str:
        return self.spec["task_key"]


@dataclass
class _Run:
    run_id: int
    name: str
    tags: dict
    tasks: list[_Task]  # in the order they run: every task after the tasks it depends on
    start_time: int = field(default_factory=_now_ms)
    end_time: int = 0
    life_cycle: str = "PENDING"
    result: str | None = None
    message: str = ""
    canceled: bool = False
    thread: threading.Thread | None = None


def _state(item: _Task | _Run, canceled: bool) -> dict:
    state = {"life_cycle_state": item.life_cycle, "state_message": item.message,
             "user_cancelled_or_timedout": canceled}
    if item.result:
        state["result_state"] = item.result
    return state


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, workspace: LocalDatabricksWorkspace):
        self.workspace = workspace
        self.connections: set[socket.socket] = set()  # open keep-alive sockets, closed by stop()
        super().__init__((HOST, 0), _Handler)


class _Handler(TrackedHandler):
    protocol_version = "HTTP/1.1"  # the SDK keeps connections alive

    def _handle(self):
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, payload = self.server.workspace.dispatch(
            self.command, url.path, dict(parse_qsl(url.query)), raw, self.headers.get("Authorization", ""))
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class LocalDatabricksWorkspace:
    """One workspace: start() serves it on a free port of 127.0.0.1, stop() ends the server and live runs."""

    def __init__(self, root: Path, token: str | None = None):
        self.root = Path(root)
        self.token = token or "dapi" + secrets.token_hex(16)
        self.port = 0
        self.submitted: list[dict] = []  # every runs/submit body that passed authentication, accepted or not
        self._secrets: dict[str, dict[str, str]] = {}
        self._clusters: dict[str, dict] = {}
        self._runs: dict[int, _Run] = {}
        self._tasks: dict[int, _Task] = {}  # by the task's own run id
        self._handles: dict[int, tuple[Path, bytearray]] = {}  # open DBFS streams (create/add-block/close)
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._routes = {
            ("GET", "dbfs/get-status"): self._dbfs_get_status,
            ("GET", "dbfs/list"): self._dbfs_list,
            ("GET", "dbfs/read"): self._dbfs_read,
            ("POST", "dbfs/mkdirs"): self._dbfs_mkdirs,
            ("POST", "dbfs/put"): self._dbfs_put,
            ("POST", "dbfs/delete"): self._dbfs_delete,
            ("POST", "dbfs/move"): self._dbfs_move,
            ("POST", "dbfs/create"): self._dbfs_create,
            ("POST", "dbfs/add-block"): self._dbfs_add_block,
            ("POST", "dbfs/close"): self._dbfs_close,
            ("POST", "jobs/runs/submit"): self._runs_submit,
            ("GET", "jobs/runs/get"): self._runs_get,
            ("POST", "jobs/runs/cancel"): self._runs_cancel,
            ("GET", "jobs/runs/get-output"): self._runs_get_output,
            ("GET", "clusters/get"): self._clusters_get,
            ("POST", "secrets/scopes/create"): self._secrets_create_scope,
            ("POST", "secrets/put"): self._secrets_put,
        }

    # ----- life cycle and the Python side

    @property
    def host(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> LocalDatabricksWorkspace:
        for name in ("dbfs", "volumes", "runs"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        self._httpd = _HTTPServer(self)
        self.port = serve(self._httpd)
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            shut(httpd)
        with self._lock:
            runs = list(self._runs.values())
            for run in runs:
                self._cancel(run)
        for run in runs:
            if run.thread is not None:
                run.thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def put_secret(self, scope: str, key: str, value: str) -> None:
        with self._lock:
            self._secrets.setdefault(scope, {})[key] = value

    def add_cluster(self, cluster_id: str, spark_version: str = "17.3.x-scala2.13",
                    node_type_id: str = "local", num_workers: int = 0,
                    spark_env_vars: dict[str, str] | None = None) -> dict:
        """An all-purpose cluster, already RUNNING, that tasks can name as existing_cluster_id."""
        cluster = {"cluster_id": cluster_id, "cluster_name": cluster_id, "spark_version": spark_version,
                   "node_type_id": node_type_id, "num_workers": num_workers, "state": "RUNNING",
                   "cluster_source": "UI", "spark_env_vars": dict(spark_env_vars or {})}
        with self._lock:
            self._clusters[cluster_id] = cluster
        return cluster

    def dbfs_path(self, path: str) -> Path:
        """The local file behind a DBFS path (dbfs:/a/b or /a/b)."""
        return self._under(self.root / "dbfs", path.removeprefix("dbfs:"))

    def volume_path(self, path: str) -> Path:
        """The local file behind a Unity Catalog volume path (/Volumes/catalog/schema/volume/...)."""
        if PurePosixPath(path).parts[:2] != ("/", "Volumes"):
            raise ValueError(f"not a /Volumes path: {path!r}")
        return self._under(self.root / "volumes", path.removeprefix("/Volumes"))

    def run_logs(self, run_id: int) -> tuple[str, str]:
        """(stdout, stderr) of a run's tasks, one after the other, or of one task given its run id."""
        with self._lock:
            tasks = [self._tasks[run_id]] if run_id in self._tasks else list(self._find_run(run_id).tasks)
        logs = [[(task.workdir / name).read_text(errors="replace") if (task.workdir / name).exists() else ""
                 for task in tasks] for name in ("stdout", "stderr")]
        return "".join(logs[0]), "".join(logs[1])

    @staticmethod
    def _under(base: Path, path: str) -> Path:
        parts = PurePosixPath(path).parts
        if not parts or parts[0] != "/":
            raise ValueError(f"not an absolute path: {path!r}")
        if ".." in parts:
            raise ValueError(f"'..' is not allowed in a path: {path!r}")
        return base.joinpath(*parts[1:])

    # ----- HTTP

    def dispatch(self, method: str, path: str, query: dict, raw: bytes,
                 authorization: str) -> tuple[int, dict]:
        try:
            if not hmac.compare_digest(authorization.encode(), f"Bearer {self.token}".encode()):
                raise ApiError(401, "UNAUTHENTICATED", "Invalid access token.")
            match = _API_PATH.fullmatch(path)
            route = self._routes.get((method, match[1])) if match else None
            if route is None:
                raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise ApiError(400, "MALFORMED_REQUEST", "Invalid JSON given in the body of the request")
            return 200, route({**query, **body})
        except ApiError as e:
            return e.status, {"error_code": e.code, "message": e.message}
        except Exception as e:
            # A bug must reach the test as an error: the SDK retries a dropped connection for minutes.
            log.exception("%s %s failed", method, path)
            return 500, {"error_code": "INTERNAL_ERROR", "message": f"{type(e).__name__}: {e}"}

    @staticmethod
    def _arg(args: dict, name: str, kind: type = str, default=None):
        value = args.get(name, default) if isinstance(args, dict) else None
        if value is None:
            raise _bad(f"Missing required field: {name}")
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise _bad(f"Invalid value for {name}: {value!r}") from None

    # ----- DBFS

    def _dbfs(self, args: dict, name: str = "path") -> tuple[str, Path]:
        """(the path as DBFS reports it, its local file)."""
        path = self._arg(args, name)
        try:
            local = self.dbfs_path(path)
        except ValueError as e:
            raise _bad(str(e)) from None
        return "/" + local.relative_to(self.root / "dbfs").as_posix().removeprefix("."), local

    @staticmethod
    def _info(path: str, local: Path) -> dict:
        st = local.stat()
        return {"path": path, "is_dir": local.is_dir(), "file_size": 0 if local.is_dir() else st.st_size,
                "modification_time": int(st.st_mtime * 1000)}

    @staticmethod
    def _decode(data: str) -> bytes:
        try:
            content = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise _bad("The data is not valid base64") from None
        if len(content) > MAX_BLOCK:
            raise ApiError(400, "MAX_BLOCK_SIZE_EXCEEDED", f"The block exceeds the {MAX_BLOCK} byte limit")
        return content

    @staticmethod
    def _check_writable(path: str, local: Path, overwrite: bool) -> None:
        if local.is_dir() or (local.exists() and not overwrite):
            raise _exists(f"A file or directory already exists at the input path {path}.")

    @staticmethod
    def _write(path: str, local: Path, content: bytes) -> None:
        try:
            local.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise _exists(f"A file exists at a parent of the input path {path}.") from None
        # Written aside and renamed, so a task reading through the FUSE root never sees half a file.
        partial = local.with_name(f".{local.name}.{secrets.token_hex(4)}.partial")
        partial.write_bytes(content)
        os.replace(partial, local)

    def _dbfs_get_status(self, args: dict) -> dict:
        path, local = self._dbfs(args)
        if not local.exists():
            raise _missing(f"No file or directory exists on path {path}.")
        return self._info(path, local)

    def _dbfs_list(self, args: dict) -> dict:
        path, local = self._dbfs(args)
        if not local.exists():
            raise _missing(f"No file or directory exists on path {path}.")
        if not local.is_dir():
            return {"files": [self._info(path, local)]}
        files = [self._info(f"{path.rstrip('/')}/{child.name}", child) for child in sorted(local.iterdir())
                 if not child.name.endswith(".partial")]
        return {"files": files} if files else {}

    def _dbfs_read(self, args: dict) -> dict:
        path, local = self._dbfs(args)
        offset = self._arg(args, "offset", int, 0)
        length = self._arg(args, "length", int, DEFAULT_READ)
        if not local.exists():
            raise _missing(f"No file or directory exists on path {path}.")
        if local.is_dir():
            raise _bad(f"The path {path} is a directory.")
        if offset < 0 or length < 0:
            raise _bad("offset and length must not be negative")
        if length > MAX_BLOCK:
            raise ApiError(400, "MAX_READ_SIZE_EXCEEDED", f"Cannot read more than {MAX_BLOCK} bytes at once")
        with open(local, "rb") as f:
            f.seek(offset)
            content = f.read(length)
        return {"bytes_read": len(content), "data": base64.b64encode(content).decode()}

    def _dbfs_mkdirs(self, args: dict) -> dict:
        path, local = self._dbfs(args)
        try:
            local.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise _exists(f"A file exists at the input path {path} or one of its parents.") from None
        return {}

    def _dbfs_put(self, args: dict) -> dict:
        path, local = self._dbfs(args)
        if "contents" not in args:
            raise _bad("contents is required: this stand-in takes no multipart uploads")
        content = self._decode(args["contents"])
        self._check_writable(path, local, bool(args.get("overwrite")))
        self._write(path, local, content)
        return {}

    def _dbfs_delete(self, args: dict) -> dict:
        path, local = self._dbfs(args)
        if local.is_dir():
            if any(local.iterdir()) and not args.get("recursive"):
                raise ApiError(400, "IO_ERROR", f"{path} is a non-empty directory; delete it recursively")
            shutil.rmtree(local)
        elif local.exists():
            local.unlink()
        return {}  # deleting what is not there succeeds, as on DBFS

    def _dbfs_move(self, args: dict) -> dict:
        source, source_local = self._dbfs(args, "source_path")
        target, target_local = self._dbfs(args, "destination_path")
        if not source_local.exists():
            raise _missing(f"No file or directory exists on path {source}.")
        if target_local.exists():
            raise _exists(f"A file or directory already exists at the input path {target}.")
        target_local.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source_local, target_local)
        return {}

    def _dbfs_create(self, args: dict) -> dict:
        path, local = self._dbfs(args)
        self._check_writable(path, local, bool(args.get("overwrite")))
        with self._lock:
            handle = next(self._ids)
            self._handles[handle] = (local, bytearray())
        return {"handle": handle}

    def _stream(self, args: dict) -> tuple[int, Path, bytearray]:
        handle = self._arg(args, "handle", int)
        with self._lock:
            if handle not in self._handles:
                raise _missing(f"Handle {handle} does not exist.")
            return handle, *self._handles[handle]

    def _dbfs_add_block(self, args: dict) -> dict:
        _, _, buffer = self._stream(args)
        buffer.extend(self._decode(self._arg(args, "data")))
        return {}

    def _dbfs_close(self, args: dict) -> dict:
        handle, local, buffer = self._stream(args)
        with self._lock:
            self._handles.pop(handle, None)
        self._write(str(local), local, bytes(buffer))
        return {}

    # ----- clusters and secrets

    def _clusters_get(self, args: dict) -> dict:
        cluster_id = self._arg(args, "cluster_id")
        with self._lock:
            if cluster_id not in self._clusters:
                # The platform answers 400 here; the SDK turns this message into ResourceDoesNotExist.
                raise _bad(f"Cluster {cluster_id} does not exist")
            return copy.deepcopy(self._clusters[cluster_id])

    def _secrets_create_scope(self, args: dict) -> dict:
        scope = self._arg(args, "scope")
        with self._lock:
            if scope in self._secrets:
                raise _exists(f"Scope {scope} already exists!")
            self._secrets[scope] = {}
        return {}

    def _secrets_put(self, args: dict) -> dict:
        scope, key = self._arg(args, "scope"), self._arg(args, "key")
        if ("string_value" in args) == ("bytes_value" in args):
            raise _bad("Exactly one of string_value and bytes_value is required")
        value = args.get("string_value")
        if value is None:
            value = self._decode(args["bytes_value"]).decode("utf-8", "replace")
        with self._lock:
            if scope not in self._secrets:
                raise _missing(f"Scope {scope} does not exist!")
            self._secrets[scope][key] = value
        return {}

    # ----- jobs: submitting

    def _runs_submit(self, args: dict) -> dict:
        with self._lock:
            self.submitted.append(copy.deepcopy(args))
        tasks = args.get("tasks")
        if not isinstance(tasks, list) or not tasks or not all(isinstance(t, dict) for t in tasks):
            raise _bad("At least one task is required.")
        keys = [task.get("task_key") for task in tasks]
        if not all(isinstance(key, str) and key for key in keys) or len(set(keys)) != len(keys):
            raise _bad("Every task needs a task_key, unique within the run.")
        for task in tasks:
            self._check_task(task)
        with self._lock:
            run_id = next(self._ids)
            run = _Run(run_id=run_id, name=str(args.get("run_name") or "Untitled"),
                       tags=dict(args.get("tags") or {}), tasks=[])
            for spec in _in_dependency_order(tasks):
                task_run_id = next(self._ids)
                workdir = self.root / "runs" / str(run_id) / str(task_run_id)
                task = _Task(copy.deepcopy(spec), task_run_id, workdir)
                run.tasks.append(task)
                self._tasks[task.run_id] = task
            self._runs[run_id] = run
            run.thread = threading.Thread(target=self._execute, args=(run,), daemon=True)
            run.thread.start()
        return {"run_id": run_id}

    def _check_task(self, task: dict) -> None:
        key = task["task_key"]
        kinds = [kind for kind in ("spark_python_task", "python_wheel_task") if kind in task]
        if len(kinds) != 1:
            raise _bad(f"Task {key}: needs exactly one of spark_python_task and python_wheel_task "
                       "(the only task types this stand-in runs)")
        if "spark_python_task" in task:
            python_file = self._arg(task["spark_python_task"], "python_file")
            try:
                self._local_file(python_file)
            except ValueError as e:
                raise _bad(f"Task {key}: {e}") from None
        else:
            self._arg(task["python_wheel_task"], "package_name")
            self._arg(task["python_wheel_task"], "entry_point")
        if ("new_cluster" in task) == ("existing_cluster_id" in task):
            raise _bad(f"Task {key}: needs exactly one of new_cluster and existing_cluster_id "
                       "(job clusters and serverless compute are not served here)")
        if "new_cluster" in task:
            cluster = task["new_cluster"]
            for name in ("spark_version", "node_type_id"):
                if not cluster.get(name):
                    raise _bad(f"Task {key}: new_cluster is missing the required field {name}")
            if cluster.get("num_workers") is None and not cluster.get("autoscale"):
                raise _bad(f"Task {key}: new_cluster needs num_workers or autoscale")
        else:
            with self._lock:
                if task["existing_cluster_id"] not in self._clusters:
                    raise _bad(f"Cluster {task['existing_cluster_id']} does not exist")
        for library in task.get("libraries") or []:
            if not isinstance(library, dict) or len(library) != 1:
                raise _bad(f"Task {key}: each library needs exactly one kind (whl, pypi, ...): {library!r}")

    def _local_file(self, path: str) -> Path:
        """A task's file reference (dbfs:/..., /Volumes/... or a local absolute path) as a local path."""
        if path.startswith("dbfs:"):
            return self.dbfs_path(path)
        if path.startswith("/Volumes/"):
            return self.volume_path(path)
        local = Path(path.removeprefix("file:"))
        if not local.is_absolute():
            raise ValueError(f"not an absolute path: {path!r}")
        return local

    # ----- jobs: running

    def _execute(self, run: _Run) -> None:
        by_key = {task.key: task for task in run.tasks}
        for task in run.tasks:
            with self._lock:
                upstream = [by_key[dep["task_key"]] for dep in task.spec.get("depends_on") or []]
                unfinished = [up for up in upstream if up.result != "SUCCESS"]
                if run.canceled:
                    task.life_cycle, task.result, task.message = "TERMINATED", "CANCELED", "Run cancelled."
                elif unfinished:
                    canceled = any(up.result in ("CANCELED", "UPSTREAM_CANCELED") for up in unfinished)
                    task.life_cycle = "SKIPPED"
                    task.result = "UPSTREAM_CANCELED" if canceled else "UPSTREAM_FAILED"
                    task.message = f"Upstream task {unfinished[0].key} did not succeed."
                else:
                    run.life_cycle, run.message = "RUNNING", "In run"
            if task.result is None:
                try:
                    self._run_task(run, task)
                except Exception as e:
                    # A run must always end: its pollers would otherwise wait for it forever.
                    log.exception("task %s of run %s failed to run", task.key, run.run_id)
                    with self._lock:
                        task.life_cycle, task.result = "INTERNAL_ERROR", "FAILED"
                        task.message = f"{type(e).__name__}: {e}"
        with self._lock:
            run.end_time = _now_ms()
            failed = next((task for task in run.tasks if task.result not in ("SUCCESS", None)
                           and not task.result.startswith("UPSTREAM_")), None)
            if run.canceled:
                run.life_cycle, run.result, run.message = "TERMINATED", "CANCELED", "Run cancelled."
            elif failed is None:
                run.life_cycle, run.result, run.message = "TERMINATED", "SUCCESS", ""
            else:
                # A cluster or library that cannot be set up fails the whole run as INTERNAL_ERROR.
                run.life_cycle = "INTERNAL_ERROR" if failed.life_cycle == "INTERNAL_ERROR" else "TERMINATED"
                run.result = "FAILED"
                skipped = any(task.life_cycle == "SKIPPED" for task in run.tasks)
                run.message = (f"Task {failed.key} failed with message: {failed.message}"
                               + (" This caused all downstream tasks to get skipped." if skipped else ""))

    def _run_task(self, run: _Run, task: _Task) -> None:
        task.start_time = _now_ms()
        try:
            env = self._task_env(task.spec)
            self._check_libraries(task.spec)
            argv = self._task_argv(task.spec)
        except SetupError as e:
            with self._lock:
                task.life_cycle, task.result, task.message = "INTERNAL_ERROR", "FAILED", str(e)
                task.end_time = _now_ms()
            return
        task.workdir.mkdir(parents=True, exist_ok=True)
        with open(task.workdir / "stdout", "wb") as out, open(task.workdir / "stderr", "wb") as err:
            process = subprocess.Popen(argv, env=env, cwd=task.workdir, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=err, start_new_session=True)
            with self._lock:
                task.process = process
                task.life_cycle, task.message = "RUNNING", "In run"
                if run.canceled:  # cancelled while the process was starting
                    _kill_group(process.pid)
            code = process.wait()
        # The cluster goes away with the task: nothing the task started outlives it.
        _kill_group(process.pid)
        with self._lock:
            task.end_time = _now_ms()
            task.life_cycle = "TERMINATED"
            if run.canceled:
                task.result, task.message = "CANCELED", "Run cancelled."
            elif code == 0:
                task.result, task.message = "SUCCESS", ""
            else:
                task.result = "FAILED"
                task.message = f"Workload failed with exit code {code}. Last lines of stderr:\n" + _tail(
                    task.workdir / "stderr", STDERR_LINES)

    def _task_env(self, spec: dict) -> dict[str, str]:
        if "new_cluster" in spec:
            cluster_env = spec["new_cluster"].get("spark_env_vars") or {}
        else:
            with self._lock:
                cluster_env = dict(self._clusters[spec["existing_cluster_id"]]["spark_env_vars"])
        # A cluster has none of the orchestrator's storage or workspace settings: what the task needs must come
        # through its spec (secret references, Pipes extras), as on Databricks.
        env = {k: v for k, v in os.environ.items() if not k.startswith(ORCHESTRATOR_ONLY)}
        for name, value in cluster_env.items():
            value = str(value)
            ref = _SECRET_REF.fullmatch(value)
            if ref:
                scope, key = ref.groups()
                with self._lock:
                    value = self._secrets.get(scope, {}).get(key)
                if value is None:
                    # Names only: a message must never carry a secret's value.
                    raise SetupError(f"Cluster could not start: spark_env_vars {name} refers to a secret "
                                     f"that does not exist with scope: {scope} and key: {key}")
            env[name] = value
        env["DBFS_FUSE_ROOT"] = str(self.root / "dbfs")
        return env

    def _check_libraries(self, spec: dict) -> None:
        # Only wheels are checked; pypi and the other kinds stay on record: the local venv already has them.
        for library in spec.get("libraries") or []:
            whl = library.get("whl")
            if whl is None:
                continue
            failure = (f'Library installation failed for library due to user error for whl: "{whl}"\n'
                       "Error messages:\n")
            if not str(whl).startswith(("dbfs:/", "/Volumes/")):
                raise SetupError(failure + "Python wheels must be stored in UC Volumes or dbfs here (the URI "
                                           f"must begin with 'dbfs:' or '/Volumes'), but the URI is '{whl}'")
            try:
                found = self._local_file(whl).is_file()
            except ValueError as e:
                raise SetupError(failure + str(e)) from None
            if not found:
                raise SetupError(f"{failure}java.io.FileNotFoundException: {whl} (No such file or directory)")

    def _task_argv(self, spec: dict) -> list[str]:
        if "spark_python_task" in spec:
            task = spec["spark_python_task"]
            script = self._local_file(task["python_file"])
            return [sys.executable, str(script), *map(str, task.get("parameters") or [])]
        task = spec["python_wheel_task"]
        named = [f"--{name}={value}" for name, value in (task.get("named_parameters") or {}).items()]
        return [sys.executable, "-c", _WHEEL_BOOTSTRAP, task["package_name"], task["entry_point"],
                *map(str, task.get("parameters") or []), *named]

    # ----- jobs: watching and cancelling

    def _find_run(self, run_id: int) -> _Run:
        if run_id not in self._runs:
            # 400 with this message is what the platform sends; the SDK maps it to ResourceDoesNotExist.
            raise _bad(f"Run {run_id} does not exist.")
        return self._runs[run_id]

    def _task_json(self, task: _Task, canceled: bool) -> dict:
        return {**copy.deepcopy(task.spec), "run_id": task.run_id, "state": _state(task, canceled),
                "attempt_number": 0, "start_time": task.start_time, "end_time": task.end_time,
                "run_page_url": f"{self.host}/#job/runs/{task.run_id}"}

    def _runs_get(self, args: dict) -> dict:
        with self._lock:
            run = self._find_run(self._arg(args, "run_id", int))
            return {"run_id": run.run_id, "number_in_job": run.run_id, "run_name": run.name,
                    "run_type": "SUBMIT_RUN", "state": _state(run, run.canceled),
                    "start_time": run.start_time, "end_time": run.end_time,
                    "run_page_url": f"{self.host}/#job/runs/{run.run_id}",
                    "tasks": [self._task_json(task, run.canceled) for task in run.tasks],
                    "tags": dict(run.tags)}

    def _runs_get_output(self, args: dict) -> dict:
        run_id = self._arg(args, "run_id", int)
        with self._lock:
            task = self._tasks.get(run_id)
            if task is None:
                self._find_run(run_id)
                raise _bad("Retrieving the output of runs with multiple tasks is not supported. "
                           "Please retrieve the output of each individual task run instead.")
            output = {"metadata": self._task_json(task, False)}
            failed = task.result == "FAILED"
        output["logs"] = _tail(task.workdir / "stdout", 1000)
        if failed:
            output["error"] = task.message
            output["error_trace"] = _tail(task.workdir / "stderr", 1000)
        return output

    def _runs_cancel(self, args: dict) -> dict:
        with self._lock:
            self._cancel(self._find_run(self._arg(args, "run_id", int)))
        return {}

    def _cancel(self, run: _Run) -> None:
        """Under the lock: the run's thread notices and finishes the run as CANCELED."""
        if run.life_cycle in TERMINAL:
            return
        run.canceled = True
        run.life_cycle = "TERMINATING"
        for task in run.tasks:
            if task.process is not None and task.process.poll() is None:
                task.life_cycle = "TERMINATING"
                _kill_group(task.process.pid)


def _in_dependency_order(tasks: list[dict]) -> list[dict]:
    """Tasks in submission order, except that each follows the tasks it depends_on."""
    keys = {task["task_key"] for task in tasks}
    needs = {}
    for task in tasks:
        deps = [dep.get("task_key") if isinstance(dep, dict) else None
                for dep in task.get("depends_on") or []]
        unknown = [dep for dep in deps if dep not in keys]
        if unknown:
            raise _bad(f"Task {task['task_key']} depends on {unknown[0]!r}, which is not a task of this run")
        needs[task["task_key"]] = set(deps)
    order: list[dict] = []
    done: set[str] = set()
    while len(order) < len(tasks):
        ready = next((task for task in tasks
                      if task["task_key"] not in done and needs[task["task_key"]] <= done), None)
        if ready is None:
            raise _bad("The tasks' depends_on form a cycle")
        order.append(ready)
        done.add(ready["task_key"])
    return order
