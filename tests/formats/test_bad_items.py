"""A bad file or line is an ItemError naming the file and the reason; the good items still come through,
and an item is never yielded with part of its labels."""

from __future__ import annotations

import json
from typing import Any

from modelworks.formats import ItemError, importer
from modelworks.storage import ObjectStore, ObsPath
from tests.formats import _datasets as ds


def read(
    store: ObjectStore, fmt: str, path: ObsPath, dataset_type: int, **options: Any
) -> tuple[set[str], list[ItemError]]:
    records, errors = ds.split(importer(fmt).read(store, path, dataset_type=dataset_type, options=options))
    return {r.name for r in records}, errors


def only_error(errors: list[ItemError]) -> ItemError:
    assert len(errors) == 1, errors
    return errors[0]


def test_voc_broken_xml_and_bad_boxes_are_item_errors(store: ObjectStore, root: ObsPath) -> None:
    ds.write_voc(store, root, ds.DETECTION)
    store.write(root.join("broken.jpg"), ds.image_bytes((30, 30), "broken.jpg"))
    store.write(root.join("broken.xml"), b"<annotation><filename>broken.jpg</filename><object>")
    outside = ds.Sample(
        "outside.jpg",
        (30, 30),
        [("car", "bndbox", [[1, 1], [10, 10]]), ("car", "bndbox", [[5, 5], [31, 20]])],
    )
    swapped = ds.Sample("swapped.jpg", (30, 30), [("car", "bndbox", [[20, 1], [10, 10]])])
    ds.write_voc(store, root, [outside, swapped])
    names, errors = read(store, "VOC", root, 1)
    assert names == {s.name for s in ds.DETECTION}
    reasons = {e.file.rsplit("/", 1)[1]: e.reason for e in errors}
    assert reasons.keys() == {"broken.xml", "outside.xml", "swapped.xml"}
    assert "broken XML" in reasons["broken.xml"]
    assert "outside the 30x30 image" in reasons["outside.xml"]
    assert "xmin > xmax" in reasons["swapped.xml"]
    assert all(e.file.startswith(f"/{root.bucket}/") for e in errors)


def test_voc_size_that_is_not_a_finite_number_is_an_item_error(store: ObjectStore, root: ObsPath) -> None:
    store.write(root.join("a.jpg"), ds.image_bytes((30, 30), "a.jpg"))
    store.write(
        root.join("a.xml"),
        b"<annotation><filename>a.jpg</filename><size><width>inf</width><height>30</height></size>"
        b"</annotation>",
    )
    _, errors = read(store, "VOC", root, 1)
    assert "<size> is not numeric" in only_error(errors).reason


def test_voc_refuses_entities(store: ObjectStore, root: ObsPath) -> None:
    store.write(root.join("a.jpg"), ds.image_bytes((30, 30), "a.jpg"))
    store.write(
        root.join("a.xml"),
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<annotation><filename>&e;</filename></annotation>",
    )
    _, errors = read(store, "VOC", root, 1)
    assert "DOCTYPE" in only_error(errors).reason


def test_voc_annotation_without_image_is_an_item_error(store: ObjectStore, root: ObsPath) -> None:
    store.write(root.join("lonely.xml"), ds.voc_document(ds.DETECTION[0]).encode())
    names, errors = read(store, "VOC", root, 1)
    assert names == set()
    assert only_error(errors).file.endswith("/lonely.xml")


def test_coco_unknown_category_and_missing_image_are_item_errors(store: ObjectStore, root: ObsPath) -> None:
    ds.write_coco(store, root, ds.DETECTION)
    path = root.join("annotations/instances_train.json")
    document = json.loads(store.read(path))
    document["annotations"][0]["category_id"] = 99  # street_1.jpg's first box
    document["images"].append({"id": 1, "file_name": "gone.jpg", "width": 10, "height": 10})
    document["annotations"].append({"id": 500, "image_id": 12345, "category_id": 1, "bbox": [0, 0, 1, 1]})
    store.write(path, json.dumps(document).encode())
    names, errors = read(store, "COCO", root, 1)
    assert names == {"street_2.png", "street_3.jpg", "empty.jpg"}  # street_1 lost a box: not half-read
    assert all(e.file == str(path) for e in errors)
    reasons = sorted(e.reason for e in errors)
    assert len(reasons) == 3
    assert "refers to no image" in reasons[0]
    assert "'gone.jpg'" in reasons[1] and "not found" in reasons[1]
    assert "'street_1.jpg'" in reasons[2] and "unknown category id 99" in reasons[2]


