"""``detect_format`` picks the right importer for each layout, and no importer claims a stranger's."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modelworks.formats import detect_format, exporter, importer
from modelworks.storage import ObjectStore, ObsPath
from tests.formats import _datasets as ds

Writer = Callable[[ObjectStore, ObsPath], ObsPath]


def _dir(write: Callable[[ObjectStore, ObsPath], object]) -> Writer:
    def run(store: ObjectStore, root: ObsPath) -> ObsPath:
        write(store, root)
        return root

    return run


def _coco_file(store: ObjectStore, root: ObsPath) -> ObsPath:
    ds.write_coco(store, root, ds.DETECTION)
    return root.join("annotations/instances_train.json")


LAYOUTS: dict[str, tuple[Writer, int, str]] = {
    "voc beside images": (_dir(lambda s, r: ds.write_voc(s, r, ds.DETECTION)), 1, "VOC"),
    "voc directories": (_dir(lambda s, r: ds.write_voc(s, r, ds.DETECTION, layout="voc")), 1, "VOC"),
    "coco directory": (_dir(lambda s, r: ds.write_coco(s, r, ds.DETECTION)), 1, "COCO"),
    "coco file": (_coco_file, 1, "COCO"),
    "yolo": (_dir(lambda s, r: ds.write_yolo(s, r, ds.DETECTION)), 1, "YOLO"),
    "detection manifest file": (lambda s, r: ds.write_detection_manifest(s, r, ds.DETECTION), 1, "manifest"),
    "detection manifest directory": (
        lambda s, r: ds.write_detection_manifest(s, r, ds.DETECTION).parent,
        1,
        "manifest",
    ),
    "classification manifest": (ds.write_classification_manifest, 0, "manifest"),
    "text manifest": (ds.write_text_manifest, 100, "manifest"),
    "folder tree": (_dir(ds.write_folder_tree), 0, "folder"),
    "folder tiles": (_dir(ds.write_folder_tiles), 0, "folder"),
    "text lines": (_dir(ds.write_text_lines), 100, "text"),
    "text with result files": (_dir(ds.write_text_results), 100, "text"),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_detect_picks_the_format_of_each_layout(store: ObjectStore, root: ObsPath, layout: str) -> None:
    write, dataset_type, expected = LAYOUTS[layout]
    path = write(store, root.join("data/"))
    found = detect_format(store, path, dataset_type)
    assert found is not None and found.name == expected


@pytest.mark.parametrize("layout", [k for k, v in LAYOUTS.items() if v[1] == 1])
def test_detection_importers_claim_only_their_own_layout(
    store: ObjectStore, root: ObsPath, layout: str
) -> None:
    write, _, expected = LAYOUTS[layout]
    path = write(store, root.join("data/"))
    for name in ("VOC", "COCO", "YOLO", "manifest"):
        score = importer(name).detect(store, path)
        assert (score > 0.5) == (name == expected), (name, score)


def test_nothing_is_detected_in_an_empty_directory(store: ObjectStore, root: ObsPath) -> None:
    store.write(root.join("readme.md"), b"hello")
    for dataset_type in (0, 1, 100):
        assert detect_format(store, root, dataset_type) is None


@pytest.mark.parametrize("fmt", ["manifest", "VOC", "COCO", "YOLO"])
def test_our_own_detection_exports_are_detected_as_what_they_are(
    store: ObjectStore, root: ObsPath, fmt: str
) -> None:
    ds.write_voc(store, root.join("source/"), ds.DETECTION)
    records, _ = ds.split(importer("VOC").read(store, root.join("source/"), dataset_type=1, options={}))
    dest = root.join("out/")
    labels = [{"name": n} for n in ds.DETECTION_LABELS]
    exporter(fmt).export(
        store, iter(records), dest, dataset_type=1, labels=labels, options={"copy_data": True}
    )
    scores = {name: importer(name).detect(store, dest) for name in ("VOC", "COCO", "YOLO", "manifest")}
    assert [name for name, score in scores.items() if score > 0.5] == [fmt], scores
