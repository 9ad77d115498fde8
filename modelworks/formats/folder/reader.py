"""Image classification folders, both layouts of the OBS directory spec:

* tree (export_format 1, "ModelArts imageNet 1.0"): ``<root>/<label>/<image>``; with nested
  directories the last one names the label;
* tile (export_format 2, "ModelArts image classification 1.0"): ``1.jpg`` beside ``1.txt``, whose
  non-empty lines are the image's labels.

An image with a same-stem ``.txt`` is read as a tile, any other image in a subdirectory as a tree
item, an image directly in the root as unlabeled.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any, ClassVar

from modelworks.errors import ModelworksError
from modelworks.formats.base import Annotation, Importer, ItemError, Record
from modelworks.formats.common import is_image, stem
from modelworks.storage import ObjectStore, ObsPath

_DETECT_SCAN = 2000


def tile_label_file(image: ObsPath) -> ObsPath:
    return image.parent.join(stem(image.name) + ".txt")


class FolderImporter(Importer):
    name: ClassVar[str] = "folder"
    dataset_types: ClassVar[frozenset[int]] = frozenset({0})

    def detect(self, store: ObjectStore, path: ObsPath) -> float:
        if store.is_file(path):
            return 0.0
        root = path.as_dir()
        keys = {info.path.key: info.path for info in islice(store.list(root), _DETECT_SCAN)}
        images = [p for p in keys.values() if is_image(p.name)]
        if any(tile_label_file(p).key in keys for p in images):
            return 0.8
        if any("/" in p.relative_to(root) for p in images):
            return 0.7
        return 0.55 if images else 0.0

    def read(
        self, store: ObjectStore, path: ObsPath, *, dataset_type: int, options: dict[str, Any]
    ) -> Iterator[Record | ItemError]:
        root = path.as_dir()
        text_keys: set[str] = set()
        images: list[ObsPath] = []
        for info in store.list(root):
            if info.path.name.endswith(".txt"):
                text_keys.add(info.path.key)
            elif is_image(info.path.name):
                images.append(info.path)
        for image in images:
            record = Record(source=str(image), name=image.name)
            label_file = tile_label_file(image)
            if label_file.key in text_keys:
                try:
                    lines = store.read(label_file).decode("utf-8").removeprefix("\ufeff").splitlines()
                except UnicodeDecodeError:
                    yield ItemError(str(label_file), "label file is not UTF-8 text")
                    continue
                except ModelworksError as exc:
                    yield ItemError(str(label_file), f"cannot read: {exc}")
                    continue
                names = dict.fromkeys(line.strip() for line in lines if line.strip())
            elif image.parent != root:
                names = {image.parent.name: None}
            else:
                names = {}
            record.annotations = [Annotation(name=name, type=dataset_type) for name in names]
            yield record
