"""PASCAL VOC object detection: one XML per image (``VOC``)."""

from modelworks.formats.registry import register_exporter, register_importer
from modelworks.formats.voc.reader import VocImporter
from modelworks.formats.voc.writer import VocExporter

register_importer(VocImporter())
register_exporter(VocExporter())
