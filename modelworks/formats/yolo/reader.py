"""YOLO reader: the ModelArts/Darknet layout (``obj.data``, ``obj.names``, ``train.txt``,
``obj_train_data/``), or a class list (``obj.names`` / ``classes.txt``) with each image's ``.txt``
beside it or in a ``labels/`` directory mirroring ``images/``.

Lines are ``class cx cy w h``, normalised to the image size, which is read from each image's header.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from modelworks.errors import ModelworksError, NotFound
from modelworks.formats.base import Annotation, Importer, ItemError, Record
from modelworks.formats.common import FEATURE, SHAPE, image_size, is_image, resolve_source, stem, tidy
from modelworks.storage import ObjectStore, ObsPath

CLASS_FILES = ("obj.names", "classes.txt")
DATA_FILE = "obj.data"
LIST_USAGE = {"train": "TRAIN", "valid": "EVAL"}
# Normalised coordinates are written with 6 decimals; pixels come back rounded to 1/100 px, so whole
# pixels survive a round trip exactly on images up to several thousand pixels wide.
_PIXEL_DECIMALS = 2
_SLACK = 1e-6


class YoloError(ValueError):
    """A label file that cannot be used; the message is the reason."""


def parse_data_file(text: str) -> dict[str, str]:
    """``key = value`` lines of ``obj.data`` (comments after ``#`` dropped)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("#")[0].partition("=")
        if sep and key.strip():
            values[key.strip()] = value.strip()
    return values


def parse_boxes(text: str, classes: list[str], size: tuple[int, int], label_type: int) -> list[Annotation]:
    width, height = size
    annotations = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 5:
            raise YoloError(f"line {number}: expected 'class cx cy w h', got {line.strip()!r}")
        try:
            index = int(fields[0])
            cx, cy, w, h = (float(v) for v in fields[1:5])
        except ValueError as exc:
            raise YoloError(f"line {number}: not numbers: {line.strip()!r}") from exc
        if not 0 <= index < len(classes):
            raise YoloError(f"line {number}: unknown class {index} ({len(classes)} classes)")
        xmin, ymin, xmax, ymax = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        if w < 0 or h < 0 or xmin < -_SLACK or ymin < -_SLACK or xmax > 1 + _SLACK or ymax > 1 + _SLACK:
            raise YoloError(f"line {number}: box lies outside the image")
        corners = [
            [_pixel(xmin, width), _pixel(ymin, height)],
            [_pixel(xmax, width), _pixel(ymax, height)],
        ]
        prop = {SHAPE: "bndbox", FEATURE: corners}
        annotations.append(Annotation(name=classes[index], type=label_type, property=prop))
    return annotations


def _pixel(value: float, extent: int) -> int | float:
    return tidy(round(min(max(value, 0.0), 1.0) * extent, _PIXEL_DECIMALS))


class YoloImporter(Importer):
    name: ClassVar[str] = "YOLO"
    dataset_types: ClassVar[frozenset[int]] = frozenset({1})

    def detect(self, store: ObjectStore, path: ObsPath) -> float:
        if store.is_file(path):
            return 0.0
        root = path.as_dir()
        if store.is_file(root.join(DATA_FILE)):
            return 0.95
        return 0.8 if any(store.is_file(root.join(name)) for name in CLASS_FILES) else 0.0

    def read(
        self, store: ObjectStore, path: ObsPath, *, dataset_type: int, options: dict[str, Any]
    ) -> Iterator[Record | ItemError]:
        root = path.as_dir()
        data: dict[str, str] = {}
        if store.is_file(root.join(DATA_FILE)):
            data = parse_data_file(store.read(root.join(DATA_FILE)).decode("utf-8", "replace"))
        names_path = self._resolve(store, root, data["names"]) if data.get("names") else None
        names_path = names_path or next(
            (root.join(n) for n in CLASS_FILES if store.is_file(root.join(n))), None
        )
        if names_path is None:
            yield ItemError(str(root), f"no class list ({' or '.join(CLASS_FILES)})")
            return
        try:
            names = store.read(names_path).decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError:
            yield ItemError(str(names_path), "class list is not UTF-8 text")
            return
        classes = [line.strip() for line in names.splitlines() if line.strip()]
        lists = [(key, data[key]) for key in LIST_USAGE if data.get(key)]
        if lists:
            for key, list_file in lists:
                yield from self._read_list(store, root, list_file, LIST_USAGE[key], classes, dataset_type)
            return
        label_keys: set[str] = set()
        images: list[ObsPath] = []
        for info in store.list(root):
            if info.path.name.endswith(".txt"):
                label_keys.add(info.path.key)
            elif is_image(info.path.name):
                images.append(info.path)
        for image in images:
            yield self._record(
                store, image, self._label_file(image, root, label_keys), None, classes, dataset_type
            )

    @staticmethod
    def _resolve(store: ObjectStore, root: ObsPath, relative: str) -> ObsPath | None:
        """A path from ``obj.data`` or a list file; Darknet tools often prefix them with ``data/``."""
        try:
            path = resolve_source(relative, root)
            if not store.is_file(path) and relative.startswith("data/"):
                path = resolve_source(relative.removeprefix("data/"), root)
        except ModelworksError:
            return None
        return path if store.is_file(path) else None

    def _read_list(
        self,
        store: ObjectStore,
        root: ObsPath,
        list_file: str,
        usage: str,
        classes: list[str],
        label_type: int,
    ) -> Iterator[Record | ItemError]:
        path = self._resolve(store, root, list_file)
        if path is None:
            yield ItemError(str(root.join(DATA_FILE)), f"image list {list_file} does not exist")
            return
        for line in store.read(path).decode("utf-8", "replace").splitlines():
            if not line.strip():
                continue
            image = self._resolve(store, root, line.strip())
            if image is None:
                yield ItemError(str(path), f"image {line.strip()} does not exist")
                continue
            label = image.parent.join(stem(image.name) + ".txt")
            yield self._record(
                store, image, label if store.is_file(label) else None, usage, classes, label_type
            )

    @staticmethod
    def _label_file(image: ObsPath, root: ObsPath, label_keys: set[str]) -> ObsPath | None:
        beside = image.parent.join(stem(image.name) + ".txt")
        if beside.key in label_keys:
            return beside
        # Ultralytics layout: images/<rest> <-> labels/<rest>.
        relative = beside.relative_to(root)
        if relative.startswith("images/"):
            mirrored = root.join("labels/" + relative.removeprefix("images/"))
            if mirrored.key in label_keys:
                return mirrored
        return None

    @staticmethod
    def _record(
        store: ObjectStore,
        image: ObsPath,
        label: ObsPath | None,
        usage: str | None,
        classes: list[str],
        label_type: int,
    ) -> Record | ItemError:
        record = Record(source=str(image), name=image.name, usage=usage)
        if label is None:
            return record
        try:
            text = store.read(label).decode("utf-8")
            width, height, depth = image_size(store, image)
            record.annotations = parse_boxes(text, classes, (width, height), label_type)
        except NotFound:
            return ItemError(str(label), "label file disappeared while reading")
        except UnicodeDecodeError:
            return ItemError(str(label), "not UTF-8 text")
        except YoloError as exc:
            return ItemError(str(label), str(exc))
        except ValueError as exc:
            return ItemError(str(image), str(exc))
        record.size = (width, height, depth)
        return record
