"""Environment choice, in one place. Everything configurable comes from environment variables.

ORCHESTRATOR_DATA_DIR  where local storage and the DuckDB warehouse live (default: <project>/data)
STORAGE_BACKEND        local | adls | oss
SYNC_TARGET_BACKEND    where the sync job copies to by default (default: local)
STORAGE_PREFIX         folder inside the container or bucket that holds the layers (default: none)
CLEANING_ENGINE        pandas | duckdb | spark
SPARK_RUNTIME          local | databricks: where the spark engine runs (local: a local[*] session in the run)
SPARK_DRIVER_MEMORY    heap of a local Spark session, e.g. 8g (default: half the machine's memory)
WAREHOUSE              duckdb | mysql: where dbt builds Gold (duckdb, the embedded default); also the dbt target
DBT_PROFILES_DIR       the folder of the profiles.yml dbt uses (default: dbt_project/, the repository's own)
DUCKDB_PATH            the warehouse file (default: <data dir>/warehouse.duckdb)
DUCKDB_MEMORY_LIMIT    memory the DuckDB cleaning engine and Bronze reader may use before spilling, e.g. 4GB or
                       512MiB (default: half the memory available when the connection opens, at most 4GiB:
                       past that DuckDB spills, which keeps a 10M-order job within 6 GiB)
DUCKDB_TEMP_DIR        where they spill past that limit (default: the run's scratch directory, removed after)
MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_DATABASE   the MySQL/MariaDB warehouse (127.0.0.1, 3306, root,
                       orchestrator_gold); MYSQL_PASSWORD from the environment only (default: empty)

ORCHESTRATOR_WAIT_REPORT_SECONDS  how often `orchestrator submit` says what its run waits for (15)

Notifications (notify.py), read at each sensor tick:
NOTIFY_WEBHOOK_URL      where failed runs and failed checks are posted (default: none, no notifications); the
                        URL is a secret (Slack's and Teams' carry their token) and is never logged
NOTIFY_WEBHOOK_FORMAT   slack | teams | json: the body's shape (json)
NOTIFY_ATTEMPTS         tries per notification, 1 s then doubling between them (3)
NOTIFY_TIMEOUT_SECONDS  per try (10)
DAGSTER_UI_URL          the Dagster UI's address, e.g. http://127.0.0.1:3000, for links to the run (default: none)

Routing and automation. The ROUTER_ variables are read at every sensor or schedule evaluation (a bad value
fails that tick and names the variable); the others when the code location loads.
ROUTER_SMALL_MAX_RECORDS        Bronze records up to which a job is cleaned by pandas on the small path (1000000)
ROUTER_SINGLE_NODE_MAX_RECORDS  records up to which DuckDB on one machine takes it; Spark beyond (100000000)
                                (the defaults come from docs/benchmarks.md, "Router thresholds")
ROUTER_FORCE_ENGINE             pandas | duckdb | spark: one engine for every job of a deployment (default: none)
BRONZE_SENSOR_STATUS            stopped | running: the arrival sensor's state when first deployed (stopped)
SCHEDULES_STATUS                stopped | running: the same for the two batch schedules (stopped)
SMALL_BATCH_CRON                the small-batch sweep, UTC (*/15 * * * *)
LARGE_BATCH_CRON                the large-batch window, UTC (0 2 * * *)

Databricks (SPARK_RUNTIME=databricks; see deploy/databricks.md). The workspace credential (DATABRICKS_TOKEN, or
DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET) is read by the Databricks SDK from the environment.
DATABRICKS_HOST                 the workspace URL
DATABRICKS_CODE_PATH            where `orchestrator databricks-upload` put the code (/Volumes/... or dbfs:/...)
DATABRICKS_CLUSTER_ID           run on this all-purpose cluster instead of a new job cluster per run (default: none)
DATABRICKS_SPARK_VERSION        runtime of the job cluster (17.3.x-scala2.13: Spark 4.0, as pinned here)
DATABRICKS_NODE_TYPE            node type of the job cluster (Standard_D4ds_v5)
DATABRICKS_MIN_WORKERS, _MAX_WORKERS   autoscaling range of the job cluster (1, 4)
DATABRICKS_SECRET_SCOPE         secret scope holding the storage credentials (orchestrator)
DATABRICKS_SECRET_ENV           NAME=secret-key,...: environment variables the cluster reads from that scope
                                (default by backend: adls AZURE_STORAGE_KEY=azure-storage-key; oss
                                OSS_ACCESS_KEY_ID=oss-access-key-id,OSS_ACCESS_KEY_SECRET=oss-access-key-secret)
DATABRICKS_TIMEOUT_SECONDS      a run still going after this is cancelled by Databricks (10800)

Azure (adls): AZURE_STORAGE_CONTAINER, and AZURE_STORAGE_ACCOUNT or AZURE_STORAGE_ACCOUNT_URL; credentials from
AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, else DefaultAzureCredential
(AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, managed identity, az login).
Alibaba Cloud (oss): OSS_BUCKET, OSS_ENDPOINT (e.g. https://oss-cn-hangzhou.aliyuncs.com); credentials from
OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET, plus OSS_SECURITY_TOKEN for an STS token.
Secrets are read here when a backend is opened and are never part of resource config, run config or logs.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"


def dbt_profiles_dir() -> Path:
    return Path(os.environ.get("DBT_PROFILES_DIR", "").strip() or DBT_PROJECT_DIR).resolve()

STORAGE_BACKENDS = ("local", "adls", "oss")
WAREHOUSES = ("duckdb", "mysql")
# The engines the router may choose; they need not all be installed for a route to be computed.
ROUTED_ENGINES = ("pandas", "duckdb", "spark")
INSTIGATOR_STATUSES = ("stopped", "running")
SPARK_RUNTIMES = ("local", "databricks")


class SettingsError(ValueError):
    pass


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower()
    if value not in allowed:
        raise SettingsError(f"{name}={value!r} is not supported; choose one of: {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    cleaning_engine: str
    warehouse: str
    duckdb_path: Path
    sync_target_backend: str

    @property
    def storage_root(self) -> Path:
        return self.data_dir / "storage"


def load_settings() -> Settings:
    from .cleaning.engines import ENGINES

    data_dir = Path(os.environ.get("ORCHESTRATOR_DATA_DIR", PROJECT_DIR / "data")).resolve()
    return Settings(
        data_dir=data_dir,
        cleaning_engine=_choice("CLEANING_ENGINE", "pandas", tuple(ENGINES)),
        warehouse=_choice("WAREHOUSE", "duckdb", WAREHOUSES),
        duckdb_path=Path(os.environ.get("DUCKDB_PATH", data_dir / "warehouse.duckdb")).resolve(),
        sync_target_backend=_choice("SYNC_TARGET_BACKEND", "local", STORAGE_BACKENDS),
    )


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise SettingsError(f"{name}={raw!r} is not a positive whole number")
    return value


def wait_report_seconds() -> int:
    return _positive_int("ORCHESTRATOR_WAIT_REPORT_SECONDS", 15)


NOTIFY_FORMATS = ("slack", "teams", "json")


@dataclass(frozen=True)
class NotifySettings:
    webhook_url: str
    style: str
    attempts: int
    timeout: float
    first_delay: float = 1.0

    def __repr__(self) -> str:  # never the URL: it is the webhook's credential
        return f"NotifySettings(style={self.style!r}, attempts={self.attempts}, configured={bool(self.webhook_url)})"


def notify_settings() -> NotifySettings:
    url = os.environ.get("NOTIFY_WEBHOOK_URL", "").strip()
    if url and not url.lower().startswith(("https://", "http://")):
        raise SettingsError("NOTIFY_WEBHOOK_URL must start with https:// or http:// (value not shown: it is secret)")
    return NotifySettings(webhook_url=url, style=_choice("NOTIFY_WEBHOOK_FORMAT", "json", NOTIFY_FORMATS),
                          attempts=_positive_int("NOTIFY_ATTEMPTS", 3),
                          timeout=float(_positive_int("NOTIFY_TIMEOUT_SECONDS", 10)))


_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def memory_bytes(amount: str) -> int:
    """An amount as DUCKDB_MEMORY_LIMIT takes it (4GB, 512MiB: DuckDB's units, KB = 1000 bytes) in bytes."""
    found = _MEMORY.fullmatch(amount.strip())
    if not found:
        raise SettingsError(f"{amount!r} is not an amount of memory such as 4GB or 512MiB")
    return int(float(found.group(1)) * _UNITS[found.group(2).lower()])


def _available_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


DUCKDB_DEFAULT_CAP = 4 * 2**30


def duckdb_limits(scratch: Path) -> dict[str, str]:
    """DuckDB connection settings for cleaning: a memory limit taken from the machine, and a spill directory."""
    limit = os.environ.get("DUCKDB_MEMORY_LIMIT", "").strip()
    if limit:
        try:
            memory_bytes(limit)
        except SettingsError as err:
            raise SettingsError(f"DUCKDB_MEMORY_LIMIT={err}") from None
    # Half of what is free now, not of the machine: other runs share it. Capped because spilling costs less
    # than the memory a job of any size would otherwise take.
    limit = limit or f"{max(256, min(_available_bytes() // 2, DUCKDB_DEFAULT_CAP) // 2**20)}MiB"
    spill = os.environ.get("DUCKDB_TEMP_DIR", "").strip() or str(scratch / "duckdb-spill")
    return {"memory_limit": limit, "temp_directory": spill}


def spark_runtime() -> str:
    return _choice("SPARK_RUNTIME", "local", SPARK_RUNTIMES)


SECRET_ENV_DEFAULTS = {
    "adls": "AZURE_STORAGE_KEY=azure-storage-key",
    "oss": "OSS_ACCESS_KEY_ID=oss-access-key-id,OSS_ACCESS_KEY_SECRET=oss-access-key-secret",
    "local": "",
}
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_SECRET_KEY = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def parse_secret_env(raw: str) -> dict[str, str]:
    """"NAME=key,NAME2=key2" -> {NAME: key}; names and keys are checked, as they end up in a cluster spec."""
    pairs = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, key = (x.strip() for x in item.partition("="))
        if not sep or not _ENV_NAME.fullmatch(name) or not _SECRET_KEY.fullmatch(key):
            raise SettingsError(f"DATABRICKS_SECRET_ENV: {item!r} is not NAME=secret-key (NAME in capitals, key of "
                                "letters, digits, '_', '.' or '-')")
        pairs[name] = key
    return pairs


@dataclass(frozen=True)
class DatabricksSettings:
    host: str
    code_path: str
    cluster_id: str
    spark_version: str
    node_type: str
    min_workers: int
    max_workers: int
    secret_scope: str
    secret_env: str  # unparsed; "" means the default of the storage backend
    timeout_seconds: int

    def secrets_for(self, backend: str) -> dict[str, str]:
        return parse_secret_env(self.secret_env or SECRET_ENV_DEFAULTS[backend])


def databricks_settings() -> DatabricksSettings:
    workers = _positive_int("DATABRICKS_MIN_WORKERS", 1), _positive_int("DATABRICKS_MAX_WORKERS", 4)
    if workers[0] > workers[1]:
        raise SettingsError(f"DATABRICKS_MIN_WORKERS ({workers[0]}) is above DATABRICKS_MAX_WORKERS ({workers[1]})")
    scope = _env("DATABRICKS_SECRET_SCOPE") or "orchestrator"
    if not _SECRET_KEY.fullmatch(scope):
        raise SettingsError(f"DATABRICKS_SECRET_SCOPE={scope!r} is not a valid secret scope name")
    return DatabricksSettings(
        host=_env("DATABRICKS_HOST").rstrip("/"), code_path=_env("DATABRICKS_CODE_PATH").rstrip("/"),
        cluster_id=_env("DATABRICKS_CLUSTER_ID"),
        spark_version=_env("DATABRICKS_SPARK_VERSION") or "17.3.x-scala2.13",
        node_type=_env("DATABRICKS_NODE_TYPE") or "Standard_D4ds_v5",
        min_workers=workers[0], max_workers=workers[1], secret_scope=scope, secret_env=_env("DATABRICKS_SECRET_ENV"),
        timeout_seconds=_positive_int("DATABRICKS_TIMEOUT_SECONDS", 10_800),
    )


@dataclass(frozen=True)
class RouterSettings:
    small_max_records: int
    single_node_max_records: int
    force_engine: str  # "" routes by size


def router_settings() -> RouterSettings:
    small = _positive_int("ROUTER_SMALL_MAX_RECORDS", 1_000_000)
    single = _positive_int("ROUTER_SINGLE_NODE_MAX_RECORDS", 100_000_000)
    if small >= single:
        raise SettingsError(f"ROUTER_SMALL_MAX_RECORDS ({small}) must be below ROUTER_SINGLE_NODE_MAX_RECORDS "
                            f"({single})")
    force = os.environ.get("ROUTER_FORCE_ENGINE", "").strip().lower()
    if force and force not in ROUTED_ENGINES:
        raise SettingsError(f"ROUTER_FORCE_ENGINE={force!r} is not supported; choose one of: "
                            f"{', '.join(ROUTED_ENGINES)}, or leave it empty to route by size")
    return RouterSettings(small, single, force)


def _cron(name: str, default: str) -> str:
    value = " ".join(os.environ.get(name, default).split())
    # Dagster checks each field when it builds the schedule; the count is checked here to name the variable.
    if len(value.split(" ")) != 5:
        raise SettingsError(f"{name}={value!r} is not a cron expression of five fields (minute hour day month "
                            "weekday)")
    return value


@dataclass(frozen=True)
class AutomationSettings:
    bronze_sensor_status: str
    schedules_status: str
    small_batch_cron: str
    large_batch_cron: str


def automation_settings() -> AutomationSettings:
    return AutomationSettings(
        bronze_sensor_status=_choice("BRONZE_SENSOR_STATUS", "stopped", INSTIGATOR_STATUSES),
        schedules_status=_choice("SCHEDULES_STATUS", "stopped", INSTIGATOR_STATUSES),
        small_batch_cron=_cron("SMALL_BATCH_CRON", "*/15 * * * *"),
        large_batch_cron=_cron("LARGE_BATCH_CRON", "0 2 * * *"),
    )


@dataclass(frozen=True)
class MySQLSettings:
    host: str
    port: int
    user: str
    database: str
    # LOAD DATA LOCAL INFILE for the Silver load when the server allows it; off: batched inserts only.
    local_infile: bool = True

    def describe(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.database}"


_MYSQL_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")


def mysql_settings() -> MySQLSettings:
    """Everything but the password, which is read from MYSQL_PASSWORD when a connection is opened."""
    database = _env("MYSQL_DATABASE") or "orchestrator_gold"
    if not _MYSQL_NAME.fullmatch(database):
        raise SettingsError(f"MYSQL_DATABASE={database!r} is not a plain database name (letters, digits, '_')")
    return MySQLSettings(host=_env("MYSQL_HOST") or "127.0.0.1", port=_positive_int("MYSQL_PORT", 3306),
                         user=_env("MYSQL_USER") or "root", database=database,
                         local_infile=_choice("MYSQL_LOCAL_INFILE", "on", ("on", "off")) == "on")


@dataclass(frozen=True)
class StorageSettings:
    """Where the layers live; everything but the secrets, which are read from the environment on use."""

    backend: str
    root: str = ""
    prefix: str = ""
    container: str = ""
    account: str = ""
    account_url: str = ""
    bucket: str = ""
    endpoint: str = ""


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def azure_account_url() -> str:
    if _env("AZURE_STORAGE_ACCOUNT_URL"):
        return _env("AZURE_STORAGE_ACCOUNT_URL")
    return f"https://{_env('AZURE_STORAGE_ACCOUNT')}.blob.core.windows.net" if _env("AZURE_STORAGE_ACCOUNT") else ""


def storage_settings(backend: str | None = None) -> StorageSettings:
    """The settings of one backend (by default the one STORAGE_BACKEND names)."""
    chosen = backend or _choice("STORAGE_BACKEND", "local", STORAGE_BACKENDS)
    if chosen not in STORAGE_BACKENDS:
        raise SettingsError(f"storage backend {chosen!r} is not supported; choose one of: {', '.join(STORAGE_BACKENDS)}")
    return StorageSettings(
        backend=chosen, root=str(load_settings().storage_root), prefix=_env("STORAGE_PREFIX"),
        container=_env("AZURE_STORAGE_CONTAINER"), account=_env("AZURE_STORAGE_ACCOUNT"),
        account_url=azure_account_url(),
        bucket=_env("OSS_BUCKET"), endpoint=_env("OSS_ENDPOINT"),
    )


def azure_secrets() -> dict[str, str]:
    """Whichever Azure credential is set, by precedence; empty means DefaultAzureCredential."""
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN"):
        if _env(name):
            return {name: _env(name)}
    return {}


def oss_secrets() -> dict[str, str]:
    return {name: _env(name) for name in ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SECURITY_TOKEN")}


@contextmanager
def patched_env(env: dict[str, str]) -> Iterator[None]:
    """Set these environment variables for the block, then put back what was there (or nothing)."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
