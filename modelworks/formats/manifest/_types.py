"""Manifest annotation ``type`` names and the label types the reference numbers them with."""

from __future__ import annotations

LABEL_TYPES: dict[str, int] = {
    "image_classification": 0,
    "object_detection": 1,
    "image_segmentation": 3,
    "text_classification": 100,
    "text_entity": 101,
    "text_triplet": 102,
    "audio_classification": 200,
    "audio_content": 201,
    "audio_segmentation": 202,
}
TYPE_NAMES: dict[int, str] = {number: f"modelarts/{name}" for name, number in LABEL_TYPES.items()}
# Label types whose annotations are identified by their name alone (the spec makes ``name`` mandatory).
NAMED_TYPES = frozenset({0, 100, 200})
SHAPE_FILE_TYPES = frozenset({1, 3})
"""Label types whose shapes a manifest keeps in a PASCAL VOC file (``annotation-loc``)."""


def label_type(value: object) -> int | None:
    """``"modelarts/object_detection"`` or ``"object_detection"`` -> 1; None if unknown."""
    return LABEL_TYPES.get(str(value or "").strip().removeprefix("modelarts/"))
