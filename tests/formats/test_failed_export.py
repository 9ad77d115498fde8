"""An export that fails midway. Formats with one file per sample write those files on threads, and into
a staging prefix without per-file atomicity (``staging``); once ``export`` has raised, nothing more is
written, so the export task's clean-up (deleting its staging prefix) leaves the destination empty."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelworks.errors import Conflict
from modelworks.formats import Annotation, Record, exporter
from modelworks.storage import ObjectStore, ObsPath

SAMPLES = 100
FAIL_AT = 70  # past the first chunk of files handed to the writer threads


def records(bucket: str, fail_at: int | None = None) -> Iterator[Record]:
    for i in range(SAMPLES):
        if i == fail_at:
            raise RuntimeError("the database went away")
        box = Annotation(
            name="car",
            type=1,
            property={"@modelarts:shape": "bndbox", "@modelarts:feature": [[1, 2], [30, 40]]},
        )
        yield Record(source=f"/{bucket}/images/{i:03d}.jpg", size=(64, 48, 3), annotations=[box])


def export(store: ObjectStore, items: Iterator[Record], fmt: str, dest: ObsPath, staged: bool) -> int:
    summary = exporter(fmt).export(
        store, items, dest, dataset_type=1, labels=[{"name": "car", "type": 1}], options={"staging": staged}
    )
    return summary.samples


@pytest.mark.parametrize("staged", [False, True], ids=["direct", "staged"])
@pytest.mark.parametrize("fmt", ["manifest", "VOC", "YOLO"])
def test_failed_export_writes_nothing_once_it_has_raised(
    any_store: ObjectStore, root: ObsPath, fmt: str, staged: bool
) -> None:
    dest = root.join("out/")
    staging = dest.join(".mw-export-task/")
    with pytest.raises(RuntimeError, match="went away"):
        export(any_store, records(root.bucket, fail_at=FAIL_AT), fmt, staging, staged)
    written = any_store.list_keys(dest)
    assert all(key.startswith(".mw-export-task/") for key in written), written
    # The files that index the per-sample files (manifest, ImageSets lists, train.txt) never appear.
    indexes = [
        k for k in written if "/ImageSets/" in k or (k.count("/") == 1 and k.endswith((".manifest", ".txt")))
    ]
    assert indexes == [], written
    any_store.delete_prefix(staging)
    assert any_store.list_keys(dest) == []


def test_a_failed_file_write_fails_the_export(store: ObjectStore, root: ObsPath) -> None:
    staging = root.join("out/.mw-export-task/")
    # An object where the exporter needs its Annotations directory (on the local store; S3 keys can
    # be an object and a prefix at once).
    store.write(staging.join("Annotations"), b"in the way")
    with pytest.raises(Conflict):
        export(store, records(root.bucket), "manifest", staging, True)
    assert not store.exists(staging.join("manifest.manifest"))
