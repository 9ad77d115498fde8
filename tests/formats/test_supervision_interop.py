"""Interop with Roboflow ``supervision`` (MIT), a widely used dataset toolkit: its COCO and Pascal VOC
readers load our exports with the same boxes and image sizes, and what its writers export imports into
our readers unchanged.

(Datumaro, the other candidate, pins Pillow 12 while the project uses 13: see test_datumaro_interop.py,
which runs only where Datumaro is installed.)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from modelworks.formats import Record, exporter, importer
from modelworks.formats.common import box_corners
from modelworks.storage import LocalObjectStore, ObsPath
from tests.formats import _datasets as ds

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # "OpenCV is not installed": its NumPy fallback is enough here
    sv = pytest.importorskip("supervision")

Boxes = dict[str, list[tuple[str, list[float]]]]


def our_boxes(records: list[Record]) -> Boxes:
    out: Boxes = {}
    for record in records:
        corners = [(a.name, [float(v) for v in box_corners(a)]) for a in record.annotations]  # type: ignore[union-attr]
        out[Path(record.name).stem] = sorted(corners)
    return out


def their_boxes(dataset: sv.DetectionDataset) -> Boxes:
    out: Boxes = {}
    for path, _image, detections in dataset:
        names = [dataset.classes[int(c)] for c in detections.class_id]
        out[Path(path).stem] = sorted(
            (name, [float(v) for v in xyxy]) for name, xyxy in zip(names, detections.xyxy, strict=True)
        )
    return out


def one_based(boxes: Boxes) -> Boxes:
    """Our VOC values as supervision reads them: it follows the VOC devkit's 1-based pixel indices and
    shifts ``xmin``/``ymin`` down by one (``xmax``/``ymax`` stay). ModelArts, like us, reads the
    numbers as they are written."""
    return {k: [(n, [x0 - 1, y0 - 1, x1, y1]) for n, (x0, y0, x1, y1) in v] for k, v in boxes.items()}


def as_voc_file(boxes: Boxes) -> Boxes:
    """What supervision's VOC writer puts in the XML for its boxes: 1-based, rounded to whole pixels."""
    out: Boxes = {}
    for key, items in boxes.items():
        out[key] = []
        for name, (x0, y0, x1, y1) in items:
            left, top = round(x0 + 1), round(y0 + 1)
            out[key].append(
                (name, [float(left), float(top), float(max(round(x1), left)), float(max(round(y1), top))])
            )
        out[key].sort()
    return out


def read_ours(store: LocalObjectStore, fmt: str, path: ObsPath) -> list[Record]:
    records, errors = ds.split(importer(fmt).read(store, path, dataset_type=1, options={}))
    assert errors == []
    return records


def export_ours(store: LocalObjectStore, root: ObsPath, fmt: str) -> tuple[list[Record], Path]:
    ds.write_voc(store, root.join("source/"), ds.DETECTION)
    records = read_ours(store, "VOC", root.join("source/"))
    dest = root.join("export/")
    labels = [{"name": n} for n in ds.DETECTION_LABELS]
    exporter(fmt).export(
        store, iter(records), dest, dataset_type=1, labels=labels, options={"copy_data": True}
    )
    local = store.local_path(dest)
    assert local is not None
    return records, local


def test_supervision_reads_our_coco_export_with_the_same_boxes(
    store: LocalObjectStore, root: ObsPath
) -> None:
    records, local = export_ours(store, root, "COCO")
    theirs = sv.DetectionDataset.from_coco(
        str(local / "images" / "default"), str(local / "annotations" / "instances_default.json")
    )
    assert sorted(theirs.classes) == sorted(ds.DETECTION_LABELS)
    assert their_boxes(theirs) == our_boxes(records)
    sizes = {Path(path).stem: image.shape[1::-1] for path, image, _ in theirs}
    assert sizes == {Path(s.name).stem: s.size for s in ds.DETECTION}


def test_supervision_reads_our_voc_export_with_the_same_boxes(store: LocalObjectStore, root: ObsPath) -> None:
    records, local = export_ours(store, root, "VOC")
    theirs = sv.DetectionDataset.from_pascal_voc(str(local / "JPEGImages"), str(local / "Annotations"))
    assert their_boxes(theirs) == one_based(our_boxes(records))


def _their_dataset(tmp: Path) -> sv.DetectionDataset:
    """A supervision dataset of real image files with the reference boxes."""
    from PIL import Image

    images = {}
    annotations = {}
    tmp.mkdir(parents=True, exist_ok=True)
    for sample in ds.DETECTION:
        width, height = sample.size
        path = tmp / (Path(sample.name).stem + ".jpg")
        Image.fromarray(np.full((height, width, 3), 128, dtype=np.uint8)).save(path)
        images[str(path)] = path
        boxes = [
            ((x0, y0, x1, y1), ds.DETECTION_LABELS.index(n)) for n, _, ((x0, y0), (x1, y1)) in sample.objects
        ]
        xyxy = np.array([b for b, _ in boxes], dtype=float).reshape(-1, 4)
        annotations[str(path)] = sv.Detections(xyxy=xyxy, class_id=np.array([c for _, c in boxes], dtype=int))
    return sv.DetectionDataset(
        classes=list(ds.DETECTION_LABELS), images=list(images), annotations=annotations
    )


@pytest.mark.parametrize("fmt", ["COCO", "VOC"])
def test_what_supervision_exports_imports_unchanged(
    store: LocalObjectStore, root: ObsPath, tmp_path: Path, fmt: str
) -> None:
    theirs = _their_dataset(tmp_path / "source")
    store.make_bucket(root.bucket)
    dest = root.join("supervision/")
    local = store.local_path(dest)
    assert local is not None
    if fmt == "COCO":
        theirs.as_coco(str(local / "images"), str(local / "annotations" / "instances_default.json"))
    else:
        theirs.as_pascal_voc(str(local / "JPEGImages"), str(local / "Annotations"))
    records = read_ours(store, fmt, dest)
    expected = their_boxes(theirs) if fmt == "COCO" else as_voc_file(their_boxes(theirs))
    assert our_boxes(records) == expected
    sizes = {Path(s.name).stem: s.size for s in ds.DETECTION}
    assert all(r.size is not None and r.size[:2] == sizes[Path(r.name).stem] for r in records)