def test_coco_file_that_is_not_json_is_an_item_error(store: ObjectStore, root: ObsPath) -> None:
    store.write(root.join("annotations/instances_train.json"), b'{"images": [')
    _, errors = read(store, "COCO", root, 1)
    assert only_error(errors).reason.startswith("not JSON")


def test_manifest_bad_lines_are_item_errors_with_line_numbers(store: ObjectStore, root: ObsPath) -> None:
    manifest = ds.write_detection_manifest(store, root, ds.DETECTION)
    good = store.read(manifest).decode().splitlines()
    missing_xml = json.loads(good[0])
    missing_xml["annotation"][0]["annotation-loc"] = "s3://nowhere/annotation.xml"
    lines = [
        good[0],
        "this is not json",
        json.dumps({"usage": "TRAIN"}),
        json.dumps(missing_xml),
        "",
        json.dumps({"source": "x.jpg", "annotation": [{"type": "modelarts/image_classification"}]}),
        *good[1:],
    ]
    store.write(manifest, "\n".join(lines).encode())
    names, errors = read(store, "manifest", manifest, 1)
    assert names == {s.name for s in ds.DETECTION}
    assert all(e.file == str(manifest) for e in errors)
    assert [e.reason.split(":")[0] for e in errors] == ["line 2", "line 3", "line 4", "line 6"]
    assert "not JSON" in errors[0].reason
    assert "no source" in errors[1].reason
    assert "annotation file s3://nowhere/annotation.xml does not exist" in errors[2].reason
    assert "has no name" in errors[3].reason


def test_manifest_broken_voc_file_is_an_item_error(store: ObjectStore, root: ObsPath) -> None:
    manifest = ds.write_detection_manifest(store, root, ds.DETECTION[:1])
    store.write(root.join("xml/street_1.xml"), b"<annotation><object><name>car</name></object></annotation>")
    _, errors = read(store, "manifest", manifest, 1)
    assert "line 1: annotation file" in only_error(errors).reason
    assert "no bndbox" in errors[0].reason


def test_yolo_unknown_class_is_an_item_error(store: ObjectStore, root: ObsPath) -> None:
    ds.write_yolo(store, root, ds.DETECTION)
    store.write(root.join("obj_train_data/street_2.txt"), b"0 0.5 0.5 0.1 0.1\n7 0.5 0.5 0.2 0.2\n")
    names, errors = read(store, "YOLO", root, 1)
    assert names == {"street_1.jpg", "street_3.jpg", "empty.jpg"}
    error = only_error(errors)
    assert error.file.endswith("obj_train_data/street_2.txt")
    assert error.reason == "line 2: unknown class 7 (2 classes)"


def test_yolo_missing_listed_image_is_an_item_error(store: ObjectStore, root: ObsPath) -> None:
    ds.write_yolo(store, root, ds.DETECTION)
    store.delete(root.join("obj_train_data/empty.jpg"))
    names, errors = read(store, "YOLO", root, 1)
    assert "empty.jpg" not in names and len(names) == 3
    assert only_error(errors).reason == "image obj_train_data/empty.jpg does not exist"


def test_folder_tile_label_file_that_is_not_text_is_an_item_error(store: ObjectStore, root: ObsPath) -> None:
    ds.write_folder_tiles(store, root)
    store.write(root.join("import-dir-1/cat_1.txt"), b"\xff\xfe\x00\xd8broken")
    names, errors = read(store, "folder", root, 0)
    assert names == set(ds.CLASSIFICATION) - {"cat_1.jpg"}
    assert only_error(errors).file.endswith("import-dir-1/cat_1.txt")


def test_text_files_may_be_gbk_and_undecodable_ones_are_item_errors(
    store: ObjectStore, root: ObsPath
) -> None:
    store.write(root.join("zh.txt"), "这个手机很好\t正面\n".encode("gbk"))
    store.write(root.join("bad.txt"), b"\xff\xff\xff\xff")
    records, errors = ds.split(importer("text").read(store, root, dataset_type=100, options={}))
    assert [(r.text, [a.name for a in r.annotations]) for r in records] == [("这个手机很好", ["正面"])]
    assert only_error(errors).file.endswith("/bad.txt")
