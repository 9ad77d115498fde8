"""PASCAL VOC reader: images with a same-stem XML beside them or in an ``Annotations/`` directory."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any, ClassVar

from modelworks.data.constants import IMAGE_EXTENSIONS
from modelworks.errors import ModelworksError
from modelworks.formats.base import Importer, ItemError, Record
from modelworks.formats.common import is_image, stem
from modelworks.formats.voc.annotation import VocError, parse_voc
from modelworks.storage import ObjectStore, ObsPath

ANNOTATIONS_DIR = "Annotations"
IMAGE_DIRS = ("JPEGImages", "images")
# ImageSets/Main/<subset>.txt names the usage of the images listed in it.
SUBSET_USAGE = {"train": "TRAIN", "trainval": "TRAIN", "val": "EVAL", "eval": "EVAL", "test": "TEST"}
_DETECT_SCAN = 2000


def looks_like_voc(head: bytes) -> bool:
    return b"<annotation" in head and (b"<object" in head or b"<size" in head or b"<filename" in head)


class VocImporter(Importer):
    name: ClassVar[str] = "VOC"
    dataset_types: ClassVar[frozenset[int]] = frozenset({1})

    def detect(self, store: ObjectStore, path: ObsPath) -> float:
        if store.is_file(path):
            ok = path.name.lower().endswith(".xml") and looks_like_voc(store.read_range(path, 0, 4096))
            return 0.85 if ok else 0.0
        infos = islice(store.list(path.as_dir()), _DETECT_SCAN)
        xml = next((i.path for i in infos if i.path.name.lower().endswith(".xml")), None)
        if xml is None or not looks_like_voc(store.read_range(xml, 0, 4096)):
            return 0.0
        return 0.85 if self._has_image(store, xml) else 0.3

    @staticmethod
    def _has_image(store: ObjectStore, xml: ObsPath) -> bool:
        """True if the image of this XML is where the reader looks for it: VOC files of another layout
        (a manifest's ``annotation-loc`` files) sit apart from their images."""
        directories = [xml.parent]
        if xml.parent.name == ANNOTATIONS_DIR:
            directories += [xml.parent.parent.join(d + "/") for d in IMAGE_DIRS] + [xml.parent.parent]
        extensions = sorted(IMAGE_EXTENSIONS) + [e.upper() for e in sorted(IMAGE_EXTENSIONS)]
        name = stem(xml.name)
        return any(store.is_file(d.join(name + ext)) for d in directories for ext in extensions)

    def read(
        self, store: ObjectStore, path: ObsPath, *, dataset_type: int, options: dict[str, Any]
    ) -> Iterator[Record | ItemError]:
        if store.is_file(path):
            yield from self._read_xml_only(store, path, dataset_type)
            return
        root = path.as_dir()
        images: list[ObsPath] = []
        xml_keys: set[str] = set()
        for info in store.list(root):
            name = info.path.name
            if name.lower().endswith(".xml"):
                xml_keys.add(info.path.key)
            elif is_image(name):
                images.append(info.path)
        usages = self._usages(store, root)
        used: set[str] = set()
        for image in images:
            xml = self._xml_for(image, xml_keys)
            if xml is None:
                yield Record(source=str(image), name=image.name, usage=usages.get(stem(image.name)))
                continue
            used.add(xml.key)
            yield self._record(store, image, xml, dataset_type, usages.get(stem(image.name)))
        for key in sorted(xml_keys - used):
            yield ItemError(f"/{root.bucket}/{key}", "no image with the same name for this annotation file")

    @staticmethod
    def _xml_for(image: ObsPath, xml_keys: set[str]) -> ObsPath | None:
        directory = image.parent
        name = stem(image.name) + ".xml"
        candidates = [directory.join(name), directory.join(ANNOTATIONS_DIR, name)]
        if directory.key:
            candidates.insert(1, directory.parent.join(ANNOTATIONS_DIR, name))
        return next((c for c in candidates if c.key in xml_keys), None)

    @staticmethod
    def _usages(store: ObjectStore, root: ObsPath) -> dict[str, str]:
        """Image stem -> usage from ``ImageSets/Main/<subset>.txt`` (train, val, test)."""
        usages: dict[str, str] = {}
        for info in store.list(root.join("ImageSets/Main/"), recursive=False):
            usage = SUBSET_USAGE.get(stem(info.path.name).lower())
            if usage is None or not info.path.name.endswith(".txt"):
                continue
            for line in store.read(info.path).decode("utf-8", "replace").splitlines():
                if line.split():
                    usages.setdefault(line.split()[0], usage)
        return usages

    def _record(
        self, store: ObjectStore, image: ObsPath, xml: ObsPath, dataset_type: int, usage: str | None
    ) -> Record | ItemError:
        try:
            document = parse_voc(store.read(xml), label_type=dataset_type)
        except VocError as exc:
            return ItemError(str(xml), str(exc))
        except ModelworksError as exc:
            return ItemError(str(xml), f"cannot read: {exc}")
        return Record(
            source=str(image),
            name=image.name,
            size=document.size,
            usage=usage,
            annotations=document.annotations,
        )

    def _read_xml_only(
        self, store: ObjectStore, xml: ObsPath, dataset_type: int
    ) -> Iterator[Record | ItemError]:
        """A single XML file: its image is ``filename`` in the same directory."""
        try:
            document = parse_voc(store.read(xml), label_type=dataset_type)
        except VocError as exc:
            yield ItemError(str(xml), str(exc))
            return
        name = document.filename or stem(xml.name) + ".jpg"
        image = xml.parent.join(name)
        yield Record(source=str(image), name=name, size=document.size, annotations=document.annotations)
