"""Per-model pip environments: the dependencies of a model that the server's environment lacks.

A model's ``dependencies`` (pip requirements) that the server's own environment satisfies are used
from there and never installed again. When some are not, all of them are given to pip, run by the
server's interpreter: it resolves them against the server's environment (``pip install --dry-run
--report``), so only what is missing or at a version the model cannot use is installed, then installs
exactly those versions with ``--target --no-deps`` into a directory of the model's own, kept on the
host's disk (not in the object store) and shared by the models with the same requirements::

    <sandbox>/model-envs/<uid>/<key>/ key: a digest of the requirements and of the interpreter
        packages/                     what pip installed; first on PYTHONPATH in the model's processes
        environment.json              the requirements, what was installed, which server copies it shadows
        pip.log                       pip's output
    <sandbox>/model-envs/<uid>/<key>.lock   held while it is built (publishing and instances may race)

pip runs packages' build code, and the packages run in the model's processes: both as the project's
unprivileged user (``compute.sandbox``), in a directory of that user's (``<uid>``), so a project
shares environments with its own models only and cannot change another project's. Without a sandbox
(mode ``none``) the directory is ``<sandbox>/model-envs/`` itself.

A directory is built once per host, under the lock, and renamed into place when complete: a host
that has none (another host published the model, the cache was deleted) builds it again when an
instance starts (``_with_dependencies``).

Replacing the server's packages: a package the server has at a version the model cannot use (torch,
numpy, pillow ...) is installed into the model's directory and shadows the server's copy only in
that model's processes, which are processes of their own (the publish check and the instances); the
server itself never imports it. The exception is what the model server process itself runs on
(``MODEL_SERVER_DISTRIBUTIONS`` and what they require: starlette, anyio, uvicorn ...): a model
replacing one of those would break the process that serves it, so such dependencies are refused
with a message naming the package and the version the server runs.

pip reads its configuration from the environment and its own files (``PIP_INDEX_URL``,
``PIP_FIND_LINKS``, ``PIP_NO_INDEX``, pip.conf), so offline mirrors work as they do for any pip.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from modelworks.compute.sandbox import Identity
from modelworks.models._pip_build import (
    ENVIRONMENT_FILE,
    INSTALL_TIMEOUT_SECONDS,
    PACKAGES_DIR,
    POLL_SECONDS,
    DependencyError,
    PipBuild,
)
from modelworks.models._pip_build import MODEL_SERVER_DISTRIBUTIONS as MODEL_SERVER_DISTRIBUTIONS
from modelworks.models._pip_build import model_server_distributions as model_server_distributions

ENVIRONMENTS_DIR = "model-envs"
REQUIREMENTS_FILE = ".modelworks-requirements.txt"
"""Written into a published model's ``model/`` directory: its requirements, for the hosts that run it."""
OPERATORS = {"EXACT": "==", "ATLEAST": ">=", "ATMOST": "<=", "": ""}
_LAUNCHER_MODULE = "modelworks.models._with_dependencies"


