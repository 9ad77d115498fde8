"""PASCAL VOC writer: ``Annotations/<stem>.xml`` per record, ``ImageSets/Main/<subset>.txt``, a
``labelmap.txt``, and the images in ``JPEGImages/`` when ``copy_data`` is set."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from modelworks.formats.base import Exporter, ExportSummary, Record
from modelworks.formats.common import (
    BackgroundWriter,
    SpooledObject,
    UniqueNames,
    label_names,
    record_size,
    source_path,
    stem,
)
from modelworks.formats.voc.annotation import voc_xml
from modelworks.storage import ObjectStore, ObsPath

IMAGES_DIR = "JPEGImages"
USAGE_SUBSET = {"TRAIN": "train", "EVAL": "val", "TEST": "test"}


class VocExporter(Exporter):
    name: ClassVar[str] = "VOC"
    dataset_types: ClassVar[frozenset[int]] = frozenset({1})

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
        dest = dest.as_dir()
        copy_data = bool(options.get("copy_data"))
        summary = ExportSummary()
        names = label_names(labels)
        subsets: dict[str, SpooledObject] = {}
        # One XML per record, written on threads while the next ones are built; all of them are
        # written before the ImageSets lists that name them.
        try:
            with BackgroundWriter(store, atomic=not options.get("staging")) as files, UniqueNames() as used:
                for record in records:
                    source = source_path(record)
                    original = record.name or (source.name if source else f"{summary.samples}.jpg")
                    # Stems must be unique: a second a.jpg (from another folder) becomes a_1.jpg.
                    name_stem = used.claim(stem(original))
                    filename = name_stem + original[len(stem(original)) :]
                    if copy_data and source is not None:
                        target = dest.join(IMAGES_DIR, filename)
                        store.copy(source, target)
                        summary.wrote()
                    names.update(dict.fromkeys(a.name for a in record.annotations))
                    xml = voc_xml(
                        folder=IMAGES_DIR if copy_data or source is None else source.parent.name,
                        filename=filename,
                        size=record_size(store, record),
                        annotations=record.annotations,
                    )
                    target = dest.join("Annotations", name_stem + ".xml")
                    files.write(target, xml)
                    summary.wrote()
                    subset = USAGE_SUBSET.get((record.usage or "").upper(), "default")
                    if subset not in subsets:  # (not setdefault: that would make a spool per record)
                        subsets[subset] = SpooledObject()
                    subsets[subset].write(name_stem.encode() + b"\n")
                    summary.samples += 1
            for subset, spool in sorted(subsets.items()):
                target = dest.join("ImageSets/Main", subset + ".txt")
                spool.publish(store, target)
                summary.wrote_index(target)
        finally:
            for spool in subsets.values():
                spool.close()
        # Datumaro and CVAT read the label list from here ("name:color:parts:actions"); ModelArts ignores it.
        labelmap = "".join(f"{name}:::\n" for name in names if ":" not in name)
        store.write(dest.join("labelmap.txt"), labelmap.encode())
        summary.wrote_index(dest.join("labelmap.txt"))
        return summary
