"""Training engines (5.16): the Python runtimes this installation really offers to boot files.

Every engine runs the boot file with the server's own interpreter; an engine is listed only when
its framework is installed next to it (found by ``importlib``, without importing it, so listing
engines stays cheap). ``register`` lines at the bottom fill the one registry.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import sys
from abc import ABC, abstractmethod
from typing import Any

from modelworks.errors import EngineNotFound, InvalidArgument, NotImplementedYet
from modelworks.registry import Registry


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def machine_arch() -> str:
    """``x86_64`` or ``aarch64`` style, as engine ids spell it."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine or "unknown")


def _package_version(distribution: str, module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


class TrainingEngine(ABC):
    """One preset AI framework. Subclasses say whether it is installed and how it is named."""

    key: str
    """Registry key, e.g. ``pytorch``."""
    engine_name: str
    """The reference's ``engine_name``, e.g. ``PyTorch``."""

    @abstractmethod
    def framework_version(self) -> str | None:
        """The installed framework's version, or None when it is not installed here.

        Called when engines are listed or a request names this engine; must not import the framework.
        """

    def available(self) -> bool:
        """True when the framework is installed in the server's environment."""
        return self.framework_version() is not None

    @property
    def engine_id(self) -> str:
        """``<framework>_<version>-py_<python>-<arch>``, the shape of ModelArts' newer engine ids."""
        version = self.framework_version() or "unavailable"
        return f"{self.key}_{version}-py_{python_version()}-{machine_arch()}"

    def interpreter(self) -> list[str]:
        """The command that runs a boot file: the server's interpreter, which has the framework."""
        return [sys.executable]

    def describe(self) -> dict[str, Any]:
        """The engine as 5.16 lists it (``ListEnginesItems``)."""
        return {
            "engine_id": self.engine_id,
            "engine_name": self.engine_name,
            "engine_version": self.engine_id,
            "v1_compatible": False,
            "run_user": "",
            "image_info": {
                "cpu_image_url": f"local:{sys.executable}",
                "gpu_image_url": "",
                "image_version": self.framework_version() or "",
            },
        }

    def reference(self) -> dict[str, str]:
        """The ``engine`` object a job or algorithm that uses this engine answers with."""
        return {
            "engine_id": self.engine_id,
            "engine_name": self.engine_name,
            "engine_version": self.engine_id,
            "image_url": "",
        }


class PythonEngine(TrainingEngine):
    """Plain Python 3 with whatever the environment has; always available."""

    key = "python"
    engine_name = "Python"

    def framework_version(self) -> str | None:
        return platform.python_version()

    @property
    def engine_id(self) -> str:
        return f"python_{platform.python_version()}-{machine_arch()}"


class PyTorchEngine(TrainingEngine):
    """PyTorch, when ``torch`` is installed (``+cpu`` builds are listed as CPU engines)."""

    key = "pytorch"
    engine_name = "PyTorch"

    def framework_version(self) -> str | None:
        version = _package_version("torch", "torch")
        if version is None:
            return None
        base, _, local = version.partition("+")
        return f"{base}-{local or 'cpu'}"


class ScikitLearnEngine(TrainingEngine):
    """scikit-learn, when ``sklearn`` is installed."""

    key = "scikit-learn"
    engine_name = "Scikit_Learn"

    def framework_version(self) -> str | None:
        return _package_version("scikit-learn", "sklearn")


engines: Registry[TrainingEngine] = Registry("training engine")
"""The preset engines by ``key``, filled by the ``register`` lines at the end of this module."""


def register(engine: TrainingEngine) -> None:
    """Add an engine under its ``key``; a second engine with the same key is a bug."""
    engines.register(engine.key, engine)


def available_engines() -> list[TrainingEngine]:
    """Registered engines whose framework is installed, in registration order."""
    return [e for e in engines.values() if e.available()]


def default_engine() -> TrainingEngine:
    return engines.get("python")


def resolve_engine(raw: Any, *, field: str = "engine") -> TrainingEngine:
    """The engine a request names by ``engine_id``, or by ``engine_name`` (+ ``engine_version``).

    No engine (or an empty object) means plain Python. A custom image (``image_url``) is refused:
    Modelworks runs boot files in local processes, not containers.
    """
    if raw is None or raw == {}:
        return default_engine()
    if not isinstance(raw, dict):
        raise InvalidArgument("must be an object", field=field)
    if raw.get("image_url"):
        raise NotImplementedYet(
            f"{field}.image_url: custom images are not supported by Modelworks yet; use a preset engine "
            "(GET /v2/{project_id}/training-job-engines)."
        )
    engine_id = raw.get("engine_id") or ""
    name = str(raw.get("engine_name") or "").lower()
    version = raw.get("engine_version") or ""
    offered = available_engines()
    for engine in offered:
        if engine_id:
            if engine_id == engine.engine_id:
                return engine
        elif name and name in (engine.engine_name.lower(), engine.key) and version in ("", engine.engine_id):
            return engine
    if not engine_id and not name:
        return default_engine()
    wanted = engine_id or " ".join(str(x) for x in (raw.get("engine_name"), version) if x)
    known = ", ".join(e.engine_id for e in offered)
    raise EngineNotFound(
        f"AI engine {wanted!r} is not offered by this installation; available engines: {known}",
        field=field,
    )


register(PythonEngine())
register(PyTorchEngine())
register(ScikitLearnEngine())
