"""ModelArts manifest reader: JSON Lines, one sample per line, detection shapes in VOC files."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, ClassVar

from modelworks.data.constants import SAMPLE_TEXT, sample_type_for
from modelworks.errors import InvalidPath, ModelworksError, NotFound
from modelworks.formats.base import Annotation, Importer, ItemError, Record
from modelworks.formats.common import (
    CONTENT_SCHEME,
    IO_THREADS,
    feature_problem,
    parse_bool,
    resolve_source,
    start_reads,
)
from modelworks.formats.manifest._types import NAMED_TYPES, label_type
from modelworks.formats.voc.annotation import VocError, parse_voc
from modelworks.storage import ObjectStore, ObsPath

MANIFEST_SUFFIXES = (".manifest", ".jsonl", ".json")
_KNOWN_KEYS = frozenset(
    {"source", "usage", "hard", "hard-coefficient", "hard-reasons", "id", "sample-type", "annotation"}
)
_PEEK_BYTES = 64 * 1024
_BATCH_LINES = 256


class LineError(ValueError):
    """A manifest line that cannot become a record; the message is the reason."""


@dataclass
class _Batch:
    """Parsed lines (line number, JSON object or why not) and, once read, their VOC files."""

    lines: list[tuple[int, dict[str, Any] | LineError]]
    fetched: Callable[[], dict[str, bytes | BaseException]]


def _float(value: Any, what: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise LineError(f"{what} is not a number: {value!r}") from exc


def _bool(value: Any, what: str) -> bool | None:
    try:
        return parse_bool(value)
    except ValueError as exc:
        raise LineError(f"{what} is not true or false: {value!r}") from exc


def looks_like_manifest_line(head: bytes) -> bool:
    line = head.split(b"\n", 1)[0].strip().removeprefix(b"\xef\xbb\xbf")
    try:
        first = json.loads(line)
    except ValueError:
        # A first line longer than the peek (a long inline text): judge by its start.
        return line.startswith(b"{") and b'"source"' in line and len(line) >= _PEEK_BYTES - 1
    return isinstance(first, dict) and "source" in first


class ManifestImporter(Importer):
    name: ClassVar[str] = "manifest"
    dataset_types: ClassVar[frozenset[int]] = frozenset({0, 1, 100})

    def detect(self, store: ObjectStore, path: ObsPath) -> float:
        if store.is_file(path):
            if not looks_like_manifest_line(store.read_range(path, 0, _PEEK_BYTES)):
                return 0.0
            return 0.95 if path.name.endswith(".manifest") else 0.9
        for manifest in self._manifests(store, path)[:1]:
            if looks_like_manifest_line(store.read_range(manifest, 0, _PEEK_BYTES)):
                return 0.9
        return 0.0

    @staticmethod
    def _manifests(store: ObjectStore, path: ObsPath) -> list[ObsPath]:
        """The ``*.manifest`` files directly in the directory ``path``."""
        infos = store.list(path.as_dir(), recursive=False)
        return [info.path for info in infos if info.path.name.endswith(".manifest")]

    def read(
        self, store: ObjectStore, path: ObsPath, *, dataset_type: int, options: dict[str, Any]
    ) -> Iterator[Record | ItemError]:
        manifests = [path] if store.is_file(path) else self._manifests(store, path)
        for manifest in manifests:
            yield from self._read_manifest(store, manifest, dataset_type)

    def _read_manifest(
        self, store: ObjectStore, manifest: ObsPath, dataset_type: int
    ) -> Iterator[Record | ItemError]:
        """Lines in batches: the VOC files a batch points to are read together on threads while the
        records of the batch before are built (in order) and handed on."""
        base = manifest.parent
        with store.open_read(manifest) as lines, ThreadPoolExecutor(IO_THREADS) as pool:
            previous: _Batch | None = None
            for batch in self._batches(lines):
                current = _Batch(batch, self._start_reads(store, base, batch, pool))
                if previous is not None:
                    yield from self._records(store, manifest, base, dataset_type, previous)
                previous = current
            if previous is not None:
                yield from self._records(store, manifest, base, dataset_type, previous)

    def _batches(self, lines: Iterable[bytes]) -> Iterator[list[tuple[int, dict[str, Any] | LineError]]]:
        batch: list[tuple[int, dict[str, Any] | LineError]] = []
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                batch.append((number, self._parse(raw, number)))
            except LineError as exc:
                batch.append((number, exc))
            if len(batch) >= _BATCH_LINES:
                yield batch
                batch = []
        if batch:
            yield batch

    @staticmethod
    def _start_reads(
        store: ObjectStore,
        base: ObsPath,
        batch: list[tuple[int, dict[str, Any] | LineError]],
        pool: ThreadPoolExecutor,
    ) -> Callable[[], dict[str, bytes | BaseException]]:
        """Start reading the VOC files of ``batch``; the function returned waits for them and maps each
        ``annotation-loc`` (as written) to its content or error."""
        wanted: dict[str, ObsPath] = {}  # each location resolved once, however many lines name it
        for _, line in batch:
            entries = line.get("annotation") if isinstance(line, dict) else None
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict) and entry.get("annotation-loc"):
                    location = str(entry["annotation-loc"])
                    if location not in wanted:
                        with suppress(InvalidPath):
                            wanted[location] = resolve_source(location, base)
        contents = start_reads(store, list(wanted.values()), pool)

        def fetched() -> dict[str, bytes | BaseException]:
            got = contents()
            return {location: got[path] for location, path in wanted.items()}

        return fetched

    def _records(
        self, store: ObjectStore, manifest: ObsPath, base: ObsPath, dataset_type: int, batch: _Batch
    ) -> Iterator[Record | ItemError]:
        fetched = batch.fetched()
        for number, line in batch.lines:
            try:
                if isinstance(line, LineError):
                    raise line
                item: Record | ItemError = self._record(store, line, base, dataset_type, fetched)
            except LineError as exc:
                item = ItemError(str(manifest), f"line {number}: {exc}")
            yield item

    @staticmethod
    def _parse(raw: bytes, number: int) -> dict[str, Any]:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LineError("not UTF-8") from exc
        try:
            line = json.loads(text.removeprefix("\ufeff") if number == 1 else text)
        except ValueError as exc:
            raise LineError(f"not JSON ({exc.args[0] if exc.args else exc})") from exc
        if not isinstance(line, dict):
            raise LineError("not a JSON object")
        return line

    def _record(
        self,
        store: ObjectStore,
        line: dict[str, Any],
        base: ObsPath,
        dataset_type: int,
        fetched: dict[str, bytes | BaseException] | None = None,
    ) -> Record:
        source = line.get("source")
        if not isinstance(source, str) or not source.strip():
            raise LineError("no source")
        record = Record(source=source, sample_type=sample_type_for(dataset_type))
        if source.startswith(CONTENT_SCHEME):
            record.text = source[len(CONTENT_SCHEME) :]
            record.sample_type = SAMPLE_TEXT
        else:
            try:
                path = resolve_source(source, base)
            except InvalidPath as exc:
                raise LineError(f"bad source {source!r}: {exc}") from exc
            record.source, record.name = str(path), path.name
        if line.get("sample-type") is not None:
            try:
                record.sample_type = int(line["sample-type"])
            except (TypeError, ValueError) as exc:
                raise LineError(f"sample-type is not an integer: {line['sample-type']!r}") from exc
        if line.get("usage"):
            record.usage = str(line["usage"]).upper()
        if line.get("id") is not None:
            record.id = str(line["id"])
        record.hard = _bool(line.get("hard"), "hard")
        record.hard_coefficient = _float(line.get("hard-coefficient"), "hard-coefficient")
        if line.get("hard-reasons") is not None:
            try:
                record.hard_reasons = [int(r) for r in line["hard-reasons"]]
            except (TypeError, ValueError) as exc:
                raise LineError("hard-reasons is not a list of integers") from exc
        record.extra = {key: value for key, value in line.items() if key not in _KNOWN_KEYS}
        entries = line.get("annotation") or []
        if not isinstance(entries, list):
            raise LineError("annotation is not a list")
        for entry in entries:
            if not isinstance(entry, dict):
                raise LineError("an annotation is not a JSON object")
            record.annotations.extend(self._annotations(store, entry, base, record, fetched or {}))
        return record

    def _annotations(
        self,
        store: ObjectStore,
        entry: dict[str, Any],
        base: ObsPath,
        record: Record,
        fetched: dict[str, bytes | BaseException],
    ) -> list[Annotation]:
        if not entry.get("type"):
            raise LineError("an annotation has no type")
        kind = label_type(entry.get("type"))
        if kind is None:
            raise LineError(f"unknown annotation type {entry.get('type')!r}")
        annotated_by = str(entry.get("annotated-by") or "human")
        creation_time = str(entry["creation-time"]) if entry.get("creation-time") else None
        hard = _bool(entry.get("hard"), "annotation hard")
        coefficient = _float(entry.get("hard-coefficient"), "annotation hard-coefficient")
        if entry.get("annotation-loc"):
            annotations = self._voc_annotations(store, entry, base, kind, record, fetched)
            for annotation in annotations:
                annotation.annotated_by, annotation.creation_time = annotated_by, creation_time
                if annotation.hard is None:
                    annotation.hard = hard
                if annotation.hard_coefficient is None:
                    annotation.hard_coefficient = coefficient
            return annotations
        name = entry.get("name")
        if kind in NAMED_TYPES and not (isinstance(name, str) and name.strip()):
            raise LineError(f"a {entry.get('type')} annotation has no name")
        prop = entry.get("property") or {}
        if not isinstance(prop, dict):
            raise LineError("annotation property is not a JSON object")
        problem = feature_problem(prop)
        if problem:
            raise LineError(problem)
        return [
            Annotation(
                name=str(name or ""),
                type=kind,
                property=prop,
                score=_float(entry.get("confidence"), "confidence"),
                annotated_by=annotated_by,
                creation_time=creation_time,
                hard=hard,
                hard_coefficient=coefficient,
            )
        ]

    @staticmethod
    def _voc_annotations(
        store: ObjectStore,
        entry: dict[str, Any],
        base: ObsPath,
        kind: int,
        record: Record,
        fetched: dict[str, bytes | BaseException],
    ) -> list[Annotation]:
        fmt = str(entry.get("annotation-format") or "PASCAL VOC")
        if fmt.upper().replace("_", " ") != "PASCAL VOC":
            raise LineError(f"annotation-format {fmt!r} is not supported (only PASCAL VOC)")
        location = str(entry["annotation-loc"])
        try:
            got = fetched.get(location)
            if isinstance(got, BaseException):
                raise got
            data = got if got is not None else store.read(resolve_source(location, base))
        except NotFound as exc:
            raise LineError(f"annotation file {location} does not exist") from exc
        except ModelworksError as exc:
            raise LineError(f"annotation file {location} cannot be read: {exc}") from exc
        try:
            document = parse_voc(data, label_type=kind)
        except VocError as exc:
            raise LineError(f"annotation file {location}: {exc}") from exc
        if record.size is None:
            record.size = document.size
        return document.annotations
