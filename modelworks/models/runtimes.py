"""Model runtimes (6.1): the AI engines whose model packages this installation can really run.

A package runs in the server's own Python (``modelworks.serving.runtime``), so an engine is offered
only when its framework is installed beside the server, found by ``importlib`` without importing it.
Each engine offers two runtime names: the engine-style id (``pytorch_2.13.0-cpu-py_3.11-x86_64``, the
same id training engines and built-in algorithms write into ``config.json``) and the plain
``python3.11`` of older ModelArts runtimes. ``ONNX`` is a Modelworks extension (onnxruntime models
with SingleNodeService code); ``Image`` and ``Template`` models are not supported. The ``register``
lines at the bottom fill the one registry, ``model_runtimes``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
from abc import ABC, abstractmethod
from typing import Any

from modelworks.compute.engines import machine_arch, python_version
from modelworks.errors import InvalidArgument, ModelTypeUnsupported, NotImplementedYet
from modelworks.registry import Registry

UNSUPPORTED_TYPES = {
    "image": "Image models (custom container images)",
    "template": "Template models",
}
"""Model types of the reference that Modelworks refuses with 501, and what they are."""


def _installed_version(distribution: str, module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


class ModelRuntime(ABC):
    """One AI engine (``model_type``) and the runtimes it offers."""

    ai_engine: str
    """The reference's ``model_type``/``ai_engine`` spelling, e.g. ``PyTorch``; the registry key."""
    model_file_suffixes: tuple[str, ...] = ()
    """Suffixes of which a package of this engine must hold at least one file; empty: no model file
    is required (the inference code loads what it needs)."""

    @abstractmethod
    def framework_version(self) -> str | None:
        """The installed framework's version, or None when it is not installed here.

        Called when runtimes are listed and when a model is created; must not import the framework.
        """

    @abstractmethod
    def runtimes(self) -> list[str]:
        """The runtime names a model of this engine may name, the default first. Called only when
        ``available()``."""

    @property
    def requirement(self) -> str:
        """What must be installed for this engine, for error messages."""
        return self.ai_engine

    def available(self) -> bool:
        """True when the framework is installed in the server's environment."""
        return self.framework_version() is not None

    def describe(self) -> dict[str, Any]:
        """The engine as 6.1 lists it (``EngineAndRuntimesResponse``)."""
        names = self.runtimes()
        return {
            "ai_engine": self.ai_engine,
            "runtimes": names,
            "request_mode": ["sync"] * len(names),
            "accelerators": [{"type": "none"} for _ in names],
            "arch": [machine_arch()] * len(names),
            "status_list": ["normal"] * len(names),
            "image_source": ["base_image"] * len(names),
        }


class FrameworkRuntime(ModelRuntime):
    """An engine whose framework is a pip distribution: offered when it is installed."""

    def __init__(
        self, ai_engine: str, key: str, distribution: str, module: str, suffixes: tuple[str, ...] = ()
    ):
        self.ai_engine = ai_engine
        self.key = key
        self.distribution = distribution
        self.module = module
        self.model_file_suffixes = suffixes

    @property
    def requirement(self) -> str:
        return f"the {self.distribution} package"

    def framework_version(self) -> str | None:
        version = _installed_version(self.distribution, self.module)
        if version is None:
            return None
        # The local part names the build ("+cpu"); engine ids spell it "-cpu", as training engines do.
        base, plus, local = version.partition("+")
        return f"{base}-{local}" if plus else base

    def runtimes(self) -> list[str]:
        return [
            f"{self.key}_{self.framework_version()}-py_{python_version()}-{machine_arch()}",
            _plain_python(),
        ]


class PythonRuntime(ModelRuntime):
    """``Custom``: inference code in plain Python with whatever the environment has; always available."""

    ai_engine = "Custom"

    @property
    def requirement(self) -> str:
        return "Python"

    def framework_version(self) -> str | None:
        return platform.python_version()

    def runtimes(self) -> list[str]:
        # The second is the id of the training engine "Python", so a package trained with it names it.
        return [_plain_python(), f"python_{platform.python_version()}-{machine_arch()}"]


