"""Export tasks over HTTP: formats, export types and conditions, new datasets, clean failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests._client import SignedClient
from tests.conftest import LiveServer, wait_for
from tests.data._assets import image_bytes, write_classification_folder
from tests.data.test_datasets_api import DS, create_dataset, wait_import

BOXES = {
    "a": [("car", 2, 3, 30, 20), ("person", 10, 5, 20, 40)],
    "b": [("car", 0, 0, 63, 47)],
    "c": [("bike", 5, 6, 25, 26), ("car", 30, 10, 60, 40), ("person", 1, 1, 2, 2)],
}


def voc_xml(
    filename: str, boxes: list[tuple[str, int, int, int, int]], width: int = 64, height: int = 48
) -> str:
    objects = "".join(
        f"<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>"
        f"<bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        for name, x1, y1, x2, y2 in boxes
    )
    return (
        f"<annotation><folder>det</folder><filename>{filename}</filename><size><width>{width}</width>"
        f"<height>{height}</height><depth>3</depth></size><segmented>0</segmented>{objects}</annotation>"
    )


def write_voc_folder(root: Path, boxes: dict[str, list[tuple[str, int, int, int, int]]] = BOXES) -> None:
    """``<stem>.jpg`` with ``<stem>.xml`` beside it for each entry, plus one image without annotations."""
    root.mkdir(parents=True, exist_ok=True)
    for i, (stem, items) in enumerate(sorted(boxes.items())):
        (root / f"{stem}.jpg").write_bytes(image_bytes(64, 48, i))
        (root / f"{stem}.xml").write_text(voc_xml(f"{stem}.jpg", items))
    (root / "plain.jpg").write_bytes(image_bytes(64, 48, 99))


def wait_export(client: SignedClient, dataset_id: str, task_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        task = client.get(f"{DS}/{dataset_id}/export-tasks/{task_id}").json()
        return task if task["status"] in ("SUCCESSED", "FAILED") else None

    return wait_for(done)  # type: ignore[no-any-return]


def export(client: SignedClient, dataset_id: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"{DS}/{dataset_id}/export-tasks", body)
    assert response.status_code == 200, response.text
    return wait_export(client, dataset_id, response.json()["task_id"])


def manifest_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_voc_folder_exports_as_coco_with_every_box(server: LiveServer) -> None:
    from pycocotools.coco import COCO

    folder = server.storage_root / "b" / "det"
    write_voc_folder(folder, {**BOXES, "broken": []})
    (folder / "broken.xml").write_text("<annotation><object><name>car</name>")  # not XML
    client = server.signed()
    dataset_id = create_dataset(
        client,
        dataset_name="voc",
        dataset_type=1,
        data_sources=[{"data_path": "/b/det/"}],
        work_path="/b/work/",
        labels=[{"name": "car", "type": 1}],
    )
    task = wait_import(client, dataset_id)
    assert task["status"] == "COMPLETED", task
    # the broken annotation is reported and its image skipped; unknown labels join the dataset
    assert [e["file"] for e in task["error_files"]] == ["/b/det/broken.xml"]
    assert task["imported_sample_count"] == 4 and task["annotated_sample_count"] == 3
    labels = client.get(f"{DS}/{dataset_id}/data-annotations/labels").json()["labels"]
    assert sorted(x["name"] for x in labels) == ["bike", "car", "person"]

    done = export(client, dataset_id, path="/b/out/coco/", annotation_format="COCO", export_type=2)
    assert done["status"] == "SUCCESSED", done
    assert (done["total_sample_count"], done["finished_sample_count"], done["progress"]) == (4, 4, 100.0)
    out = server.storage_root / "b" / "out" / "coco"
    assert not [p for p in files_under(out) if ".mw-export" in p]
    (annotations,) = [p for p in out.rglob("*.json")]
    coco = COCO(str(annotations))
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    found: dict[str, list[tuple[str, int, int, int, int]]] = {}
    for image in coco.loadImgs(coco.getImgIds()):
        stem = Path(image["file_name"]).stem
        assert (image["width"], image["height"]) == (64, 48)
        boxes = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        found[stem] = sorted(
            (
                names[a["category_id"]],
                *(round(v) for v in (a["bbox"][0], a["bbox"][1])),
                round(a["bbox"][0] + a["bbox"][2]),
                round(a["bbox"][1] + a["bbox"][3]),
            )
            for a in boxes
        )
        assert (out / "images" / image["file_name"]).exists() or list(out.rglob(image["file_name"]))
    assert found == {**{k: sorted(v) for k, v in BOXES.items()}, "plain": []}

    # VOC too, then the list pages over both tasks, newest first
    voc = export(client, dataset_id, path="/b/out/voc/", annotation_format="PASCAL VOC", export_type=0)
    assert voc["status"] == "SUCCESSED" and voc["total_sample_count"] == 3
    assert len(list((server.storage_root / "b" / "out" / "voc").rglob("*.xml"))) == 3
    page = client.get(f"{DS}/{dataset_id}/export-tasks", limit=1, offset=1).json()
    assert page["total_count"] == 2 and [t["task_id"] for t in page["export_tasks"]] == [done["task_id"]]
    assert client.get(f"{DS}/{dataset_id}/export-tasks", export_type=0).json()["total_count"] == 1
    missing = client.get(f"{DS}/{dataset_id}/export-tasks/nope")
    assert missing.status_code == 404 and missing.json()["error_code"] == "ModelArts.4359"
    bad = client.post(f"{DS}/{dataset_id}/export-tasks", {"path": "/b/x/", "annotation_format": "NOPE"})
    assert bad.status_code == 400 and "COCO" in bad.json()["error_msg"]


def test_export_types_and_or_conditions(server: LiveServer) -> None:
    write_classification_folder(server.storage_root / "b" / "cls", {"cat": 3, "dog": 2})
    (server.storage_root / "b" / "cls" / "u1.jpg").write_bytes(image_bytes(20, 20, 50))
    (server.storage_root / "b" / "cls" / "u2.jpg").write_bytes(image_bytes(21, 20, 51))
    client = server.signed()
    dataset_id = create_dataset(
        client, dataset_name="cls", data_sources=[{"data_path": "/b/cls/"}], work_path="/b/work/"
    )
    wait_import(client, dataset_id)
    cat = client.get(f"{DS}/{dataset_id}/data-annotations/samples", label_name="cat", limit=1).json()
    hard_id = cat["samples"][0]["sample_id"]
    client.put(
        f"{DS}/{dataset_id}/data-annotations/samples",
        {
            "samples": [
                {
                    "sample_id": hard_id,
                    "labels": [{"name": "cat"}],
                    "metadata": {"@modelarts:hard": 1, "@modelarts:hard_coefficient": 0.7},
                }
            ]
        },
    )
    root = server.storage_root / "b" / "exp"

    def lines(sub: str, **body: Any) -> list[dict[str, Any]]:
        done = export(client, dataset_id, path=f"/b/exp/{sub}/", **body)
        assert done["status"] == "SUCCESSED", done
        (manifest,) = list((root / sub).glob("*.manifest"))
        return manifest_lines(manifest)

    assert len(lines("labeled", export_type=0)) == 5
    unlabeled = lines("unlabeled", export_type=1)
    assert sorted(x["source"].rsplit("/", 1)[1] for x in unlabeled) == ["u1.jpg", "u2.jpg"]
    everything = lines("all", export_type=2, source_type_header="s3://")
    assert len(everything) == 7 and all(x["source"].startswith("s3://b/cls/") for x in everything)
    assert [x for x in everything if x.get("hard")] == []  # clear_hard_property defaults to true
    kept = lines("hard", export_type=2, export_params={"clear_hard_property": False})
    assert [x["id"] for x in kept if x.get("hard") == "true"] == [hard_id]
    # search conditions are ORed: dogs or one unlabeled file
    either = lines(
        "or",
        export_type=3,
        export_params={
            "search_conditions": [
                {"label_list": {"labels": [{"name": "dog"}]}},
                {"sample_name": "u1.jpg"},
            ]
        },
    )
    assert len(either) == 3 and sum(1 for x in either if "annotation" not in x) == 1
    picked = lines("ids", export_type=3, export_params={"samples": [hard_id], "sample_state": "__ALL__"})
    assert [x["id"] for x in picked] == [hard_id]
    listed = client.get(f"{DS}/{dataset_id}/export-tasks", limit=100).json()
    echoed = {t["path"]: t["export_params"] for t in listed["export_tasks"]}
    assert echoed["/b/exp/ids/"]["samples"] == [hard_id] and echoed["/b/exp/ids/"]["export_dest"] == "DIR"
    assert echoed["/b/exp/all/"]["clear_hard_property"] is True
    refused = client.post(f"{DS}/{dataset_id}/export-tasks", {"path": "/b/x/", "export_type": 7})
    assert refused.status_code == 400 and refused.json()["error_code"] == "ModelArts.4384"


@pytest.fixture
def live(database_url: str, server_factory) -> LiveServer:  # type: ignore[no-untyped-def]
    return server_factory(database_url=database_url)  # type: ignore[no-any-return]


def test_export_to_new_dataset_splits_train_and_eval(live: LiveServer) -> None:
    write_classification_folder(live.storage_root / "b" / "src", {"cat": 6, "dog": 4})
    (live.storage_root / "b" / "src" / "loose.jpg").write_bytes(image_bytes(30, 30, 77))
    client = live.signed()
    dataset_id = create_dataset(
        client, dataset_name="src", data_sources=[{"data_path": "/b/src/"}], work_path="/b/work/"
    )
    wait_import(client, dataset_id)
    done = export(
        client,
        dataset_id,
        path="/b/copy/input/",
        export_type=0,
        export_params={
            "export_dest": "NEW_DATASET",
            "export_new_dataset_name": "copy",
            "export_new_dataset_work_path": "/b/copy/output/",
            "ratio_sample_usage": True,
            "train_sample_ratio": "0.8",
            "export_dataset_version_name": "V001",
        },
    )
    assert done["status"] == "SUCCESSED", done
    assert done["export_params"]["export_dest"] == "NEW_DATASET"
    assert client.get(f"{DS}/{dataset_id}/export-tasks", export_type=0).json()["total_count"] == 1
    assert client.get(f"{DS}/{dataset_id}/export-tasks", export_type=1).json()["total_count"] == 0
    listed = client.get(DS, search_content="copy").json()["datasets"]
    (new,) = [d for d in listed if d["dataset_name"] == "copy"]
    detail = client.get(f"{DS}/{new['dataset_id']}").json()
    assert (
        detail["status"] == 1
        and detail["total_sample_count"] == 10
        and detail["annotated_sample_count"] == 10
    )
    assert detail["data_sources"] == [{"data_type": 0, "data_path": "/b/copy/input/"}]
    assert sorted(x["name"] for x in detail["labels"]) == ["cat", "dog"]
    assert len(files_under(live.storage_root / "b" / "copy" / "input")) == 10
    samples = client.get(f"{DS}/{new['dataset_id']}/data-annotations/samples", limit=100).json()["samples"]
    assert sorted(s["sample_usage"] for s in samples) == ["EVAL"] * 2 + ["TRAIN"] * 8
    assert all(s["labels"] for s in samples)
    # the new dataset's version manifest carries the same split
    versions = client.get(f"{DS}/{new['dataset_id']}/versions").json()["versions"]
    assert [v["version_name"] for v in versions] == ["V001"] and versions[0]["is_current"]
    manifest = live.storage_root / versions[0]["manifest_path"].lstrip("/")
    usages = sorted(line["usage"] for line in manifest_lines(manifest))
    assert usages == ["EVAL"] * 2 + ["TRAIN"] * 8
    taken = client.post(
        f"{DS}/{dataset_id}/export-tasks",
        {
            "path": "/b/copy2/in/",
            "export_params": {
                "export_dest": "NEW_DATASET",
                "export_new_dataset_name": "copy",
                "export_new_dataset_work_path": "/b/copy2/out/",
            },
        },
    )
    assert taken.status_code == 409 and taken.json()["error_code"] == "ModelArts.4351"


def test_failed_export_leaves_no_partial_files(server: LiveServer) -> None:
    folder = server.storage_root / "b" / "det"
    write_voc_folder(folder)
    client = server.signed()
    dataset_id = create_dataset(
        client,
        dataset_name="fail",
        dataset_type=1,
        data_sources=[{"data_path": "/b/det/"}],
        work_path="/b/w/",
    )
    wait_import(client, dataset_id)
    # the destination is an existing file
    (server.storage_root / "b" / "taken").write_bytes(b"not a directory")
    failed = export(client, dataset_id, path="/b/taken/", annotation_format="VOC")
    assert failed["status"] == "FAILED" and failed["error_code"] == "ModelArts.4358"
    assert (server.storage_root / "b" / "taken").read_bytes() == b"not a directory"
    # a data file vanished: the export fails midway and removes what it wrote
    (folder / "c.jpg").unlink()
    failed = export(client, dataset_id, path="/b/out/", annotation_format="COCO")
    assert failed["status"] == "FAILED", failed
    assert files_under(server.storage_root / "b" / "out") == []
    failed = export(
        client,
        dataset_id,
        path="/b/new/in/",
        export_params={
            "export_dest": "NEW_DATASET",
            "export_new_dataset_name": "never",
            "export_new_dataset_work_path": "/b/new/out/",
        },
    )
    assert failed["status"] == "FAILED", failed
    assert files_under(server.storage_root / "b" / "new") == []
    assert [d["dataset_name"] for d in client.get(DS).json()["datasets"]] == ["fail"]
