"""ModelArts manifest writer: ``<dest>/<name>.manifest``, detection shapes as VOC files it points to.

With ``export_format`` 1 (the export API's tree layout, ``cat/1.jpg``, ``dog/2.jpg``) the data files
are copied below ``dest`` into a folder per label (a sample's first label; unlabeled samples at the
top) and the manifest names the copies, so the directory reads back both as a manifest and as the
class-folder tree the directory import understands. With 2 (tile, the default) the manifest names
the data files where they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from modelworks.errors import InvalidArgument
from modelworks.formats.base import Annotation, Exporter, ExportSummary, Record
from modelworks.formats.common import (
    CONTENT_SCHEME,
    SHAPE,
    BackgroundWriter,
    SpooledObject,
    UniqueNames,
    record_size,
    source_path,
    stem,
)
from modelworks.formats.manifest._types import TYPE_NAMES
from modelworks.formats.voc.annotation import voc_xml
from modelworks.storage import ObjectStore, ObsPath

ANNOTATIONS_DIR = "Annotations"
TREE = 1
# One encoder for every line: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _scheme(options: dict[str, Any]) -> str:
    """``obs`` or ``s3`` from ``source_scheme`` ("obs://" by default, as the export API's
    ``source_type_header``)."""
    scheme = str(options.get("source_scheme") or "obs://").lower().removesuffix("://")
    if scheme not in ("obs", "s3"):
        raise InvalidArgument(
            f"source_scheme must be obs:// or s3://, not {options.get('source_scheme')!r}",
            field="source_type_header",
        )
    return scheme


def _flag(value: bool) -> str:
    # The spec spells booleans as strings: "hard": "true".
    return "true" if value else "false"


def annotation_entry(annotation: Annotation, type_name: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": type_name, "name": annotation.name}
    if annotation.property:
        entry["property"] = annotation.property
    if annotation.score is not None:
        entry["confidence"] = annotation.score
    if annotation.hard is not None:
        entry["hard"] = _flag(annotation.hard)
    if annotation.hard_coefficient is not None:
        entry["hard-coefficient"] = annotation.hard_coefficient
    entry["annotated-by"] = annotation.annotated_by
    if annotation.creation_time:
        entry["creation-time"] = annotation.creation_time
    return entry


@dataclass
class _Export:
    """The state of one export: where it writes and the XML stems already used (``used``: close it)."""

    store: ObjectStore
    dest: ObsPath
    scheme: str
    dataset_type: int
    inline: bool
    files: BackgroundWriter
    tree: bool = False
    summary: ExportSummary = field(default_factory=ExportSummary)
    used: UniqueNames = field(default_factory=UniqueNames)
    placed: UniqueNames = field(default_factory=UniqueNames)

    def line(self, record: Record) -> dict[str, Any]:
        path = source_path(record)
        if self.tree and path is not None and record.text is None:
            path = self.place(record, path)
        if record.text is not None:
            # Text travels as content (the way the spec writes text samples), not as a file line.
            source = CONTENT_SCHEME + record.text
        elif path is not None:
            source = path.uri(self.scheme)
        else:
            source = record.source
        line: dict[str, Any] = {"source": source}
        if record.usage:
            line["usage"] = record.usage
        if record.id:
            line["id"] = record.id
        line["sample-type"] = record.sample_type
        if record.hard is not None:
            line["hard"] = _flag(record.hard)
        if record.hard_coefficient is not None:
            line["hard-coefficient"] = record.hard_coefficient
        if record.hard_reasons:
            line["hard-reasons"] = record.hard_reasons
        default_type = TYPE_NAMES.get(self.dataset_type, "modelarts/unknown")
        entries = [
            annotation_entry(a, TYPE_NAMES.get(a.type, default_type))
            for a in record.annotations
            if self.inline or SHAPE not in a.property
        ]
        shapes = [] if self.inline else [a for a in record.annotations if SHAPE in a.property]
        if shapes:
            entries.append(self.voc_entry(record, path, shapes))
        if entries:
            line["annotation"] = entries
        for key, value in record.extra.items():
            line.setdefault(key, value)
        return line

    def place(self, record: Record, path: ObsPath) -> ObsPath:
        """Copy the record's data file to ``<dest>/<first label>/<name>`` (a name made unique in its
        folder) and answer the copy's path."""
        first = next((a.name for a in record.annotations if a.name), None)
        folder = tree_folder(first) + "/" if first else ""
        original = record.name or path.name
        suffix = original[len(stem(original)) :]
        name_stem = self.placed.claim(folder + stem(original)).removeprefix(folder)
        target = self.dest.join(folder + name_stem + suffix)
        self.store.copy(path, target)
        self.summary.wrote()
        return target

    def voc_entry(self, record: Record, path: ObsPath | None, shapes: list[Annotation]) -> dict[str, Any]:
        """The line's entry for its shapes, written to a VOC file; ``path`` is the record's data file."""
        filename = record.name or (path.name if path else "image")
        target = self.dest.join(ANNOTATIONS_DIR, self.used.claim(stem(filename)) + ".xml")
        xml = voc_xml(
            # The name of the data file's directory (path.parent.name, without building the parent).
            folder=path.key.rpartition("/")[0].rpartition("/")[2] if path else "",
            filename=filename,
            size=record_size(self.store, record),
            annotations=shapes,
        )
        self.files.write(target, xml)
        self.summary.wrote()
        first = shapes[0]
        entry: dict[str, Any] = {
            "type": TYPE_NAMES.get(first.type, TYPE_NAMES[1]),
            "annotation-loc": target.uri(self.scheme),
            "annotation-format": "PASCAL VOC",
            "annotated-by": first.annotated_by,
        }
        if first.creation_time:
            entry["creation-time"] = first.creation_time
        return entry


def tree_folder(label: str) -> str:
    """A label's folder: one directory level, so a "/" in its name must not open another one."""
    return label.replace("/", "_").strip() or "_"


class ManifestExporter(Exporter):
    name: ClassVar[str] = "manifest"
    dataset_types: ClassVar[frozenset[int]] = frozenset({0, 1, 100})

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
        """Options: ``name`` (file stem, "manifest"), ``source_scheme`` ("obs://" or "s3://"),
        ``inline_boxes`` (detection shapes in the line's ``property`` instead of VOC files),
        ``export_format`` (1: data files copied into label folders, see the module's docstring),
        ``staging`` (see ``Exporter.export``)."""
        dest = dest.as_dir()
        manifest = dest.join(f"{options.get('name') or 'manifest'}.manifest")
        # VOC files are written on threads while the next lines are built; all are written before the
        # manifest that names them is published.
        staging = bool(options.get("staging"))
        with BackgroundWriter(store, atomic=not staging) as files, SpooledObject() as out:
            run = _Export(
                store,
                dest,
                _scheme(options),
                dataset_type,
                bool(options.get("inline_boxes")),
                files,
                tree=options.get("export_format") == TREE,
            )
            with run.used, run.placed:
                for record in records:
                    line = run.line(record)
                    out.write(_ENCODER.encode(line).encode() + b"\n")
                    run.summary.samples += 1
            files.close()
            out.publish(store, manifest)
        run.summary.wrote_index(manifest)
        return run.summary
