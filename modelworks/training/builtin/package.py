"""Writing a ModelArts model package: ``<train_url>/model/`` with the model files, ``config.json`` and
``customize_service.py``, as the manual's model package specification lays it out.

``customize_service.py`` is a template of this package (``templates/<key>_service.py``) copied as is: it is
ordinary ModelArts inference code, which subclasses a ``model_service`` base class and reads its own
files from beside itself.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import shutil
from pathlib import Path
from typing import Any

from packaging.version import Version

from modelworks.compute.engines import available_engines

MODEL_DIR = "model"
SERVICE_FILE = "customize_service.py"
_TEMPLATES = Path(__file__).with_name("templates")


def runtime(engine_key: str) -> str:
    """``config.json``'s ``runtime``: the engine the package was trained with, as its engine id says."""
    return next((e.engine_id for e in available_engines() if e.key == engine_key), "")


def dependencies(*distributions: str) -> list[dict[str, Any]]:
    """pip packages the inference code imports, at least at the versions it was trained with.

    The version is the public one: pip refuses ``>=`` with a local build label (``2.13.0+cpu``)."""
    packages = []
    for name in distributions:
        package: dict[str, Any] = {"package_name": name}
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            version = Version(importlib.metadata.version(name)).public
            package |= {"package_version": version, "restraint": "ATLEAST"}
        packages.append(package)
    return [{"installer": "pip", "packages": packages}]


def classification_response(example_label: str = "label") -> dict[str, Any]:
    """The response schema the manual gives for image classification (also used for texts)."""
    return {
        "Content-type": "application/json",
        "data": {
            "type": "object",
            "properties": {
                "predicted_label": {"type": "string", "example": example_label},
                "scores": {
                    "type": "array",
                    "items": [
                        {
                            "type": "array",
                            "minItems": 2,
                            "maxItems": 2,
                            "items": [{"type": "string"}, {"type": "number"}],
                        }
                    ],
                },
            },
        },
    }


def write_package(
    train_url: str | Path,
    *,
    template: str,
    config: dict[str, Any],
    files: dict[str, bytes],
) -> Path:
    """Write ``<train_url>/model/``: ``files``, ``config.json`` and the template as ``customize_service.py``.

    The directory is written beside its final place and renamed into it, so a package that exists is
    complete. Returns the model directory.
    """
    root = Path(train_url)
    final = root / MODEL_DIR
    staging = root / f".{MODEL_DIR}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, content in files.items():
        (staging / name).write_bytes(content)
    (staging / "config.json").write_text(
        json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    shutil.copyfile(_TEMPLATES / template, staging / SERVICE_FILE)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return final
