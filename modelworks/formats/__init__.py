"""Dataset formats: one package per format (manifest, voc, coco, yolo, folder, text), one registry."""

from modelworks.formats.base import Annotation, Exporter, ExportSummary, Importer, ItemError, Record
from modelworks.formats.common import UniqueNames
from modelworks.formats.registry import (
    detect_format,
    exporter,
    exporter_names,
    importer,
    importer_names,
    register_exporter,
    register_importer,
)

__all__ = [
    "Annotation",
    "ExportSummary",
    "Exporter",
    "Importer",
    "ItemError",
    "Record",
    "UniqueNames",
    "detect_format",
    "exporter",
    "exporter_names",
    "importer",
    "importer_names",
    "register_exporter",
    "register_importer",
]
