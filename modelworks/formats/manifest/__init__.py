"""ModelArts manifest: JSON Lines, one sample per line (``manifest``)."""

from modelworks.formats.manifest.reader import ManifestImporter
from modelworks.formats.manifest.writer import ManifestExporter
from modelworks.formats.registry import register_exporter, register_importer

register_importer(ManifestImporter())
register_exporter(ManifestExporter())
