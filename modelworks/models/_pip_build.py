"""One pip build of a model's environment in a staging directory (``environments.ensure_environment``):
resolve the requirements against the server's environment, refuse what would replace the model
server's own packages, install the rest with ``--target --no-deps``, record what was done.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from modelworks.errors import ModelworksError

PACKAGES_DIR = "packages"
ENVIRONMENT_FILE = "environment.json"
INSTALL_TIMEOUT_SECONDS = 20 * 60
POLL_SECONDS = 0.1
MODEL_SERVER_DISTRIBUTIONS = ("modelworks", "starlette", "uvicorn", "python-multipart")
"""What ``modelworks.serving.server`` imports; with what they require, a model cannot replace them.
(Modelworks' own requirements serve the platform, not the model server, so they are not followed.)"""
# pip's environment variables that would send its packages elsewhere than where they are asked for.
_PIP_PLACEMENT = ("PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PIP_USER", "PIP_REPORT", "PIP_DRY_RUN")
_TAIL_LINES = 6


class DependencyError(ModelworksError):
    """A model's dependencies cannot be installed on this host (the message says why)."""


@functools.cache
def model_server_distributions() -> frozenset[str]:
    """Canonical names of ``MODEL_SERVER_DISTRIBUTIONS`` and of what they require (no extras)."""
    found: set[str] = set()
    todo = list(MODEL_SERVER_DISTRIBUTIONS)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        found.add(name)
        if name == "modelworks":
            continue
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return frozenset(found)


class PipBuild:
    """One build of an environment in ``staging``: resolve, refuse or install, record."""

    def __init__(
        self,
        staging: Path,
        requirements: list[str],
        requirements_file: bytes,
        missing: list[str],
        env: Mapping[str, str],
        deadline: float,
        check: Callable[[], None] | None,
        note: Callable[[str], None],
    ):
        self.staging = staging
        self.requirements = requirements
        self.requirements_file = requirements_file
        self.missing = ", ".join(missing)  # what messages name: the server has the others
        self.env = {k: v for k, v in env.items() if k not in _PIP_PLACEMENT}
        # A sandbox user has no home of its own (pip and build tools write below it): one in the staging
        # directory, removed before the environment is renamed into place.
        self.env.setdefault("HOME", str(staging / ".home"))
        self.deadline = deadline
        self.check = check
        self.note = note
        self.log = staging / "pip.log"

    def run(self) -> bool:
        """Whether anything was installed (pip may find the server's environment enough after all)."""
        wanted = self.staging / "requirements.txt"
        wanted.write_bytes(self.requirements_file)
        report = self.staging / "report.json"
        self.note(f"resolving {self.missing} against the server's environment")
        self._pip("install", "--dry-run", "--report", str(report), "-r", str(wanted))
        chosen = {
            item["metadata"]["name"]: item["metadata"]["version"]
            for item in json.loads(report.read_text()).get("install", [])
        }
        report.unlink()
        if not chosen:
            return False
        shadowed = self._shadowed(chosen)
        pinned = self.staging / "pinned.txt"
        pinned.write_text("".join(f"{name}=={version}\n" for name, version in sorted(chosen.items())))
        self.note(f"installing {', '.join(f'{n} {v}' for n, v in sorted(chosen.items()))}")
        packages = self.staging / PACKAGES_DIR
        self._pip("install", "--target", str(packages), "--no-deps", "-r", str(pinned))
        record = {
            "requirements": self.requirements,
            "installed": chosen,
            "shadows": shadowed,
            "interpreter": sys.executable,
        }
        (self.staging / ENVIRONMENT_FILE).write_text(json.dumps(record, indent=2) + "\n")
        shutil.rmtree(self.staging / ".home", ignore_errors=True)
        return True

    def _shadowed(self, chosen: dict[str, str]) -> dict[str, str]:
        """The server's versions of what ``chosen`` replaces; raises for what the model server runs on."""
        shadowed, refused = {}, []
        protected = model_server_distributions()
        for name, version in sorted(chosen.items()):
            try:
                installed = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                continue
            if canonicalize_name(name) in protected:
                refused.append(f"{name} {installed} by {version}")
            else:
                shadowed[name] = installed
        if refused:
            raise DependencyError(
                f"dependencies {self.missing} would replace what the model server itself runs on "
                f"({', '.join(refused)}), which a model cannot do; ask for versions that work with "
                "the server's"
            )
        if shadowed:
            self.note(
                "in this model's processes, its own copies shadow the server's "
                + ", ".join(f"{n} {v}" for n, v in shadowed.items())
            )
        return shadowed

    def _pip(self, *args: str) -> None:
        command = [
            sys.executable, "-I", "-m", "pip", *args,
            "--no-input", "--disable-pip-version-check", "--progress-bar", "off",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            log.write(f"$ {' '.join(command)}\n".encode())
            log.flush()
            pip = subprocess.Popen(
                command,
                cwd=self.staging,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            while pip.poll() is None:
                if self.check is not None:
                    self.check()
                if time.monotonic() > self.deadline:
                    raise DependencyError(
                        f"installing dependencies {self.missing} took longer than {INSTALL_TIMEOUT_SECONDS} s"
                    )
                time.sleep(POLL_SECONDS)
        finally:
            if pip.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pip.pid, signal.SIGKILL)
                pip.wait()
        if pip.returncode != 0:
            raise DependencyError(
                f"dependencies {self.missing} could not be installed "
                f"(pip exit code {pip.returncode}): {_tail(self.log)}"
            )


def _tail(log: Path) -> str:
    """pip's last error lines (or last lines), on one line."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("$ ")]
    errors = [line for line in lines if line.startswith("ERROR:")]
    text = " | ".join((errors or lines)[-_TAIL_LINES:])
    return text[-1000:] or "pip said nothing"
