"""The common shape every dataset format reads into and writes from, and the format contracts.

A format converts between files in an object store and a stream of ``Record`` s: one data file
(or, for text datasets, one text) with its labels. Readers and writers stream: neither holds a
whole dataset in memory, so 100,000-sample datasets convert in flat memory.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from modelworks.storage import ObjectStore, ObsPath


@dataclass
class Annotation:
    """One label on a sample, in the reference's terms (SampleLabel)."""

    name: str
    type: int = 0
    """Label type as the reference numbers them: 0 image classification, 1 object detection, 100 text ..."""
    property: dict[str, Any] = field(default_factory=dict)
    """Shape attributes for detection: ``@modelarts:shape`` ("bndbox", "polygon" ...) and
    ``@modelarts:feature`` (``[[xmin, ymin], [xmax, ymax]]`` for a bndbox, in pixels)."""
    score: float | None = None
    annotated_by: str = "human"
    creation_time: str | None = None
    """As the manifest writes it: ``"2019-01-23 11:30:30"``."""
    hard: bool | None = None
    hard_coefficient: float | None = None


@dataclass
class Record:
    """One sample as a format sees it."""

    source: str
    """OBS path of the data file, ``/bucket/key`` (for text: the file, with ``#line`` for a line sample),
    or ``content://...`` for inline text."""
    name: str = ""
    sample_type: int = 0
    usage: str | None = None
    """TRAIN, EVAL, TEST or INFERENCE."""
    id: str | None = None
    text: str | None = None
    size: tuple[int, int, int] | None = None
    """(width, height, depth) of an image, when known."""
    hard: bool | None = None
    hard_coefficient: float | None = None
    hard_reasons: list[int] | None = None
    annotations: list[Annotation] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys a format carries that have no field here (e.g. manifest ``inference-loc``)."""


@dataclass
class ItemError:
    """A file or line a reader could not use; readers yield these and go on."""

    file: str
    reason: str


@dataclass
class ExportSummary:
    """What an export wrote, in a size that does not grow with the dataset: the per-sample files
    (annotation files, copied images) are counted, not listed."""

    samples: int = 0
    file_count: int = 0
    """Files written, all of them (per-sample files and index files)."""
    index_files: list[str] = field(default_factory=list)
    """OBS paths of the few files that describe the export as a whole (manifest, COCO JSON, ImageSets
    lists, label maps ...), a handful whatever the number of samples."""

    def wrote(self, count: int = 1) -> None:
        """Count ``count`` per-sample files written."""
        self.file_count += count

    def wrote_index(self, path: ObsPath) -> None:
        self.file_count += 1
        self.index_files.append(str(path))


class Importer(ABC):
    """Reads a format from storage. One instance serves every import (keep no per-import state)."""

    name: ClassVar[str]
    dataset_types: ClassVar[frozenset[int]]
    """Dataset types (0, 1, 100 ...) this format can carry."""

    @abstractmethod
    def detect(self, store: ObjectStore, path: ObsPath) -> float:
        """Confidence in [0, 1] that ``path`` (a file or a directory) holds this format.

        Called when an import names no format; must look at little (a few files, a first line)."""

    @abstractmethod
    def read(
        self, store: ObjectStore, path: ObsPath, *, dataset_type: int, options: dict[str, Any]
    ) -> Iterator[Record | ItemError]:
        """Stream the records under ``path``; a bad item yields an ItemError (file, reason) and
        reading goes on. Never yields a record with part of its labels: an item with one broken
        label is an ItemError as a whole."""


class Exporter(ABC):
    """Writes a format to storage."""

    name: ClassVar[str]
    dataset_types: ClassVar[frozenset[int]]

    @abstractmethod
    def export(
        self,
        store: ObjectStore,
        records: Iterable[Record],
        dest: ObsPath,
        *,
        dataset_type: int,
        labels: list[dict[str, Any]],
        options: dict[str, Any],
    ) -> ExportSummary:
        """Write ``records`` under the directory ``dest``, streaming. ``labels`` are the dataset's
        labels (name, type, property) in order (COCO category ids follow this order). Options
        include ``export_format`` (1 tree, 2 tile), ``copy_data`` (bool), ``name`` (file stem) and
        ``staging`` (bool): ``dest`` is a private temporary prefix that the caller publishes in one
        piece when the export succeeds (``ObjectStore.move``) and deletes when it fails, so the files
        below it need not appear atomically one by one (``ObjectStore.write_many(atomic=False)``)."""
