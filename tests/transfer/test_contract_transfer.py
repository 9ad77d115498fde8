"""The typed contract of import, export and sync tasks over HTTP: bounded queries, enums refused,
the task views' fields, the tree export layout and an import's counts across attempts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests._client import SignedClient
from tests.conftest import LiveServer, run_server, wait_for
from tests.data._assets import image_bytes, write_classification_folder
from tests.data.test_datasets_api import DS, create_dataset, wait_import
from tests.transfer.test_exports import export, files_under, manifest_lines

HUGE = "1180591620717411303424"  # 2**70


def _classification(server: LiveServer, client: SignedClient, name: str = "cls") -> str:
    write_classification_folder(server.storage_root / "b" / name, {"cat": 3, "dog": 2})
    (server.storage_root / "b" / name / "loose.jpg").write_bytes(image_bytes(22, 20, 70))
    dataset_id = create_dataset(
        client, dataset_name=name, data_sources=[{"data_path": f"/b/{name}/"}], work_path="/b/work/"
    )
    assert wait_import(client, dataset_id)["status"] == "COMPLETED"
    return dataset_id


def _refused(response: Any, field: str, code: str = "ModelArts.0101") -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] == code and body["error_msg"].startswith(f"{field}:"), body


def test_task_lists_refuse_offsets_beyond_int32(server: LiveServer) -> None:
    client = server.signed()
    dataset_id = _classification(server, client)
    for kind in ("import-tasks", "export-tasks"):
        _refused(client.get(f"{DS}/{dataset_id}/{kind}", offset=HUGE), "offset")
        _refused(client.get(f"{DS}/{dataset_id}/{kind}", limit=101), "limit")
        assert client.get(f"{DS}/{dataset_id}/{kind}", offset=2**31 - 1).json()["total_count"] >= 0
    _refused(client.get(f"{DS}/{dataset_id}/export-tasks", export_type=HUGE), "export_type")


def test_export_task_view_and_refused_enums(server: LiveServer) -> None:
    client = server.signed()
    dataset_id = _classification(server, client)
    done = export(client, dataset_id, path="/b/out/plain/", export_type=0, version_format="Default")
    assert done["status"] == "SUCCESSED", done
    # every field of the reference's ExportTaskStatusResp that this task has
    for key, value in {
        "export_type": 0,
        "export_format": 2,
        "version_format": "Default",
        "path": "/b/out/plain/",
        "total_sample_count": 5,
        "finished_sample_count": 5,
        "progress": 100.0,
        "with_column_header": True,
    }.items():
        assert done[key] == value, (key, done)
    assert isinstance(done["create_time"], int) and isinstance(done["update_time"], int)
    assert done["export_params"]["export_dest"] == "DIR" and "error_code" not in done
    listed = client.get(f"{DS}/{dataset_id}/export-tasks").json()["export_tasks"]
    assert listed[0]["export_type"] == 0 and listed[0]["task_id"] == done["task_id"]

    url = f"{DS}/{dataset_id}/export-tasks"
    code = "ModelArts.4384"  # the reference's "invalid export parameter"
    _refused(client.post(url, {"path": "/b/x/", "version_format": "Parquet"}), "version_format", code)
    _refused(client.post(url, {"path": "/b/x/", "version_format": "CSV"}), "version_format", code)
    _refused(client.post(url, {"path": "/b/x/", "export_format": 3}), "export_format", code)
    # VOC, COCO and YOLO have layouts of their own: a tree of them is refused, not silently flat
    tree_coco = client.post(url, {"path": "/b/x/", "export_format": 1, "annotation_format": "COCO"})
    _refused(tree_coco, "export_format", code)
    _refused(
        client.post(url, {"path": "/b/x/", "with_column_header": "sometimes"}), "with_column_header", code
    )
    _refused(
        client.post(url, {"path": "/b/x/", "export_params": {"export_dest": "TAPE"}}),
        "export_params.export_dest",
        code,
    )
    _refused(
        client.post(url, {"path": "/b/x/", "export_params": {"search_conditions": [{"label_list": 5}]}}),
        "export_params.search_conditions[0].label_list",
        code,
    )
    # an import body is checked the same way, with the generic code
    imports = f"{DS}/{dataset_id}/import-tasks"
    _refused(client.post(imports, {"import_path": "/b/cls/", "import_type": "zip"}), "import_type")
    _refused(client.post(imports, {}), "import_path")


def _digests(root: Path, sources: dict[str, list[str]]) -> dict[str, list[str]]:
    """``{sha256 of the file's bytes: sorted label names}`` for samples given as ``{source: labels}``."""
    out = {}
    for source, labels in sources.items():
        out[hashlib.sha256((root / source.lstrip("/")).read_bytes()).hexdigest()] = sorted(labels)
    return out


def _labels_by_source(client: SignedClient, dataset_id: str) -> dict[str, list[str]]:
    samples = client.get(f"{DS}/{dataset_id}/data-annotations/samples", limit=100).json()["samples"]
    return {
        s["sample_dir"].rstrip("/") + "/" + s["sample_name"]: [x["name"] for x in s.get("labels") or []]
        for s in samples
    }


def test_tree_export_lays_files_out_by_label_and_imports_back(server: LiveServer) -> None:
    client = server.signed()
    dataset_id = _classification(server, client)
    original = _digests(server.storage_root, _labels_by_source(client, dataset_id))
    assert sorted(map(tuple, original.values())) == [(), *[("cat",)] * 3, *[("dog",)] * 2]

    done = export(client, dataset_id, path="/b/tree/", export_format=1, export_type=2)
    assert done["status"] == "SUCCESSED" and done["export_format"] == 1, done
    out = server.storage_root / "b" / "tree"
    files = files_under(out)
    assert sorted(f.split("/")[0] for f in files if f.endswith(".jpg")) == ["cat"] * 3 + ["dog"] * 2 + [
        "loose.jpg"
    ]
    (manifest,) = [f for f in files if f.endswith(".manifest")]
    lines = manifest_lines(out / manifest)
    # the manifest names the copies in their label folders
    by_source = {
        x["source"].removeprefix("obs:/"): [a["name"] for a in x.get("annotation", [])] for x in lines
    }
    assert all(source.startswith("/b/tree/") for source in by_source)
    assert _digests(server.storage_root, by_source) == original

    # read back as a directory: the manifest in it is found ...
    again = create_dataset(
        client, dataset_name="again", data_sources=[{"data_path": "/b/tree/"}], work_path="/b/work2/"
    )
    assert wait_import(client, again)["imported_sample_count"] == 6
    assert _digests(server.storage_root, _labels_by_source(client, again)) == original
    # ... and without it the folders alone carry the labels
    (out / manifest).unlink()
    folders = create_dataset(
        client, dataset_name="folders", data_sources=[{"data_path": "/b/tree/"}], work_path="/b/work3/"
    )
    assert wait_import(client, folders)["imported_sample_count"] == 6
    assert _digests(server.storage_root, _labels_by_source(client, folders)) == original


FILES = 3000


def _write_many(root: Path, layout: str) -> None:
    """FILES images, two in three labeled cat and the rest dog: in class folders, or beside a
    manifest that labels them (the annotated import)."""
    data = image_bytes(8, 8, 1)
    labels = ["cat" if i % 3 else "dog" for i in range(FILES)]
    if layout == "folders":
        for label in ("cat", "dog"):
            (root / label).mkdir(parents=True)
        for i, label in enumerate(labels):
            (root / label / f"{i}.jpg").write_bytes(data)
        return
    (root / "img").mkdir(parents=True)
    lines = []
    for i, label in enumerate(labels):
        (root / "img" / f"{i}.jpg").write_bytes(data)
        annotation = {"name": label, "type": "modelarts/image_classification"}
        lines.append(json.dumps({"source": f"obs://b/many/img/{i}.jpg", "annotation": [annotation]}))
    (root / "all.manifest").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("layout", ["folders", "manifest"])
def test_resumed_import_counts_every_sample_it_imported(
    tmp_path: Path, database_url: str, layout: str
) -> None:
    """The worker stops mid-import (the server shuts down); the next server's worker resumes the task,
    skipping what was committed, and the task's counts cover both attempts."""
    home = tmp_path / "home"
    with run_server(home, database_url=database_url) as first:
        _write_many(first.storage_root / "b" / "many", layout)
        client = first.signed()
        dataset_id = create_dataset(
            client, dataset_name="many", data_sources=[{"data_path": "/b/many/"}], work_path="/b/work/"
        )
        (listed,) = client.get(f"{DS}/{dataset_id}/import-tasks").json()["import_tasks"]
        task_url = f"{DS}/{dataset_id}/import-tasks/{listed['task_id']}"

        def part_done() -> dict[str, Any] | None:
            task = client.get(task_url).json()
            return task if task.get("imported_sample_count", 0) > 0 else None

        partial = wait_for(part_done, interval=0.01)
    assert partial["status"] == "RUNNING" and partial["imported_sample_count"] < FILES, partial

    with run_server(home, database_url=database_url) as second:
        client = second.signed()
        first_count = client.get(task_url).json()["imported_sample_count"]
        assert 0 < first_count < FILES

        def finished() -> dict[str, Any] | None:
            task = client.get(task_url).json()
            return task if task["status"] in ("COMPLETED", "FAILED") else None

        task = wait_for(finished, timeout=120)
        assert task["status"] == "COMPLETED", task
        assert task["imported_sample_count"] == FILES, task
        assert task["annotated_sample_count"] == FILES and task["total_sample_count"] == FILES
        stats = client.get(f"{DS}/{dataset_id}").json()
        assert stats["total_sample_count"] == FILES, stats
