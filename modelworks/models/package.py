"""Model packages in storage: finding one, its stored copy, and checking that it can run here.

A package is an OBS directory holding ``model/`` (``config.json``, ``customize_service.py`` and the
model files), as the manual's model package specification lays it out; ``source_location`` names the
directory above ``model/`` (a path to the ``model/`` directory itself is accepted too). Publishing
copies ``model/`` to ``/modelworks-system/models/<model_id>/model/``, so a published model never
changes when its source is overwritten (a training job run again, a user's upload).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from modelworks.compute.sandbox import Identity
from modelworks.compute.workspace import base_environment
from modelworks.errors import SourceLocationInvalid
from modelworks.models.environments import process_environment
from modelworks.models.runtimes import ModelRuntime
from modelworks.storage import ObjectStore, ObsPath, parse_obs_path
from modelworks.storage.paths import SYSTEM_BUCKET

MODEL_DIR = "model"
CONFIG_FILE = "config.json"
SERVICE_FILE = "customize_service.py"
MAX_PACKAGE_BYTES = 20 * 1024**3
"""ModelArts refuses model files over 20 GB (ModelArts.3044)."""
PROBE_TIMEOUT_SECONDS = 300
_CHUNK = 1024 * 1024
_OBS_URL_RE = re.compile(r"^https?://([a-z0-9][a-z0-9.-]*?)\.obs\.[^/]+/(.*)$")


def obs_location(value: Any, field: str) -> ObsPath:
    """An OBS path given as ``/bucket/key``, ``obs://bucket/key`` or an OBS URL
    (``https://<bucket>.obs.<region>.<domain>/<key>``, as the reference's examples write them)."""
    if isinstance(value, str):
        match = _OBS_URL_RE.match(value)
        if match:
            value = f"/{match.group(1)}/{match.group(2)}"
    return parse_obs_path(value, field=field)


def stored_model_dir(model_id: str) -> ObsPath:
    """Where the published copy of a model's ``model/`` directory lives."""
    return ObsPath(SYSTEM_BUCKET, f"models/{model_id}/{MODEL_DIR}/")


def stored_model_root(model_id: str) -> ObsPath:
    return ObsPath(SYSTEM_BUCKET, f"models/{model_id}/")


def find_model_dir(store: ObjectStore, location: ObsPath) -> ObsPath | None:
    """The package's ``model/`` directory below ``location`` (or ``location`` itself when it holds
    ``config.json``), or None when there is no package there."""
    base = location.as_dir()
    candidate = base.join(MODEL_DIR + "/")
    if store.is_file(candidate.join(CONFIG_FILE)):
        return candidate
    if store.is_file(base.join(CONFIG_FILE)):
        return base
    return None


def require_model_dir(store: ObjectStore, location: ObsPath, field: str) -> ObsPath:
    found = find_model_dir(store, location)
    if found is None:
        expected = f"{location.as_dir()}{MODEL_DIR}/{CONFIG_FILE}"
        raise SourceLocationInvalid(
            f"{location.as_dir()} holds no model package: expected {expected} (the package's {MODEL_DIR}/ "
            f"directory holds {CONFIG_FILE}, {SERVICE_FILE} and the model files)",
            field=field,
        )
    return found


def package_size(store: ObjectStore, model_dir: ObsPath) -> int:
    return sum(info.size for info in store.list(model_dir))


def download_package(store: ObjectStore, model_dir: ObsPath, dest: Path) -> Path:
    """Copy every object below ``model_dir`` into the local directory ``dest``; returns ``dest``.

    Services call it with a published model's ``model_dir`` to get a directory ``load_model`` reads.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for info in store.list(model_dir):
        target = dest / info.path.relative_to(model_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        local = store.local_path(info.path)
        if local is not None:
            shutil.copyfile(local, target)
            continue
        with store.open_read(info.path) as src, target.open("wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)
    return dest


def local_package(store: ObjectStore, model_dir: ObsPath) -> Path | None:
    """The package's directory on this host when the store keeps objects in local files."""
    local = store.local_path(model_dir)
    return local if local is not None and local.is_dir() else None


def file_problems(local_dir: Path, engine: ModelRuntime) -> list[str]:
    """What the package lacks: config.json, customize_service.py, a model file of its engine."""
    problems = []
    for name in (CONFIG_FILE, SERVICE_FILE):
        if not (local_dir / name).is_file():
            problems.append(f"the package's {MODEL_DIR}/ directory has no {name}")
    suffixes = engine.model_file_suffixes
    if suffixes and not any(p.is_file() and p.suffix.lower() in suffixes for p in local_dir.iterdir()):
        problems.append(
            f"a {engine.ai_engine} package needs a model file ({', '.join(suffixes)}) in its {MODEL_DIR}/ "
            "directory"
        )
    return problems


def inference_code_problems(
    local_dir: Path, packages: Path | None = None, user: Identity | None = None, python: str = sys.executable
) -> tuple[dict[str, Any], list[str]]:
    """Import ``customize_service.py`` in a separate process and find its service class (the probe is
    ``modelworks.serving.probe``, started by name: it runs the model server's runtime, which is serving's).

    Returns what the probe found (``service_class``, ``base_class``) and the problems it reported.
    A separate process keeps the user's code and its imports out of the server; it sees the model's
    own pip ``packages`` directory first (``environments``), as the model's instances do, and none of
    the server's ``MODELWORKS_*`` settings; with a ``user`` (``compute.sandbox``) it runs as that
    unprivileged user with ``python`` (``compute.sandbox.Sandbox.python``), and must be able to read
    ``local_dir``.
    """
    env = base_environment()
    env["HOME"] = env["TMPDIR"] = str(local_dir)
    if packages is not None:
        env.update(process_environment(packages, env))
    try:
        done = subprocess.run(
            (user.command if user is not None else list)(
                [python, "-m", "modelworks.serving.probe", str(local_dir)]
            ),
            cwd=local_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_SECONDS,
            check=False,
            **(user.popen_args() if user is not None else {}),
        )
    except subprocess.TimeoutExpired:
        return {}, [f"importing {SERVICE_FILE} took longer than {PROBE_TIMEOUT_SECONDS} s"]
    lines = done.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else None
    except ValueError:
        report = None
    if not isinstance(report, dict):
        tail = (done.stderr or done.stdout).strip()[-500:]
        return {}, [f"checking {SERVICE_FILE} failed (exit code {done.returncode}): {tail}"]
    problems = [str(p) for p in report.pop("problems", [])]
    return report, problems