def _plain_python() -> str:
    return f"python{python_version()}"


model_runtimes: Registry[ModelRuntime] = Registry("model runtime")
"""Engines by ``ai_engine`` in lower case (``model_type`` is matched case-insensitively)."""


def register(runtime: ModelRuntime) -> None:
    """Add an engine; a second engine with the same ``ai_engine`` (in any case) is a bug, and so is one
    named as a refused model type (``UNSUPPORTED_TYPES``)."""
    key = runtime.ai_engine.lower()
    if key in UNSUPPORTED_TYPES:
        raise ValueError(f"a model runtime {runtime.ai_engine!r} is already registered")
    model_runtimes.register(key, runtime)


def registered_runtimes() -> list[ModelRuntime]:
    """Every registered engine, installed or not, in registration order."""
    return model_runtimes.values()


def available_runtimes() -> list[ModelRuntime]:
    """Registered engines whose framework is installed, in registration order."""
    return [r for r in model_runtimes.values() if r.available()]


def find_engine(model_type: Any, *, field: str = "model_type") -> ModelRuntime:
    """The installed engine ``model_type`` names (case-insensitively).

    ``Image`` and ``Template`` answer 501; a known engine that is not installed, or an unknown name,
    answers 400 naming the engines this installation runs.
    """
    if not isinstance(model_type, str) or not model_type.strip():
        raise InvalidArgument("is required (the AI engine of the model, e.g. PyTorch)", field=field)
    wanted = model_type.strip().lower()
    known = ", ".join(r.ai_engine for r in available_runtimes())
    if wanted in UNSUPPORTED_TYPES:
        raise NotImplementedYet(
            f"{field}: {UNSUPPORTED_TYPES[wanted]} are not supported by Modelworks yet; package the model "
            f"for one of the engines this installation runs ({known})."
        )
    engine = model_runtimes.find(wanted)
    if engine is None:
        raise ModelTypeUnsupported(
            f"Model Type ({model_type}) not support: this installation runs {known} models", field=field
        )
    if not engine.available():
        raise ModelTypeUnsupported(
            f"{engine.ai_engine} models need {engine.requirement}, which is not installed on this "
            f"server; it runs {known} models",
            field=field,
        )
    return engine


def resolve_runtime(engine: ModelRuntime, runtime: Any, *, field: str = "runtime") -> str:
    """The runtime a model runs with: ``runtime`` if ``engine`` offers it, else the engine's default
    when none is named; another name answers 400 listing the offered ones."""
    offered = engine.runtimes()
    if runtime is None or runtime == "":
        return offered[0]
    if not isinstance(runtime, str):
        raise InvalidArgument("must be a string", field=field)
    if runtime not in offered:
        raise InvalidArgument(
            f"{runtime!r} is not offered for {engine.ai_engine} models here; available: {', '.join(offered)}",
            field=field,
        )
    return runtime


register(FrameworkRuntime("PyTorch", "pytorch", "torch", "torch", (".pth", ".pt", ".onnx")))
register(FrameworkRuntime("ONNX", "onnxruntime", "onnxruntime", "onnxruntime", (".onnx",)))
register(FrameworkRuntime("Scikit_Learn", "scikit-learn", "scikit-learn", "sklearn", (".pkl", ".joblib")))
register(FrameworkRuntime("XGBoost", "xgboost", "xgboost", "xgboost", (".pkl", ".model")))
register(FrameworkRuntime("TensorFlow", "tensorflow", "tensorflow", "tensorflow"))
register(FrameworkRuntime("MindSpore", "mindspore", "mindspore", "mindspore"))
register(FrameworkRuntime("Spark_MLlib", "pyspark", "pyspark", "pyspark"))
register(PythonRuntime())
