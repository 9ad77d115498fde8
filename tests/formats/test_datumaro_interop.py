"""Interop with Datumaro (openvinotoolkit/datumaro, MIT): it reads our COCO and VOC exports with the
same boxes, and its COCO and VOC exports import into our readers unchanged.

Datumaro pins Pillow 12 and pulls pandas/pyarrow/OpenCV, so it is not a test dependency of the project
venv: these tests skip without it and run in a separate venv that has it (see the package report).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelworks.formats import Record, exporter, importer
from modelworks.formats.common import box_corners
from modelworks.storage import LocalObjectStore, ObsPath
from tests.formats import _datasets as ds

np = pytest.importorskip("numpy")
dm = pytest.importorskip("datumaro")
from datumaro.components.annotation import AnnotationType, Bbox  # noqa: E402
from datumaro.components.dataset import Dataset  # noqa: E402
from datumaro.components.dataset_base import DatasetItem  # noqa: E402
from datumaro.components.media import Image  # noqa: E402

Boxes = dict[str, list[tuple[str, list[float]]]]
FORMATS = {"COCO": "coco_instances", "VOC": "voc_detection"}


def our_boxes(records: list[Record]) -> Boxes:
    out: Boxes = {}
    for record in records:
        corners = [(a.name, [float(v) for v in box_corners(a)]) for a in record.annotations]  # type: ignore[union-attr]
        out[Path(record.name).stem] = sorted(corners)
    return out


def their_boxes(dataset: Dataset) -> Boxes:
    labels = dataset.categories()[AnnotationType.label]
    out: Boxes = {}
    for item in dataset:
        boxes = [a for a in item.annotations if isinstance(a, Bbox)]
        out[item.id] = sorted((labels[b.label].name, [float(v) for v in b.points]) for b in boxes)
    return out


def read_ours(store: LocalObjectStore, fmt: str, path: ObsPath) -> list[Record]:
    records, errors = ds.split(importer(fmt).read(store, path, dataset_type=1, options={}))
    assert errors == []
    return records


@pytest.mark.parametrize("fmt", FORMATS)
def test_datumaro_reads_our_export_with_the_same_boxes(
    store: LocalObjectStore, root: ObsPath, fmt: str
) -> None:
    ds.write_voc(store, root.join("source/"), ds.DETECTION)
    records = read_ours(store, "VOC", root.join("source/"))
    labels = [{"name": n} for n in ds.DETECTION_LABELS]
    dest = root.join("export/")
    exporter(fmt).export(
        store, iter(records), dest, dataset_type=1, labels=labels, options={"copy_data": True}
    )
    theirs = Dataset.import_from(str(store.local_path(dest)), FORMATS[fmt])
    assert their_boxes(theirs) == our_boxes(records)
    assert {item.media.size for item in theirs} == {s.size[::-1] for s in ds.DETECTION}


@pytest.mark.parametrize("fmt", FORMATS)
def test_what_datumaro_exports_imports_unchanged(store: LocalObjectStore, root: ObsPath, fmt: str) -> None:
    items = []
    for sample in ds.DETECTION:
        width, height = sample.size
        boxes = [
            Bbox(x0, y0, x1 - x0, y1 - y0, label=ds.DETECTION_LABELS.index(name))
            for name, _, ((x0, y0), (x1, y1)) in sample.objects
        ]
        pixels = np.full((height, width, 3), 128, dtype=np.uint8)
        items.append(
            DatasetItem(
                id=Path(sample.name).stem, subset="default", media=Image.from_numpy(pixels), annotations=boxes
            )
        )
    dataset = Dataset.from_iterable(items, categories=ds.DETECTION_LABELS)
    dest = root.join("datumaro/")
    store.make_bucket(root.bucket)
    dataset.export(str(store.local_path(dest)), FORMATS[fmt], save_media=True)
    records = read_ours(store, fmt, dest)
    assert our_boxes(records) == their_boxes(dataset)
    sizes = {s.name.rsplit(".", 1)[0]: s.size for s in ds.DETECTION}
    # Datumaro's VOC writes no XML for an image without boxes, so that one has no size to read.
    assert all(r.size[:2] == sizes[Path(r.name).stem] for r in records if r.size)
