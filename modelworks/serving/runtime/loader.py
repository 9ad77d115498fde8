"""Loading a model package's ``model/`` directory the way the ModelArts inference images do.

Inference code is written against the images' top-level modules (``from model_service.pytorch_model_service
import PTServingBaseService``, ``import log``). :func:`install` registers Modelworks' implementations
under those names, so the classes are the same objects whichever name imports them.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import io
import json
import logging
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from modelworks.serving.runtime.model_service.model_service import BaseService

CONFIG_FILE = "config.json"
SERVICE_FILE = "customize_service.py"
_RUNTIME_MODULES = ("model_service", "model_service.model_service", "model_service.pytorch_model_service",
                    "model_service.tfserving_model_service")  # fmt: skip
_MODEL_FILE_SUFFIXES = {
    "pytorch": (".pth", ".pt", ".onnx"),
    "scikit_learn": (".pkl", ".joblib"),
    "xgboost": (".pkl", ".model"),
}
"""Engines whose ``model_path`` is the model file, and the suffixes that file may have."""


class PackageError(Exception):
    """The model directory is not a usable model package (the message says what is wrong)."""


def install() -> None:
    """Make ``model_service`` (and the images' ``log`` helper) importable under their ModelArts names."""
    for name in _RUNTIME_MODULES:
        module = importlib.import_module(f"modelworks.serving.runtime.{name}")
        present = sys.modules.setdefault(name, module)
        if present is not module:
            raise PackageError(f"another module named {name!r} is already imported ({present!r})")
    if "log" not in sys.modules:
        log = types.ModuleType("log", "The inference images' logging helper: log.getLogger(name).")
        log.getLogger = logging.getLogger  # type: ignore[attr-defined]
        sys.modules["log"] = log


def read_config(model_dir: Path) -> dict[str, Any]:
    """``config.json``, checked for what the runtime needs: ``model_type`` and ``model_algorithm``."""
    path = model_dir / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PackageError(f"{model_dir} has no {CONFIG_FILE}") from exc
    except ValueError as exc:
        raise PackageError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise PackageError(f"{path} must hold a JSON object")
    for key in ("model_type", "model_algorithm"):
        if not isinstance(config.get(key), str) or not config[key]:
            raise PackageError(f"{path}: {key} is required")
    return config


def model_path_for(model_dir: Path, model_type: str) -> Path:
    """What ``self.model_path`` is: for PyTorch and machine-learning engines the model file in the
    directory (the first by name with a known suffix), for the others the directory itself."""
    suffixes = _MODEL_FILE_SUFFIXES.get(model_type.lower())
    if suffixes:
        files = sorted(p for p in model_dir.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        if files:
            return files[0]
    return model_dir


def _import_service_module(model_dir: Path) -> types.ModuleType:
    path = model_dir / SERVICE_FILE
    if not path.is_file():
        raise PackageError(f"{model_dir} has no {SERVICE_FILE}")
    install()
    # The code may import the .py files beside it by name (the manual's "custom Python package").
    if str(model_dir) not in sys.path:
        sys.path.insert(0, str(model_dir))
    digest = hashlib.sha256(str(model_dir.resolve()).encode()).hexdigest()[:12]
    name = f"customize_service_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PackageError(f"{path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        raise
    return module


def _service_class(module: types.ModuleType) -> type[BaseService]:
    found = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseService) and cls.__module__ == module.__name__
    ]
    # The most derived class wins when the file defines a hierarchy of its own.
    leaves = [cls for cls in found if not any(other is not cls and issubclass(other, cls) for other in found)]
    if len(leaves) != 1:
        names = ", ".join(cls.__name__ for cls in leaves) or "none"
        raise PackageError(
            f"{SERVICE_FILE} must define one subclass of a model_service base class; found {names}"
        )
    return leaves[0]


@dataclass
class LoadedModel:
    """A package's configuration and its built inference service."""

    model_dir: Path
    config: dict[str, Any]
    service: BaseService

    def predict(self, data: Any) -> Any:
        """Answer one request whose data is already shaped (a JSON object, or :func:`form_data`)."""
        return self.service.inference(data)

    def predict_files(self, files: Mapping[str, Mapping[str, bytes]]) -> Any:
        """Answer a ``multipart/form-data`` request: ``{field: {file name: content}}``."""
        return self.predict(form_data(files))


def form_data(files: Mapping[str, Mapping[str, bytes]]) -> dict[str, dict[str, BinaryIO]]:
    """Uploaded files as ``_preprocess`` receives them: ``{field: {file name: file object}}``."""
    return {
        field: {name: io.BytesIO(content) for name, content in by_name.items()}
        for field, by_name in files.items()
    }


def load_model(model_dir: str | Path, model_name: str = "") -> LoadedModel:
    """Read ``model_dir/config.json``, import ``customize_service.py`` and build its service class with
    ``(model_name, model_path)``."""
    directory = Path(model_dir).resolve()
    if not directory.is_dir():
        raise PackageError(f"{model_dir} is not a directory")
    config = read_config(directory)
    service_class = _service_class(_import_service_module(directory))
    model_path = model_path_for(directory, config["model_type"])
    service = service_class(model_name or directory.parent.name or "model", str(model_path))
    return LoadedModel(directory, config, service)
