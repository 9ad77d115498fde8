"""YOLO writer, in the layout ModelArts imports: ``obj.names``, ``obj.data``, ``train.txt`` /
``valid.txt`` and ``obj_train_data/`` / ``obj_valid_data/`` holding one ``.txt`` per image (and the
image itself when ``copy_data`` is set)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from modelworks.formats.base import Exporter, ExportSummary, Record
from modelworks.formats.common import (
    BackgroundWriter,
    SpooledObject,
    UniqueNames,
    box_corners,
    label_names,
    record_size,
    source_path,
    stem,
)
from modelworks.storage import ObjectStore, ObsPath

# EVAL and TEST images go to the validation list: ModelArts' YOLO import knows only train and valid.
SUBSETS = {"train": "obj_train_data", "valid": "obj_valid_data"}


def yolo_lines(record: Record, classes: dict[str, int], width: int, height: int) -> str:
    lines = []
    for annotation in record.annotations:
        corners = box_corners(annotation)
        if corners is None:
            continue
        xmin, ymin, xmax, ymax = corners
        index = classes.setdefault(annotation.name, len(classes))
        cx, cy = (xmin + xmax) / 2 / width, (ymin + ymax) / 2 / height
        w, h = (xmax - xmin) / width, (ymax - ymin) / height
        lines.append(f"{index} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
    return "".join(lines)


class YoloExporter(Exporter):
    name: ClassVar[str] = "YOLO"
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
        """Boxes are normalised by the image size; a record whose size is unknown (no size and no
        readable image) cannot be expressed and is left out. Polygons are written as their bounding box."""
        dest = dest.as_dir()
        copy_data = bool(options.get("copy_data"))
        classes = {name: index for index, name in enumerate(label_names(labels))}
        summary = ExportSummary()
        lists: dict[str, SpooledObject] = {}
        # One label file per record, written on threads; all of them before the lists naming them.
        try:
            with BackgroundWriter(store, atomic=not options.get("staging")) as files, UniqueNames() as used:
                for record in records:
                    size = record_size(store, record)
                    if size is None or size[0] <= 0 or size[1] <= 0:
                        continue
                    subset = "valid" if (record.usage or "").upper() in ("EVAL", "TEST") else "train"
                    source = source_path(record)
                    original = record.name or (source.name if source else f"{summary.samples}.jpg")
                    name_stem = used.claim(stem(original))
                    filename = name_stem + original[len(stem(original)) :]
                    folder = dest.join(SUBSETS[subset] + "/")
                    if copy_data and source is not None:
                        store.copy(source, folder.join(filename))
                        summary.wrote()
                    target = folder.join(name_stem + ".txt")
                    files.write(target, yolo_lines(record, classes, size[0], size[1]).encode())
                    summary.wrote()
                    if subset not in lists:  # (not setdefault: that would make a spool per record)
                        lists[subset] = SpooledObject()
                    lists[subset].write(f"{SUBSETS[subset]}/{filename}\n".encode())
                    summary.samples += 1
            data = [f"classes = {len(classes)}", "names = obj.names"]
            for subset, spool in sorted(lists.items()):
                spool.publish(store, dest.join(f"{subset}.txt"))
                summary.wrote_index(dest.join(f"{subset}.txt"))
                data.append(f"{subset} = {subset}.txt")
        finally:
            for spool in lists.values():
                spool.close()
        data.append("backup = backup/")
        store.write(dest.join("obj.names"), "".join(f"{name}\n" for name in classes).encode())
        store.write(dest.join("obj.data"), ("\n".join(data) + "\n").encode())
        summary.wrote_index(dest.join("obj.names"))
        summary.wrote_index(dest.join("obj.data"))
        return summary
