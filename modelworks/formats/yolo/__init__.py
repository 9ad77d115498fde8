"""YOLO (Darknet) object detection: class list plus one ``.txt`` of normalised boxes per image (``YOLO``)."""

from modelworks.formats.registry import register_exporter, register_importer
from modelworks.formats.yolo.reader import YoloImporter
from modelworks.formats.yolo.writer import YoloExporter

register_importer(YoloImporter())
register_exporter(YoloExporter())
