"""Text classification files: ``text<TAB>labels`` lines, or texts plus a ``_result.txt`` (``text``)."""

from modelworks.formats.registry import register_exporter, register_importer
from modelworks.formats.text.reader import TextImporter
from modelworks.formats.text.writer import TextExporter

register_importer(TextImporter())
register_exporter(TextExporter())
