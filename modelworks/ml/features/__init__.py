"""Feature extraction: pretrained image and text embedders, a registry, and a content-hash cache."""

from modelworks.ml.features.base import Embedder, l2_normalise
from modelworks.ml.features.cache import FeatureCache, content_hash, embed_cached
from modelworks.ml.features.efficientnet import ImageEmbedder
from modelworks.ml.features.registry import create_embedder, embedder_names, register
from modelworks.ml.features.text import TextEmbedder

__all__ = [
    "Embedder",
    "FeatureCache",
    "ImageEmbedder",
    "TextEmbedder",
    "content_hash",
    "create_embedder",
    "embed_cached",
    "embedder_names",
    "l2_normalise",
    "register",
]
