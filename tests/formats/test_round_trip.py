"""Every format: import a dataset written in its real layout, check the labels, export, import again
and get the same labels and boxes back."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from modelworks.formats import exporter, importer
from modelworks.storage import ObjectStore, ObsPath
from modelworks.transfer.staging import publish_output
from tests.formats import _datasets as ds
from tests.formats._datasets import Canonical


class RoundTrip:
    """Subclasses name the format and write a dataset; the tests here are the same for all."""

    format: ClassVar[str]
    dataset_type: ClassVar[int]
    labels: ClassVar[list[str]] = ds.DETECTION_LABELS
    read_options: ClassVar[dict[str, Any]] = {}
    export_options: ClassVar[dict[str, Any]] = {"copy_data": True}

    def write_dataset(self, store: ObjectStore, root: ObsPath) -> tuple[ObsPath, Canonical]:
        """Write the dataset below ``root``; return the path to import and the labels it holds."""
        raise NotImplementedError

    def export_path(self, dest: ObsPath) -> ObsPath:
        """Where the export is imported from (the export directory unless a format writes one file)."""
        return dest

    def read(self, store: ObjectStore, path: ObsPath) -> ds.Canonical:
        records, errors = ds.split(
            importer(self.format).read(store, path, dataset_type=self.dataset_type, options=self.read_options)
        )
        assert errors == []
        assert len({r.source for r in records}) == len(records)
        return ds.canonical(records)

    def test_import_gives_the_labels_written(self, store: ObjectStore, root: ObsPath) -> None:
        path, expected = self.write_dataset(store, root.join("source/"))
        assert self.read(store, path) == expected

    @pytest.mark.parametrize("staged", [False, True], ids=["direct", "staged"])
    def test_export_then_import_gives_the_same_labels(
        self, any_store: ObjectStore, root: ObsPath, staged: bool
    ) -> None:
        """``staged``: as the export task runs it, into a private prefix (files written without
        per-file atomicity) then published to the destination."""
        path, expected = self.write_dataset(any_store, root.join("source/"))
        reader = importer(self.format)
        records, errors = ds.split(
            reader.read(any_store, path, dataset_type=self.dataset_type, options=self.read_options)
        )
        assert errors == []
        dest = root.join("export/")
        staging = dest.join(".mw-export-test/")
        summary = exporter(self.format).export(
            any_store,
            iter(records),
            staging if staged else dest,
            dataset_type=self.dataset_type,
            labels=[{"name": name, "type": self.dataset_type} for name in self.labels],
            options={**self.export_options, "staging": staged},
        )
        assert summary.samples == len(records)
        index = summary.index_files
        files = publish_output(any_store, index, staging, dest) if staged else index
        assert all(any_store.is_file(ObsPath(root.bucket, f.split("/", 2)[2])) for f in files)
        # Every file is counted (not listed: a list would grow with the dataset).
        assert summary.file_count == len(any_store.list_keys(dest)) > 0
        assert not any_store.exists(staging)
        assert self.read(any_store, self.export_path(dest)) == expected


class TestVoc(RoundTrip):
    format, dataset_type = "VOC", 1

    def write_dataset(self, store: ObjectStore, root: ObsPath) -> tuple[ObsPath, Canonical]:
        ds.write_voc(store, root, ds.DETECTION + ds.POLYGONS)
        return root, ds.canonical_of_samples(ds.DETECTION + ds.POLYGONS)


class TestVocDirectories(TestVoc):
    def write_dataset(self, store: ObjectStore, root: ObsPath) -> tuple[ObsPath, Canonical]:
        ds.write_voc(store, root, ds.DETECTION, layout="voc")
        return root, ds.canonical_of_samples(ds.DETECTION)


class TestCoco(RoundTrip):
    format, dataset_type = "COCO", 1

    def write_dataset(self, store: ObjectStore, root: ObsPath) -> tuple[ObsPath, Canonical]:
        ds.write_coco(store, root, ds.DETECTION)
        return root, ds.canonical_of_samples(ds.DETECTION)


class TestCocoPolygons(TestCoco):
    read_options: ClassVar[dict[str, Any]] = {"prefer_polygons": True}

    def write_dataset(self, store: ObjectStore, root: ObsPath) -> tuple[ObsPath, Canonical]:
        ds.write_coco(store, root, ds.POLYGONS)
        return root.join("annotations/instances_train.json"), ds.canonical_of_samples(ds.POLYGONS)

    def export_path(self, dest: ObsPath) -> ObsPath:
        return dest.join("annotations/instances_default.json")


class TestYolo(RoundTrip):
    format, dataset_type = "YOLO", 1

    def write_dataset(self, store: ObjectStore, root: ObsPath) -> tuple[ObsPath, Canonical]:
        ds.write_yolo(store, root, ds.DETECTION)
        return root, ds.canonical_of_samples(ds.DETECTION)


class TestDetectionManifest(RoundTrip):
    format, dataset_type = "manifest", 1
    export_options: ClassVar[dict[str, Any]] = {"source_scheme": "s3://", "name": "exported"}

    def write_dataset(self, store: ObjectStore, root: ObsPath) -> tuple[ObsPath, Canonical]:
        samples = ds.DETECTION + ds.POLYGONS
        return ds.write_detection_manifest(store, root, samples), ds.canonical_of_samples(samples)

    def export_path(self, dest: ObsPath) -> ObsPath:
        return dest.join("exported.manifest")


class TestDetectionManifestInline(TestDetectionManifest):
    export_options: ClassVar[dict[str, Any]] = {"inline_boxes": True}

    def export_path(self, dest: ObsPath) -> ObsPath:
        return dest  # the directory: its *.manifest files


class TestClassificationManifest(RoundTrip):
    format, dataset_type = "manifest", 0
    labels: ClassVar[list[str]] = ["cat", "dog"]

    def write_dataset(self, store: ObjectStore, root: ObsPath) -> tuple[ObsPath, Canonical]:
        return ds.write_classification_manifest(store, root), ds.classification_expected()


class TestClassificationManifestTree(TestClassificationManifest):
    """Tree layout (``export_format`` 1): the data files copied into label folders, the manifest
    naming the copies."""

    export_options: ClassVar[dict[str, Any]] = {"export_format": 1}


class TestDetectionManifestTree(TestDetectionManifest):
    export_options: ClassVar[dict[str, Any]] = {**TestDetectionManifest.export_options, "export_format": 1}


class TestTextManifest(RoundTrip):
    format, dataset_type = "manifest", 100
    labels: ClassVar[list[str]] = ["positive", "negative", "battery"]

    def write_dataset(self, store: ObjectStore, root: ObsPath) -> tuple[ObsPath, Canonical]:
        return ds.write_text_manifest(store, root), ds.text_expected()


class TestFolderTree(RoundTrip):
    format, dataset_type = "folder", 0
    labels: ClassVar[list[str]] = ["cat", "dog"]
    export_options: ClassVar[dict[str, Any]] = {"export_format": 1}

    def write_dataset(self, store: ObjectStore, root: ObsPath) -> tuple[ObsPath, Canonical]:
        ds.write_folder_tree(store, root)
        expected = {k: v for k, v in ds.classification_expected().items() if len(v) == 1}
        return root, expected


class TestFolderTiles(RoundTrip):
    format, dataset_type = "folder", 0
    labels: ClassVar[list[str]] = ["cat", "dog"]
    export_options: ClassVar[dict[str, Any]] = {"export_format": 2}

    def write_dataset(self, store: ObjectStore, root: ObsPath) -> tuple[ObsPath, Canonical]:
        ds.write_folder_tiles(store, root)
        return root, ds.classification_expected()


class TestTextLines(RoundTrip):
    format, dataset_type = "text", 100
    labels: ClassVar[list[str]] = ["positive", "negative", "battery"]
    export_options: ClassVar[dict[str, Any]] = {}

    def write_dataset(self, store: ObjectStore, root: ObsPath) -> tuple[ObsPath, Canonical]:
        ds.write_text_lines(store, root)
        return root, ds.text_expected()


class TestTextResultFiles(TestTextLines):
    export_options: ClassVar[dict[str, Any]] = {
        "label_format": {"label_type": "0", "text_label_separator": ";"}
    }
    read_options: ClassVar[dict[str, Any]] = {
        "label_format": {"label_type": "0", "text_label_separator": ";"}
    }

    def write_dataset(self, store: ObjectStore, root: ObsPath) -> tuple[ObsPath, Canonical]:
        ds.write_text_results(store, root, separator=";")
        return root, ds.text_expected()
