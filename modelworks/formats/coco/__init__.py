"""COCO object detection: one instances JSON per subset (``COCO``)."""

from modelworks.formats.coco.reader import CocoImporter
from modelworks.formats.coco.writer import CocoExporter
from modelworks.formats.registry import register_exporter, register_importer

register_importer(CocoImporter())
register_exporter(CocoExporter())
