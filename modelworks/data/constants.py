"""Dataset and sample types as the reference numbers them, and which files each type indexes."""

from __future__ import annotations

from collections.abc import Iterable

IMAGE_CLASSIFICATION = 0
OBJECT_DETECTION = 1
IMAGE_SEGMENTATION = 3
TEXT_CLASSIFICATION = 100

DATASET_TYPES: dict[int, str] = {
    0: "image classification",
    1: "object detection",
    3: "image segmentation",
    100: "text classification",
    101: "named entity recognition",
    102: "text triplet",
    200: "sound classification",
    201: "speech content",
    202: "speech paragraph labeling",
    400: "table",
    600: "video labeling",
    900: "custom format",
}

SAMPLE_IMAGE, SAMPLE_TEXT, SAMPLE_AUDIO, SAMPLE_TABLE, SAMPLE_VIDEO, SAMPLE_CUSTOM = 0, 1, 2, 4, 6, 9

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"})
TEXT_EXTENSIONS = frozenset({".txt"})
AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".flac", ".ogg", ".m4a"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv"})
TABLE_EXTENSIONS = frozenset({".csv"})


def sample_type_for(dataset_type: int) -> int:
    if dataset_type in (0, 1, 3):
        return SAMPLE_IMAGE
    if 100 <= dataset_type < 200:
        return SAMPLE_TEXT
    if 200 <= dataset_type < 300:
        return SAMPLE_AUDIO
    if dataset_type == 400:
        return SAMPLE_TABLE
    if dataset_type == 600:
        return SAMPLE_VIDEO
    return SAMPLE_CUSTOM


def extensions_for(dataset_type: int) -> frozenset[str] | None:
    """File extensions an import indexes for this type; None means every file."""
    return {
        SAMPLE_IMAGE: IMAGE_EXTENSIONS,
        SAMPLE_TEXT: TEXT_EXTENSIONS,
        SAMPLE_AUDIO: AUDIO_EXTENSIONS,
        SAMPLE_TABLE: TABLE_EXTENSIONS,
        SAMPLE_VIDEO: VIDEO_EXTENSIONS,
    }.get(sample_type_for(dataset_type))


# Sample states (query ``sample_state``) and the stored sample status they select.
STATE_LABELED = "__ALL__"
STATE_UNLABELED = "__NONE__"
STATE_AUTO = "__AUTO_ANNOTATION__"
TEAM_STATES = frozenset(
    {
        "__UNCHECK__",
        "__ACCEPTED__",
        "__REJECTED__",
        "__UNREVIEWED__",
        "__REVIEWED__",
        "__WORKFORCE_SAMPLED__",
        "__WORKFORCE_SAMPLED_UNCHECK__",
        "__WORKFORCE_SAMPLED_CHECKED__",
        "__WORKFORCE_SAMPLED_ACCEPTED__",
        "__WORKFORCE_SAMPLED_REJECTED__",
    }
)
STATUS_UNLABELED = "UN_ANNOTATION"
STATUS_MANUAL = "MANUAL_ANNOTATION"
STATUS_AUTO = "AUTO_ANNOTATION"
STATE_TO_STATUS = {STATE_LABELED: STATUS_MANUAL, STATE_UNLABELED: STATUS_UNLABELED, STATE_AUTO: STATUS_AUTO}


def status_for(annotated_by: Iterable[str]) -> str:
    """The status of a sample whose labels were made by these annotators ("human" or "auto"): one
    human label makes it manually labeled, only auto labels leave it to be confirmed."""
    by = set(annotated_by)
    if by - {"auto"}:
        return STATUS_MANUAL
    return STATUS_AUTO if by else STATUS_UNLABELED