def requirements_of(dependencies: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """``(pip requirements, problems)`` of a model's ``dependencies`` (the stored shape).

    Only names and versions become requirements: a URL, an environment marker or a version that is
    not one is a problem, said in words.
    """
    requirements, problems = [], []
    for group in dependencies:
        for package in group["packages"]:
            name, wanted = package["package_name"], package["package_version"]
            spec = f"{name}{OPERATORS[package['restraint']]}{wanted}" if wanted else name
            if wanted:
                try:
                    Version(wanted)
                except InvalidVersion:
                    problems.append(f"dependency {spec}: {wanted!r} is not a version number")
                    continue
            try:
                requirement = Requirement(spec)
            except InvalidRequirement:
                requirement = None
            if requirement is None or requirement.url or requirement.marker:
                problems.append(f"dependency {spec}: not a pip package name (with its extras)")
                continue
            requirements.append(str(requirement))
    return requirements, problems


def unsatisfied(requirements: list[str]) -> list[str]:
    """The requirements that the server's environment does not meet, as pip reads ``==``, ``>=``,
    ``<=`` (so ``torch==2.13.0`` is met by a local build 2.13.0+cpu). One asking for extras is left
    to pip, which knows what they need."""
    missing = []
    for text in requirements:
        requirement = Requirement(text)
        try:
            installed = Version(importlib.metadata.version(requirement.name))
        except (importlib.metadata.PackageNotFoundError, InvalidVersion):
            missing.append(text)
            continue
        if requirement.extras or not requirement.specifier.contains(installed, prereleases=True):
            missing.append(text)
    return missing


def environment_key(requirements: list[str]) -> str:
    """The same for the same requirements (in any order or spelling of names) and interpreter."""
    canonical = sorted({_canonical(Requirement(text)) for text in requirements})
    interpreter = f"{sys.implementation.cache_tag}-{sysconfig.get_platform()}"
    digest = hashlib.sha256(json.dumps([interpreter, canonical]).encode()).hexdigest()
    return digest[:24]


def _canonical(requirement: Requirement) -> str:
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    specifier = ",".join(sorted(str(s) for s in requirement.specifier))
    return f"{canonicalize_name(requirement.name)}{extras}{specifier}"


def environments_root(sandbox_root: Path, identity: Identity | None = None) -> Path:
    """Where ``identity``'s (the model's project's user's) environments are, below the sandbox root."""
    root = sandbox_root / ENVIRONMENTS_DIR
    return root / str(identity.uid) if identity is not None else root


def packages_dir(root: Path, requirements: list[str]) -> Path:
    """Where the packages of ``requirements`` are (once built) below ``environments_root``."""
    return root / environment_key(requirements) / PACKAGES_DIR


def process_environment(packages: Path, env: Mapping[str, str]) -> dict[str, str]:
    """``PYTHONPATH`` and ``PATH`` of a process of the model: its packages and their scripts first."""
    python_path = env.get("PYTHONPATH")
    path = env.get("PATH")
    return {
        "PYTHONPATH": str(packages) + (os.pathsep + python_path if python_path else ""),
        "PATH": str(packages / "bin") + (os.pathsep + path if path else ""),
    }


def write_requirements(requirements: list[str]) -> bytes:
    lines = ["# pip requirements of this model, written by Modelworks when it was published", *requirements]
    return ("\n".join(lines) + "\n").encode()


def read_requirements(model_dir: Path) -> list[str]:
    """The requirements a published model's package records (none for a package without the file)."""
    try:
        text = (model_dir / REQUIREMENTS_FILE).read_text()
    except FileNotFoundError:
        return []
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def with_dependencies(
    command: list[str],
    env: dict[str, str],
    *,
    home: Path,
    model_dir: Path,
    failure_file: Path,
    failure_exit_code: int,
    identity: Identity | None = None,
    python: str = sys.executable,
) -> tuple[list[str], dict[str, str]]:
    """``(command, env)`` that run ``command`` with the dependencies of the published model in
    ``model_dir`` (unchanged for a model without any) as ``identity``: ``_with_dependencies`` builds the
    model's environment below ``environments_root(home, identity)`` (``home``: the sandbox root) if this
    host has none, or writes why it cannot to
    ``failure_file`` and exits with ``failure_exit_code``, then becomes ``command``, whose ``env``
    names the packages directory first on ``PYTHONPATH``; ``python`` is the interpreter ``identity``
    can run (``compute.sandbox.Sandbox.python``)."""
    requirements = read_requirements(model_dir)
    if not requirements:
        return command, env
    root = environments_root(home, identity)
    if identity is not None:
        prepare_root(root, identity)
    wrapped = [
        python, "-I", "-m", _LAUNCHER_MODULE,
        "--environments", str(root), "--model-dir", str(model_dir),
        "--failure-file", str(failure_file), "--failure-exit-code", str(failure_exit_code),
        "--", *command,
    ]  # fmt: skip
    return wrapped, {**env, **process_environment(packages_dir(root, requirements), env)}


def ensure_environment(
    root: Path,
    requirements: list[str],
    *,
    env: Mapping[str, str],
    check: Callable[[], None] | None = None,
    note: Callable[[str], None] | None = None,
    timeout: float = INSTALL_TIMEOUT_SECONDS,
    user: Identity | None = None,
    python: str = sys.executable,
) -> Path | None:
    """The packages directory of ``requirements`` below ``root``, built if this host has none yet;
    None when the server's environment meets them all.

    ``env`` is pip's environment (``base_environment()``: pip's configuration, proxies); ``check`` is
    called while pip runs and may raise to stop it; ``note`` hears what is done; pip runs as ``user``
    (None: this process's user) with the interpreter ``python`` (one ``user`` can run), and owns what
    is built and ``root`` (made if missing). Raises
    ``DependencyError`` when pip fails or would replace a package the model server runs on; nothing
    is kept then.
    """
    root = root.absolute()  # pip runs in the staging directory
    key = environment_key(requirements)
    target = root / key
    if (target / ENVIRONMENT_FILE).is_file():
        return target / PACKAGES_DIR
    missing = unsatisfied(requirements)
    if not missing:
        return None
    if user is not None:
        return _build_as(user, python, root, requirements, env=env, check=check, note=note, timeout=timeout)
    deadline = time.monotonic() + timeout
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{key}.lock", deadline, check):
        if (target / ENVIRONMENT_FILE).is_file():  # built by another process meanwhile
            return target / PACKAGES_DIR
        staging = root / f"{key}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            staging.mkdir()
            build = PipBuild(
                staging,
                requirements,
                write_requirements(requirements),
                missing,
                env,
                deadline,
                check,
                note or (lambda _: None),
            )
            built = build.run()
            if not built:
                shutil.rmtree(staging)
                return None
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target / PACKAGES_DIR


def prepare_root(root: Path, identity: Identity) -> None:
    """Make ``identity``'s environments directory (as the server: below ``model-envs/`` only the server
    may create it); nothing is written into it by the server."""
    root.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(root.parent, 0o711)
    root.mkdir(exist_ok=True)
    os.chown(root, identity.uid, identity.gid)
    os.chmod(root, 0o700)


def _build_as(
    user: Identity,
    python: str,
    root: Path,
    requirements: list[str],
    *,
    env: Mapping[str, str],
    check: Callable[[], None] | None,
    note: Callable[[str], None] | None,
    timeout: float,
) -> Path | None:
    """``ensure_environment`` run by ``user`` in a process of its own (``_with_dependencies
    --build-only``): pip, the packages' build code and every file written below ``root`` are that
    user's; the server only waits and reads the outcome."""
    prepare_root(root, user)
    command = [
        python, "-I", "-m", _LAUNCHER_MODULE, "--environments", str(root), "--build-only",
        *(f"--requirement={r}" for r in requirements),
    ]  # fmt: skip
    process = subprocess.Popen(
        user.command(command),
        cwd=root,
        env={**env, "HOME": str(root)},  # the user has no home of its own (pip keeps its cache there)
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **user.popen_args(),
    )
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                out, err = process.communicate(timeout=POLL_SECONDS * 2)
                break
            except subprocess.TimeoutExpired:
                if check is not None:
                    check()
                if time.monotonic() > deadline:
                    raise DependencyError(
                        f"installing dependencies took longer than {INSTALL_TIMEOUT_SECONDS} s"
                    ) from None
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    for line in out.splitlines():
        if line.startswith("[Modelworks] ") and note is not None:
            note(line.removeprefix("[Modelworks] "))
    if process.returncode != 0:
        lines = [line for line in err.strip().splitlines() if line.strip()]
        raise DependencyError(lines[-1] if lines else f"building it failed (exit code {process.returncode})")
    target = root / environment_key(requirements)
    return target / PACKAGES_DIR if (target / ENVIRONMENT_FILE).is_file() else None


@contextlib.contextmanager
def _locked(path: Path, deadline: float, check: Callable[[], None] | None) -> Iterator[None]:
    with path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if check is not None:
                    check()
                if time.monotonic() > deadline:
                    raise DependencyError(
                        "another process has been installing the same dependencies for too long"
                    ) from None
                time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
