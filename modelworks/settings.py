"""The one Settings object. No other module reads ``os.environ``.

Defaults give the embedded single-machine setup: SQLite and a local object store under
``home``, a background worker inside the server process, local processes for compute.
"""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path("~/.modelworks").expanduser()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODELWORKS_", extra="ignore")

    home: Path = Field(default_factory=_default_home)
    host: str = "127.0.0.1"
    port: int = 8000

    database_url: str = ""
    """SQLAlchemy URL. Empty: SQLite at ``<home>/modelworks.db``. PostgreSQL: ``postgresql+psycopg://``."""

    storage_url: str = ""
    """Object store root. Empty: ``file://<home>/storage``. S3-compatible: ``s3://``."""
    storage_endpoint: str = ""
    storage_access_key: str = ""
    storage_secret_key: str = ""
    storage_region: str = "us-east-1"
    buckets: str = ""
    """Bucket owners the operator sets, ``bucket=project,...`` (a project id, or a name unique across
    domains); applied at start. See ``storage/ownership.py`` for how else a bucket gets its project."""

    ray_address: str = ""
    """Ray cluster address; empty runs heavy compute in local processes (training jobs as local
    process groups, real-time services as local model servers). Set, training jobs are submitted to
    the cluster's Ray Jobs API and real-time services run as Ray Serve deployments."""
    ray_jobs_address: str = ""
    """The Ray Jobs API (the head's dashboard, ``http://host:8265``) that training jobs are submitted to;
    empty: port 8265 on the host of ``ray_address``."""

    embedded_worker: bool = True
    """Run background worker loops inside ``serve``."""
    worker_process: bool = True
    """Run the embedded workers in a child process of the server (``modelworks worker --lanes``, started,
    restarted and stopped by it) rather than in threads of the server: a task's CPU then never delays
    requests through the interpreter lock. False keeps them in threads (the test servers do)."""
    worker_nice: int = Field(default=5, ge=0, le=19)
    """Niceness a worker process adds to itself (``modelworks worker``, and so ``serve``'s child): its
    tasks (imports, exports, auto labeling, the training jobs it starts) yield the CPU to requests on a
    busy machine instead of sharing it evenly. 0 keeps the server's priority."""
    embedded_training_workers: int = 1
    """How many training jobs the embedded workers run at once (beside the data-task worker)."""
    worker_poll_seconds: float = 0.5
    task_heartbeat_seconds: float = 2.0
    task_stale_seconds: float = 30.0
    compute_processes: int = 2
    task_modules: str = ""
    """Extra comma-separated modules whose import registers background-task handlers."""

    token_ttl_seconds: int = 24 * 3600
    signature_max_skew_seconds: int = 15 * 60
    max_body_bytes: int = 64 * 1024 * 1024
    public_endpoint: str = ""
    """Endpoint written to credentials.json and used in content URLs; defaults to http://host:port."""
    secrets_key: SecretStr = SecretStr("")
    """The key that seals access keys' SKs in the database and derives server secrets (at least 32
    characters, random). Empty: read from ``secrets_key_file``."""
    secrets_key_file: Path | None = None
    """Where the secrets key is kept; empty: ``<home>/secrets.key``, created on first start (mode 0600).
    Keep it outside the data directory: the database alone then gives no usable credential."""

    sandbox_dir: str = ""
    """Where user code's working directories live (job workspaces, model-server packages, per-model pip
    environments), reachable by the unprivileged users code runs as. Empty: ``<home>.sandbox`` when
    every directory above it is world-traversable, else ``/var/tmp/modelworks-sandbox-<hash>``."""
    sandbox_mode: Literal["auto", "uid", "none"] = "auto"
    """``auto``: per-project unprivileged users when the server runs as root (and they can run the
    interpreter), else ``none``; ``uid``: the same, but refuse to start without it; ``none``: user code
    runs as the server's user (see ``allow_shared_user_code``)."""
    sandbox_uid_base: int = 200000
    """Projects get uids/gids base+1, base+2 ... (base itself runs the start-up check)."""
    sandbox_uid_count: int = 65536
    allow_shared_user_code: bool = False
    """Without a sandbox (mode ``none``), run user code of more than one project anyway: each could read
    the others' files and the server's secrets."""

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        self.home = Path(self.home).expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'modelworks.db'}"
        if not self.storage_url:
            self.storage_url = f"file://{self.home / 'storage'}"
        if not self.public_endpoint:
            self.public_endpoint = f"http://{self.host}:{self.port}"
        return self

    @property
    def sandbox_root(self) -> Path:
        """``sandbox_dir``, or its default (see there)."""
        if self.sandbox_dir:
            return Path(self.sandbox_dir).expanduser().resolve()
        return default_sandbox_root(self.home)

    @property
    def secrets_key_path(self) -> Path:
        """``secrets_key_file``, or ``<home>/secrets.key``."""
        if self.secrets_key_file is None:
            return self.home / "secrets.key"
        return Path(self.secrets_key_file).expanduser()

    @property
    def database_backend(self) -> str:
        return self.database_url.split(":", 1)[0].split("+", 1)[0]

    @property
    def storage_backend(self) -> str:
        return self.storage_url.split("://", 1)[0]


def default_sandbox_root(home: Path) -> Path:
    """``<home>.sandbox`` when an unprivileged uid can reach it, else a root-owned spot in ``/var/tmp``."""
    beside = home.with_name(home.name + ".sandbox")
    if all(_world_traversable(p) for p in beside.parents):
        return beside
    digest = hashlib.sha256(str(home).encode()).hexdigest()[:12]
    return Path("/var/tmp") / f"modelworks-sandbox-{digest}"


def _world_traversable(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & stat.S_IXOTH)
    except OSError:
        return False
