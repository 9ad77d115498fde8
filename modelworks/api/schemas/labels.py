"""Dataset labels (reference 16.1.19–16.1.24) and the label tables other data operations share
(``Label``, ``LabelAttribute``, ``LabelStats``, ``BatchResponse``)."""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from modelworks.api.schemas.common import RequestModel, ResponseModel

# A label's name: what the services accept (``data/labels.py`` refuses <>=&"' item by item, so that a
# batch answers per label).
LabelName = Annotated[
    str, Field(min_length=1, max_length=256, description="Label name, 1-256 characters without <>=&\"'")
]


class LabelType(IntEnum):
    """Label types as the reference numbers them (``Label.type``)."""

    IMAGE_CLASSIFICATION = 0
    OBJECT_DETECTION = 1
    IMAGE_SEGMENTATION = 3
    TEXT_CLASSIFICATION = 100
    NAMED_ENTITY_RECOGNITION = 101
    TEXT_TRIPLET_RELATIONSHIP = 102
    TEXT_TRIPLET_ENTITY = 103
    SOUND_CLASSIFICATION = 200
    SPEECH_CONTENT = 201
    SPEECH_PARAGRAPH_LABELING = 202
    VIDEO_LABELING = 600


class LabelAttributeValue(RequestModel):
    """One value of a ``select`` label attribute."""

    id: str | None = None
    value: str | None = None


class LabelAttribute(RequestModel):
    """A multi-dimensional attribute of a label (e.g. a music label's style)."""

    default_value: str | None = None
    id: str | None = None
    name: str | None = Field(None, max_length=64)
    type: Literal["text", "select"] | None = None
    values: list[LabelAttributeValue] | None = None


class Label(RequestModel):
    """A dataset label. ``property`` is the reference's ``LabelProperty`` (``@modelarts:color``,
    ``@modelarts:shortcut``, ``@modelarts:rename_to`` ...): free keys, kept as an object. ``type``
    defaults to the dataset's own label type."""

    name: LabelName
    type: LabelType | None = None
    property: dict[str, Any] | None = None
    attributes: list[LabelAttribute] | None = None


class LabelView(ResponseModel):
    """A label as answered (``Label`` in a response)."""

    name: str
    type: int
    property: dict[str, Any] | None = None
    attributes: list[dict[str, Any]] | None = None


class LabelStats(LabelView):
    """A label with its counts (dataset statistics, versions)."""

    count: int | None = None
    sample_count: int | None = None


class BatchResponse(ResponseModel):
    """The result of one item of a batch."""

    success: bool
    error_code: str | None = None
    error_msg: str | None = None


class BatchResp(ResponseModel):
    """A batch's answer: ``success`` is false when any item failed (then ``error_code`` and
    ``error_msg`` are the first failure's)."""

    success: bool
    results: list[BatchResponse] | None = None
    error_code: str | None = None
    error_msg: str | None = None


class ListLabelsResp(ResponseModel):
    """16.1.19."""

    total_number: int
    labels: list[LabelView]


class LabelsReq(RequestModel):
    """16.1.20, 16.1.21, 16.1.22: a batch of labels."""

    labels: list[Label] = Field(default_factory=list)


class DeleteLabelRef(RequestModel):
    """A label named for deletion (16.1.22): only ``name`` and ``type`` matter."""

    name: LabelName
    type: LabelType | None = None


class DeleteLabelsReq(RequestModel):
    """16.1.22."""

    labels: list[DeleteLabelRef] = Field(default_factory=list)


class UpdateLabelReq(RequestModel):
    """16.1.23: the body is the ``LabelProperty`` object itself (``@modelarts:color``,
    ``@modelarts:rename_to`` ...), merged into the label's property."""

    rename_to: str | None = Field(None, alias="@modelarts:rename_to", min_length=1, max_length=256)
