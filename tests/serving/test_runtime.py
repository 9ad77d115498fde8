"""The inference runtime on hand-written packages, with inference code written as the manual writes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelworks.serving.runtime import PackageError, form_data, load_model
from modelworks.serving.runtime.model_service.model_service import ServiceError

# As the manual's PyTorch example: ``import log``, the base class from model_service, labels read from
# beside the model file (self.model_path is the .pth file), files arriving as {field: {name: file}}.
LENGTH_SERVICE = """
import json
import os

import log
from model_service.pytorch_model_service import PTServingBaseService

logger = log.getLogger(__name__)


class LengthService(PTServingBaseService):
    def __init__(self, model_name, model_path):
        super(LengthService, self).__init__(model_name, model_path)
        dir_path = os.path.dirname(os.path.realpath(self.model_path))
        with open(os.path.join(dir_path, "label.json")) as f:
            self.label = json.load(f)
        self.model = lambda sizes: ["long" if n > 3 else "short" for n in sizes]

    def _preprocess(self, data):
        preprocessed_data = {}
        for k, v in data.items():
            preprocessed_data[k] = [len(file_content.read()) for file_name, file_content in v.items()]
        return preprocessed_data

    def _postprocess(self, data):
        return {"model": self.model_name, "file": os.path.basename(self.model_path), **data}
"""

ECHO_SERVICE = """
from model_service.tfserving_model_service import TfServingBaseService


class EchoService(TfServingBaseService):
    def _inference(self, data):
        return {"echo": data, "path_is_dir": self.model_path.endswith("model")}
"""


def package(root: Path, service: str, model_type: str, **files: str) -> Path:
    model_dir = root / "pkg" / "model"
    model_dir.mkdir(parents=True)
    (model_dir / "config.json").write_text(json.dumps({"model_type": model_type, "model_algorithm": "demo"}))
    (model_dir / "customize_service.py").write_text(service)
    for name, content in files.items():
        (model_dir / name.replace("_", ".")).write_text(content)
    return model_dir


def test_pytorch_service_gets_its_model_file_and_uploaded_files(tmp_path: Path) -> None:
    model_dir = package(tmp_path, LENGTH_SERVICE, "PyTorch", weights_pth="x", label_json='["short", "long"]')
    model = load_model(model_dir)
    assert type(model.service).__name__ == "LengthService" and model.service.ping() == "pong"
    answer = model.predict_files({"images": {"a.bin": b"12345", "b.bin": b"1"}})
    assert answer == {"model": "pkg", "file": "weights.pth", "images": ["long", "short"]}


def test_tensorflow_service_gets_its_directory_and_json(tmp_path: Path) -> None:
    model = load_model(package(tmp_path, ECHO_SERVICE, "TensorFlow"), model_name="echo")
    assert model.predict({"text": "hi"}) == {"echo": {"text": "hi"}, "path_is_dir": True}
    shaped = form_data({"f": {"n.txt": b"abc"}})
    assert shaped["f"]["n.txt"].read() == b"abc"


def test_default_hooks_say_what_to_override(tmp_path: Path) -> None:
    service = ECHO_SERVICE.replace("    def _inference(self, data):", "    def unused(self, data):")
    model = load_model(package(tmp_path, service, "TensorFlow"))
    with pytest.raises(ServiceError, match="override _inference"):
        model.predict({"x": 1})


@pytest.mark.parametrize(
    ("config", "service", "problem"),
    [
        (None, ECHO_SERVICE, "no config.json"),
        ({"model_type": "PyTorch"}, ECHO_SERVICE, "model_algorithm is required"),
        ({"model_type": "PyTorch", "model_algorithm": "x"}, "X = 1\n", "found none"),
        (
            {"model_type": "PyTorch", "model_algorithm": "x"},
            ECHO_SERVICE + "\n\nclass Other(TfServingBaseService):\n    pass\n",
            "found EchoService, Other",
        ),
    ],
)
def test_packages_that_cannot_load_say_why(
    tmp_path: Path, config: dict[str, str] | None, service: str, problem: str
) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    if config is not None:
        (model_dir / "config.json").write_text(json.dumps(config))
    (model_dir / "customize_service.py").write_text(service)
    with pytest.raises(PackageError, match=problem):
        load_model(model_dir)
