"""COCO instances reader: ``annotations/instances_<subset>.json`` (or any JSON with images, annotations
and categories) with the images beside it, in ``images/`` or in ``images/<subset>/``.

A COCO file is one JSON document whose annotations are not grouped by image, so the reader loads the
document whole; it then yields one record per image without building any other per-image objects.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, ClassVar

from modelworks.errors import ModelworksError
from modelworks.formats.base import Annotation, Importer, ItemError, Record
from modelworks.formats.common import FEATURE, SHAPE, points_outside, resolve_source, tidy
from modelworks.storage import ObjectStore, ObsPath

ANNOTATIONS_DIR = "annotations"
IMAGES_DIR = "images"
SUBSET_USAGE = {"train": "TRAIN", "val": "EVAL", "valid": "EVAL", "test": "TEST"}
_REQUIRED_KEYS = (b'"images"', b'"annotations"', b'"categories"')
_PEEK_BYTES = 64 * 1024


class CocoError(ValueError):
    """An image or annotation that cannot be used; the message is the reason."""


def looks_like_coco(head: bytes) -> bool:
    return head.lstrip().startswith(b"{") and sum(key in head for key in _REQUIRED_KEYS) >= 2


def subset_of(json_path: ObsPath) -> str:
    name = json_path.name.removesuffix(".json")
    return name.removeprefix("instances_") if name.startswith("instances_") else name


def _id(value: Any) -> int | str | None:
    """An image or category id, or None for a value that cannot be one (a list, a bool ...)."""
    return value if isinstance(value, int | str) and not isinstance(value, bool) else None


def _number(value: Any, what: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CocoError(f"{what} is not a number: {value!r}")
    return value


def _annotation(
    ann: dict[str, Any],
    categories: dict[Any, str],
    size: tuple[int, int],
    label_type: int,
    prefer_polygons: bool,
) -> Annotation:
    ann_id = ann.get("id")
    name = categories.get(_id(ann.get("category_id")))
    if name is None:
        raise CocoError(f"annotation {ann_id} has unknown category id {ann.get('category_id')!r}")
    bbox, segmentation = ann.get("bbox"), ann.get("segmentation")
    polygon = None
    if isinstance(segmentation, list) and segmentation and isinstance(segmentation[0], list):
        # Only the first part of a multi-part polygon: a label holds one shape.
        polygon = segmentation[0]
    if polygon is not None and (prefer_polygons or not bbox):
        if len(polygon) < 6 or len(polygon) % 2:
            raise CocoError(f"annotation {ann_id} has a polygon with fewer than 3 points or an odd length")
        coords = [_number(v, f"annotation {ann_id} polygon") for v in polygon]
        shape, feature = "polygon", [[coords[i], coords[i + 1]] for i in range(0, len(coords), 2)]
    elif isinstance(bbox, list) and len(bbox) == 4:
        x, y, w, h = (_number(v, f"annotation {ann_id} bbox") for v in bbox)
        if w < 0 or h < 0:
            raise CocoError(f"annotation {ann_id} has a negative bbox width or height")
        shape, feature = "bndbox", [[x, y], [tidy(x + w), tidy(y + h)]]
    else:
        raise CocoError(f"annotation {ann_id} has neither a bbox nor a polygon segmentation")
    if points_outside(feature, *size):
        raise CocoError(f"annotation {ann_id} lies outside the {size[0]}x{size[1]} image")
    prop: dict[str, Any] = {SHAPE: shape, FEATURE: feature}
    attributes = ann.get("attributes")
    if isinstance(attributes, dict) and attributes.get("occluded") is True:
        prop["@modelarts:occluded"] = True
    score = ann.get("score")
    return Annotation(
        name=name,
        type=label_type,
        property=prop,
        score=float(_number(score, f"annotation {ann_id} score")) if score is not None else None,
    )


class CocoImporter(Importer):
    name: ClassVar[str] = "COCO"
    dataset_types: ClassVar[frozenset[int]] = frozenset({1})

    def detect(self, store: ObjectStore, path: ObsPath) -> float:
        if store.is_file(path):
            ok = path.name.endswith(".json") and looks_like_coco(store.read_range(path, 0, _PEEK_BYTES))
            return 0.9 if ok else 0.0
        files = self._json_files(store, path.as_dir())
        return 0.95 if files and files[0].name.startswith("instances_") else (0.85 if files else 0.0)

    @staticmethod
    def _json_files(store: ObjectStore, root: ObsPath) -> list[ObsPath]:
        """``annotations/instances_*.json``; failing those, COCO-looking JSON files in the root or in
        ``annotations/``."""
        in_annotations = [info.path for info in store.list(root.join(ANNOTATIONS_DIR + "/"), recursive=False)]
        instances = [
            p for p in in_annotations if p.name.startswith("instances_") and p.name.endswith(".json")
        ]
        if instances:
            return instances
        candidates = [info.path for info in store.list(root, recursive=False)] + in_annotations
        return [
            p
            for p in candidates
            if p.name.endswith(".json") and looks_like_coco(store.read_range(p, 0, _PEEK_BYTES))
        ]

    def read(
        self, store: ObjectStore, path: ObsPath, *, dataset_type: int, options: dict[str, Any]
    ) -> Iterator[Record | ItemError]:
        """Options: ``prefer_polygons`` takes a polygon segmentation over the bbox when both are given."""
        files = [path] if store.is_file(path) else self._json_files(store, path.as_dir())
        for json_path in files:
            yield from self._read_file(store, json_path, dataset_type, bool(options.get("prefer_polygons")))

    def _read_file(
        self, store: ObjectStore, json_path: ObsPath, label_type: int, prefer_polygons: bool
    ) -> Iterator[Record | ItemError]:
        file = str(json_path)
        try:
            document = json.loads(store.read(json_path))
        except ValueError as exc:
            yield ItemError(file, f"not JSON: {exc}")
            return
        if not isinstance(document, dict) or not isinstance(document.get("images"), list):
            yield ItemError(file, "not a COCO file: no images list")
            return
        categories = {
            _id(c.get("id")): str(c.get("name"))
            for c in document.get("categories") or []
            if isinstance(c, dict) and _id(c.get("id")) is not None
        }
        by_image: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        image_ids = {_id(image.get("id")) for image in document["images"] if isinstance(image, dict)}
        image_ids.discard(None)
        for ann in document.get("annotations") or []:
            if not isinstance(ann, dict) or _id(ann.get("image_id")) not in image_ids:
                ann_id = ann.get("id") if isinstance(ann, dict) else ann
                yield ItemError(file, f"annotation {ann_id} refers to no image in the file")
                continue
            by_image[ann["image_id"]].append(ann)
        directory = json_path.parent
        root = directory.parent if directory.name == ANNOTATIONS_DIR else directory
        subset = subset_of(json_path)
        existing = {info.path.key for info in store.list(root)}
        for image in document["images"]:
            try:
                image_path = self._image_path(store, image, directory, root, subset, existing)
                anns = by_image.pop(_id(image.get("id")), [])
                yield self._record(image, image_path, anns, categories, label_type, prefer_polygons, subset)
            except CocoError as exc:
                name = image.get("file_name") if isinstance(image, dict) else image
                yield ItemError(file, f"image {name!r}: {exc}")

    @staticmethod
    def _image_path(
        store: ObjectStore, image: Any, directory: ObsPath, root: ObsPath, subset: str, existing: set[str]
    ) -> ObsPath:
        if not isinstance(image, dict) or not isinstance(image.get("file_name"), str):
            raise CocoError("image entry has no file_name")
        file_name = image["file_name"]
        try:
            if file_name.startswith("/") or "://" in file_name:
                path = resolve_source(file_name, directory)
                if store.is_file(path):
                    return path
                raise CocoError("image file not found")
            candidates = [
                resolve_source(file_name, directory),
                root.join(IMAGES_DIR, file_name),
                root.join(IMAGES_DIR, subset, file_name),
                root.join(file_name),
            ]
        except ModelworksError as exc:
            raise CocoError(f"bad file_name: {exc}") from exc
        for candidate in candidates:
            if candidate.key in existing:
                return candidate
        raise CocoError("image file not found")

    @staticmethod
    def _record(
        image: dict[str, Any],
        path: ObsPath,
        anns: list[dict[str, Any]],
        categories: dict[Any, str],
        label_type: int,
        prefer_polygons: bool,
        subset: str,
    ) -> Record:
        try:
            width, height = int(image.get("width") or 0), int(image.get("height") or 0)
        except (TypeError, ValueError) as exc:
            raise CocoError("width or height is not a number") from exc
        annotations = [
            _annotation(ann, categories, (width, height), label_type, prefer_polygons) for ann in anns
        ]
        return Record(
            source=str(path),
            name=path.name,
            size=(width, height, 3) if width > 0 and height > 0 else None,
            usage=SUBSET_USAGE.get(subset.lower()),
            annotations=annotations,
        )
