"""Our exports read by the standard tools: COCO by pycocotools, VOC by lxml against an XML Schema of
the PASCAL VOC elements (annotation: folder, filename, source, size, segmented, object: name, pose,
truncated, difficult, bndbox), in that order."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelworks.formats import Record, exporter, importer
from modelworks.formats.common import box_corners
from modelworks.storage import LocalObjectStore, ObsPath
from tests.formats import _datasets as ds

etree = pytest.importorskip("lxml.etree")
coco_api = pytest.importorskip("pycocotools.coco")

VOC_SCHEMA = """<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:simpleType name="flag"><xs:restriction base="xs:integer">
    <xs:minInclusive value="0"/><xs:maxInclusive value="1"/></xs:restriction></xs:simpleType>
  <xs:element name="annotation"><xs:complexType><xs:sequence>
    <xs:element name="folder" type="xs:string"/>
    <xs:element name="filename" type="xs:string"/>
    <xs:element name="source"><xs:complexType><xs:sequence>
      <xs:element name="database" type="xs:string"/></xs:sequence></xs:complexType></xs:element>
    <xs:element name="size"><xs:complexType><xs:sequence>
      <xs:element name="width" type="xs:positiveInteger"/>
      <xs:element name="height" type="xs:positiveInteger"/>
      <xs:element name="depth" type="xs:positiveInteger"/></xs:sequence></xs:complexType></xs:element>
    <xs:element name="segmented" type="flag"/>
    <xs:element name="object" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence>
      <xs:element name="name" type="xs:string"/>
      <xs:element name="pose" type="xs:string"/>
      <xs:element name="truncated" type="flag"/>
      <xs:element name="difficult" type="flag"/>
      <xs:element name="occluded" type="flag" minOccurs="0"/>
      <xs:element name="bndbox"><xs:complexType><xs:sequence>
        <xs:element name="xmin" type="xs:decimal"/><xs:element name="ymin" type="xs:decimal"/>
        <xs:element name="xmax" type="xs:decimal"/><xs:element name="ymax" type="xs:decimal"/>
      </xs:sequence></xs:complexType></xs:element>
    </xs:sequence></xs:complexType></xs:element>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>"""


def imported(store: LocalObjectStore, root: ObsPath) -> list[Record]:
    ds.write_voc(store, root, ds.DETECTION)
    records, errors = ds.split(importer("VOC").read(store, root, dataset_type=1, options={}))
    assert not errors
    return records


def export(store: LocalObjectStore, fmt: str, records: list[Record], dest: ObsPath) -> None:
    labels = [{"name": n} for n in ds.DETECTION_LABELS]
    exporter(fmt).export(
        store, iter(records), dest, dataset_type=1, labels=labels, options={"copy_data": True}
    )


def test_exported_coco_loads_in_pycocotools_with_our_boxes(store: LocalObjectStore, root: ObsPath) -> None:
    records = imported(store, root.join("voc/"))
    export(store, "COCO", records, root.join("coco/"))
    local = store.local_path(root.join("coco/annotations/instances_default.json"))
    assert local is not None
    coco = coco_api.COCO(str(local))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ds.DETECTION_LABELS
    for record in records:
        (image,) = [i for i in coco.loadImgs(coco.getImgIds()) if i["file_name"] == record.name]
        assert (image["width"], image["height"]) == next(
            s.size for s in ds.DETECTION if s.name == record.name
        )
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        theirs = sorted((coco.loadCats(a["category_id"])[0]["name"], a["bbox"]) for a in anns)
        ours = []
        for annotation in record.annotations:
            xmin, ymin, xmax, ymax = box_corners(annotation)  # type: ignore[misc]
            ours.append((annotation.name, [xmin, ymin, xmax - xmin, ymax - ymin]))
        assert theirs == sorted(ours)
        assert all(a["area"] == a["bbox"][2] * a["bbox"][3] and a["iscrowd"] == 0 for a in anns)


def test_exported_voc_validates_against_the_voc_elements(store: LocalObjectStore, root: ObsPath) -> None:
    records = imported(store, root.join("voc/"))
    export(store, "VOC", records, root.join("out/"))
    schema = etree.XMLSchema(etree.fromstring(VOC_SCHEMA.encode()))
    directory = store.local_path(root.join("out/Annotations/"))
    assert directory is not None
    files = sorted(Path(directory).glob("*.xml"))
    assert [f.stem for f in files] == sorted(Path(r.name).stem for r in records)
    for file in files:
        document = etree.parse(str(file))
        schema.assertValid(document)
        record = next(r for r in records if Path(r.name).stem == file.stem)
        assert document.findtext("filename") == record.name
        boxes = sorted(
            (o.findtext("name"), [float(o.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")])
            for o in document.iterfind("object")
        )
        assert boxes == sorted((a.name, list(box_corners(a))) for a in record.annotations)  # type: ignore[arg-type]
    assert (Path(directory).parent / "JPEGImages" / "street_2.png").is_file()
    assert (Path(directory).parent / "ImageSets/Main/default.txt").read_text().split() == [
        Path(r.name).stem for r in records
    ]
