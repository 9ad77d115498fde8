"""Small datasets in each format's real layout, written file by file the way other tools write them
(not by our writers), with the labels they are known to hold.

``expected`` values are canonical label lists: sorted ``(name, shape, feature)`` tuples per sample,
keyed by image name (or by text for text datasets); :func:`canonical` turns records into the same.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from modelworks.formats import ItemError, Record
from modelworks.storage import ObjectStore, ObsPath

Box = tuple[str, str, Any]  # (label, shape, feature)
Canonical = dict[str, list[tuple[str, str | None, str | None]]]


@dataclass
class Sample:
    name: str
    size: tuple[int, int]
    objects: list[Box] = field(default_factory=list)
    usage: str | None = None


DETECTION_LABELS = ["car", "person"]
DETECTION = [
    Sample(
        "street_1.jpg",
        (64, 48),
        [("car", "bndbox", [[1, 2], [30, 40]]), ("person", "bndbox", [[10, 5], [64, 48]])],
    ),
    Sample("street_2.png", (50, 60), [("car", "bndbox", [[0, 0], [20, 25]])]),
    Sample("street_3.jpg", (40, 40), [("person", "bndbox", [[5.5, 6.5], [20.5, 30.25]])]),
    Sample("empty.jpg", (32, 32), []),
]
POLYGONS = [
    Sample("lot_1.jpg", (64, 48), [("car", "polygon", [[1, 2], [30, 2], [30, 40], [1, 40]])]),
    Sample(
        "lot_2.jpg",
        (64, 48),
        [("person", "bndbox", [[3, 4], [10, 12]]), ("car", "polygon", [[5, 5], [20, 5], [12, 30]])],
    ),
]
CLASSIFICATION = {
    "cat_1.jpg": ["cat"],
    "cat_2.png": ["cat"],
    "dog_1.jpg": ["dog"],
    "both.jpg": ["cat", "dog"],
}
TEXTS = [
    ("I love this phone, it is fast", ["positive"]),
    ("The battery died after a day", ["negative", "battery"]),
    ("Arrived on time", ["positive"]),
    ("No opinion yet", []),
]


def image_bytes(size: tuple[int, int], name: str, seed: int = 0) -> bytes:
    rng = random.Random(f"{name}{seed}")
    image = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    for _ in range(10):
        image.putpixel((rng.randrange(size[0]), rng.randrange(size[1])), (rng.randrange(256),) * 3)
    out = io.BytesIO()
    image.save(out, "PNG" if name.endswith(".png") else "JPEG")
    return out.getvalue()


def canonical_of_samples(samples: Iterable[Sample]) -> Canonical:
    return {
        s.name: sorted((label, shape, json.dumps(feature)) for label, shape, feature in s.objects)
        for s in samples
    }


def split(results: Iterable[Record | ItemError]) -> tuple[list[Record], list[ItemError]]:
    records: list[Record] = []
    errors: list[ItemError] = []
    for item in results:
        (errors if isinstance(item, ItemError) else records).append(item)  # type: ignore[arg-type]
    return records, errors


def canonical(records: Iterable[Record]) -> Canonical:
    out: Canonical = {}
    for record in records:
        key = record.text if record.text is not None else record.name
        out[key] = sorted(
            (
                a.name,
                a.property.get("@modelarts:shape"),
                json.dumps(a.property["@modelarts:feature"]) if "@modelarts:feature" in a.property else None,
            )
            for a in record.annotations
        )
    return out


def classification_expected() -> Canonical:
    return {name: sorted((label, None, None) for label in labels) for name, labels in CLASSIFICATION.items()}


def text_expected() -> Canonical:
    return {text: sorted((label, None, None) for label in labels) for text, labels in TEXTS}


# -- writers of real-shaped datasets ----------------------------------------------------------------


def voc_document(sample: Sample, folder: str = "NA") -> str:
    """A VOC file as ModelArts writes it (pretty-printed, ``standalone="no"``, occluded present)."""
    width, height = sample.size
    objects = []
    for label, shape, feature in sample.objects:
        if shape == "bndbox":
            (xmin, ymin), (xmax, ymax) = feature
            corners = f"<xmin>{xmin}</xmin>\n<ymin>{ymin}</ymin>\n<xmax>{xmax}</xmax>\n<ymax>{ymax}</ymax>"
            geometry = f"<bndbox>\n{corners}\n</bndbox>"
        else:
            points = "".join(f"<x{i}>{x}</x{i}><y{i}>{y}</y{i}>" for i, (x, y) in enumerate(feature, 1))
            geometry = f"<polygon>{points}</polygon>"
        objects.append(
            f"""    <object>
        <name>{label}</name>
        <pose>Unspecified</pose>
        <truncated>0</truncated>
        <difficult>0</difficult>
        <occluded>0</occluded>
        {geometry}
    </object>"""
        )
    body = "\n".join(objects)
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<annotation>
    <folder>{folder}</folder>
    <filename>{sample.name}</filename>
    <source>
        <database>Unknown</database>
    </source>
    <size>
        <width>{width}</width>
        <height>{height}</height>
        <depth>3</depth>
    </size>
    <segmented>0</segmented>
{body}
</annotation>
"""


