"""Image classification folders: ``<label>/<image>`` trees and ``1.jpg`` + ``1.txt`` tiles (``folder``)."""

from modelworks.formats.folder.reader import FolderImporter
from modelworks.formats.folder.writer import FolderExporter
from modelworks.formats.registry import register_exporter, register_importer

register_importer(FolderImporter())
register_exporter(FolderExporter())
