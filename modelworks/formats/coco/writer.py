"""COCO instances writer: ``<dest>/annotations/instances_<name>.json``, images in ``images/<name>/``
when ``copy_data`` is set.

Records arrive once, but the file lists all images before all annotations: images stream into the
output, annotations into a second temporary file appended at the end.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, ClassVar

from modelworks.formats.base import Annotation, Exporter, ExportSummary, Record
from modelworks.formats.common import (
    FEATURE,
    SHAPE,
    SpooledObject,
    UniqueNames,
    label_names,
    record_size,
    source_path,
    stem,
    tidy,
)
from modelworks.storage import ObjectStore, ObsPath


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def polygon_area(points: list[list[float]]) -> float:
    """Shoelace formula."""
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True):
        total += x1 * y2 - x2 * y1
    return abs(total) / 2


def coco_shape(annotation: Annotation) -> tuple[list[Any], float, list[list[Any]]] | None:
    """(bbox, area, segmentation) of a bndbox or polygon label; None for other shapes."""
    shape, points = annotation.property.get(SHAPE), annotation.property.get(FEATURE)
    if shape not in ("bndbox", "polygon") or not points:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x, y = min(xs), min(ys)
    w, h = tidy(max(xs) - x), tidy(max(ys) - y)
    if shape == "bndbox":
        return [x, y, w, h], tidy(w * h), []
    return [x, y, w, h], tidy(polygon_area(points)), [[v for point in points for v in point]]


class CocoExporter(Exporter):
    name: ClassVar[str] = "COCO"
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
        """Only bndbox and polygon labels have a COCO form; other shapes are left out."""
        dest = dest.as_dir()
        subset = str(options.get("name") or "default")
        copy_data = bool(options.get("copy_data"))
        categories = {name: number for number, name in enumerate(label_names(labels), 1)}
        summary = ExportSummary()
        ann_id = 0
        with SpooledObject() as out, SpooledObject() as anns, UniqueNames() as used:
            out.write(b'{"info":{"description":"exported by Modelworks"},"licenses":[],"images":[')
            for image_id, record in enumerate(records, 1):
                source = source_path(record)
                original = record.name or (source.name if source else f"{image_id}.jpg")
                file_name = used.claim(stem(original)) + original[len(stem(original)) :]
                if copy_data and source is not None:
                    target = dest.join("images", subset, file_name)
                    store.copy(source, target)
                    summary.wrote()
                width, height, _ = record_size(store, record) or (0, 0, 0)
                image = {"id": image_id, "file_name": file_name, "width": width, "height": height}
                out.write((b"," if image_id > 1 else b"") + _dumps(image))
                for annotation in record.annotations:
                    converted = coco_shape(annotation)
                    if converted is None:
                        continue
                    bbox, area, segmentation = converted
                    category = categories.setdefault(annotation.name, len(categories) + 1)
                    ann_id += 1
                    entry: dict[str, Any] = {
                        "id": ann_id,
                        "image_id": image_id,
                        "category_id": category,
                        "bbox": bbox,
                        "area": area,
                        "iscrowd": 0,
                        "segmentation": segmentation,
                    }
                    if annotation.score is not None:
                        entry["score"] = annotation.score
                    anns.write((b"," if ann_id > 1 else b"") + _dumps(entry))
                summary.samples += 1
            out.write(b'],"annotations":[')
            out.append(anns)
            category_list = [
                {"id": number, "name": name, "supercategory": ""} for name, number in categories.items()
            ]
            out.write(b'],"categories":' + _dumps(category_list) + b"}\n")
            target = dest.join("annotations", f"instances_{subset}.json")
            out.publish(store, target)
        summary.wrote_index(target)
        return summary