def stem(name: str) -> str:
    return name.rsplit(".", 1)[0]


def write_voc(store: ObjectStore, root: ObsPath, samples: list[Sample], *, layout: str = "beside") -> None:
    """``beside``: image and XML in one directory (ModelArts); ``voc``: JPEGImages/ + Annotations/."""
    for sample in samples:
        image_dir, xml_dir = (
            (root, root) if layout == "beside" else (root.join("JPEGImages/"), root.join("Annotations/"))
        )
        store.write(image_dir.join(sample.name), image_bytes(sample.size, sample.name))
        if sample.objects or layout == "voc":
            store.write(xml_dir.join(stem(sample.name) + ".xml"), voc_document(sample).encode())


def write_coco(store: ObjectStore, root: ObsPath, samples: list[Sample], *, subset: str = "train") -> None:
    categories = [
        {"id": i * 10 + 1, "name": name, "supercategory": "thing"} for i, name in enumerate(DETECTION_LABELS)
    ]
    ids = {c["name"]: c["id"] for c in categories}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, sample in enumerate(samples, 100):
        store.write(root.join("images", sample.name), image_bytes(sample.size, sample.name))
        images.append(
            {"id": image_id, "file_name": sample.name, "width": sample.size[0], "height": sample.size[1]}
        )
        for label, shape, feature in sample.objects:
            xs, ys = [p[0] for p in feature], [p[1] for p in feature]
            bbox = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
            segmentation = [[v for p in feature for v in p]] if shape == "polygon" else []
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": ids[label],
                    "bbox": bbox,
                    "area": bbox[2] * bbox[3],
                    "iscrowd": 0,
                    "segmentation": segmentation,
                }
            )
    document = {
        "info": {},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    store.write(root.join("annotations", f"instances_{subset}.json"), json.dumps(document, indent=1).encode())


def write_yolo(store: ObjectStore, root: ObsPath, samples: list[Sample]) -> None:
    """The ModelArts YOLO layout: obj.data, obj.names, train.txt, obj_train_data/."""
    store.write(root.join("obj.names"), "".join(f"{n}\n" for n in DETECTION_LABELS).encode())
    store.write(
        root.join("obj.data"),
        b"classes = 2 # Optional\nnames = obj.names\ntrain = train.txt\nbackup = backup/\n",
    )
    listing = []
    for sample in samples:
        width, height = sample.size
        store.write(root.join("obj_train_data", sample.name), image_bytes(sample.size, sample.name))
        lines = []
        for label, _, ((xmin, ymin), (xmax, ymax)) in sample.objects:
            cx, cy = (xmin + xmax) / 2 / width, (ymin + ymax) / 2 / height
            w, h = (xmax - xmin) / width, (ymax - ymin) / height
            lines.append(f"{DETECTION_LABELS.index(label)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
        store.write(root.join("obj_train_data", stem(sample.name) + ".txt"), "".join(lines).encode())
        listing.append(f"obj_train_data/{sample.name}\n")
    store.write(root.join("train.txt"), "".join(listing).encode())


def write_detection_manifest(store: ObjectStore, root: ObsPath, samples: list[Sample]) -> ObsPath:
    """Images in ``images/``, VOC files in ``xml/``; sources alternate between relative and s3://."""
    lines = []
    for i, sample in enumerate(samples):
        image = root.join("images", sample.name)
        store.write(image, image_bytes(sample.size, sample.name))
        line: dict[str, Any] = {
            "source": f"images/{sample.name}" if i % 2 else image.uri("s3"),
            "usage": "TRAIN",
            "hard": "false",
            "id": f"sample{i}",
        }
        if sample.objects:
            xml = root.join("xml", stem(sample.name) + ".xml")
            store.write(xml, voc_document(sample).encode())
            line["annotation"] = [
                {
                    "type": "modelarts/object_detection",
                    "annotation-loc": xml.uri("s3"),
                    "annotation-format": "PASCAL VOC",
                    "annotated-by": "human",
                    "creation-time": "2019-01-23 11:30:30",
                }
            ]
        lines.append(json.dumps(line))
    manifest = root.join("dataset-v1.manifest")
    store.write(manifest, ("\n".join(lines) + "\n").encode())
    return manifest


def write_classification_manifest(store: ObjectStore, root: ObsPath) -> ObsPath:
    lines = []
    for name, labels in CLASSIFICATION.items():
        image = root.join("images", name)
        store.write(image, image_bytes((20, 20), name))
        annotation = [
            {"type": "modelarts/image_classification", "name": label, "annotated-by": "human"}
            for label in labels
        ]
        lines.append(json.dumps({"source": image.uri("obs"), "annotation": annotation}))
    manifest = root.join("cls.manifest")
    store.write(manifest, ("\n".join(lines) + "\n").encode())
    return manifest


def write_text_manifest(store: ObjectStore, root: ObsPath) -> ObsPath:
    lines = []
    for text, labels in TEXTS:
        annotation = [{"type": "modelarts/text_classification", "name": label} for label in labels]
        lines.append(
            json.dumps({"source": "content://" + text, "annotation": annotation}, ensure_ascii=False)
        )
    manifest = root.join("text.manifest")
    store.write(manifest, ("\n".join(lines) + "\n").encode())
    return manifest


def write_folder_tree(store: ObjectStore, root: ObsPath) -> None:
    """Multi-label images are separate files per label in a tree; only single-label ones here."""
    for name, labels in CLASSIFICATION.items():
        if len(labels) == 1:
            store.write(root.join(labels[0], name), image_bytes((20, 20), name))


def write_folder_tiles(store: ObjectStore, root: ObsPath) -> None:
    for i, (name, labels) in enumerate(CLASSIFICATION.items()):
        directory = root.join(f"import-dir-{i % 2 + 1}/")
        store.write(directory.join(name), image_bytes((20, 20), name))
        store.write(directory.join(stem(name) + ".txt"), "".join(f"{label}\n" for label in labels).encode())


def write_text_lines(store: ObjectStore, root: ObsPath) -> None:
    lines = "".join(f"{text}\t{','.join(labels)}\n" for text, labels in TEXTS)
    store.write(root.join("comments.txt"), lines.encode())


def write_text_results(store: ObjectStore, root: ObsPath, *, separator: str = ",") -> None:
    store.write(root.join("COMMENTS_1.txt"), "".join(f"{text}\n" for text, _ in TEXTS).encode())
    results = "".join(f"{separator.join(labels)}\n" for _, labels in TEXTS)
    store.write(root.join("COMMENTS_1_result.txt"), results.encode())
