"""Image classification folders: a tree (``export_format`` 1, the default: ``<label>/<image>``, an
image with several labels in each of their folders) or tiles (2: ``<image>`` + ``<stem>.txt``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from modelworks.formats.base import Exporter, ExportSummary, Record
from modelworks.formats.common import UniqueNames, source_path, stem
from modelworks.storage import ObjectStore, ObsPath

TREE, TILE = 1, 2


def _folder_name(label: str) -> str:
    # A label is one directory level: a "/" in its name must not open another one.
    return label.replace("/", "_").strip() or "_"


class FolderExporter(Exporter):
    name: ClassVar[str] = "folder"
    dataset_types: ClassVar[frozenset[int]] = frozenset({0})

    def export(
        self,
        store: ObjectStore,
        records: Iterable[Record],
        dest: ObsPath,
        *,
        dataset_type: int,
        labels: list[dict[str, Any]],
        options: dict[str, Any],
    ) -> ExportSummary:
        """The images are the dataset here, so they are always copied for a tree; for tiles
        ``copy_data`` defaults to true (false writes the label files only)."""
        dest = dest.as_dir()
        layout = int(options.get("export_format") or TREE)
        copy_data = bool(options.get("copy_data", True))
        summary = ExportSummary()
        with UniqueNames() as used:
            for record in records:
                source = source_path(record)
                if source is None:
                    continue
                names = list(dict.fromkeys(a.name for a in record.annotations if a.name))
                original = record.name or source.name
                suffix = original[len(stem(original)) :]
                if layout == TILE:
                    name_stem = used.claim(stem(original))
                    if copy_data:
                        store.copy(source, dest.join(name_stem + suffix))
                        summary.wrote()
                    if names:
                        store.write(dest.join(name_stem + ".txt"), "".join(f"{n}\n" for n in names).encode())
                        summary.wrote()
                else:
                    for folder in [_folder_name(n) + "/" for n in names] or [""]:
                        # Stems are unique per folder; the "folder/" prefix keeps folders apart in ``used``.
                        name_stem = used.claim(folder + stem(original)).removeprefix(folder)
                        target = dest.join(folder + name_stem + suffix)
                        store.copy(source, target)
                        summary.wrote()
                summary.samples += 1
        return summary
