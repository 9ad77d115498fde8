"""Text classification reader: every ``.txt`` file, one sample per non-empty line.

With label type "1" a line is ``text<sample separator>label1<label separator>label2``; with "0" the
labels of line N are line N of ``<name>_result.txt``. Without a label type in ``label_format``, a file
with a ``_result.txt`` beside it is read as "0", any other as "1". Files are UTF-8 or GBK (the spec
allows both); ``options["encoding"]`` forces one.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any, ClassVar

from modelworks.errors import ModelworksError
from modelworks.formats.base import Annotation, Importer, ItemError, Record
from modelworks.formats.text._label_format import RESULT_SUFFIX, LabelFormat
from modelworks.storage import ObjectStore, ObsPath

_DETECT_SCAN = 200


def decode(data: bytes, encoding: str | None) -> str:
    """The file's text; UnicodeDecodeError (or LookupError for an unknown encoding) if it is not text."""
    for candidate in [encoding] if encoding else ["utf-8", "gbk"]:
        try:
            return data.decode(candidate).removeprefix("\ufeff")
        except UnicodeDecodeError:
            if encoding:
                raise
    raise UnicodeDecodeError("utf-8/gbk", data[:1], 0, 1, "neither UTF-8 nor GBK")


def is_text_file(path: ObsPath) -> bool:
    name = path.name
    return name.endswith(".txt") and not name.endswith(RESULT_SUFFIX) and not name.startswith(".")


class TextImporter(Importer):
    name: ClassVar[str] = "text"
    dataset_types: ClassVar[frozenset[int]] = frozenset({100})

    def detect(self, store: ObjectStore, path: ObsPath) -> float:
        if store.is_file(path):
            return 0.6 if is_text_file(path) else 0.0
        infos = islice(store.list(path.as_dir()), _DETECT_SCAN)
        return 0.6 if any(is_text_file(info.path) for info in infos) else 0.0

    def read(
        self, store: ObjectStore, path: ObsPath, *, dataset_type: int, options: dict[str, Any]
    ) -> Iterator[Record | ItemError]:
        fmt = LabelFormat.from_options(options, default_type=None)
        encoding = options.get("encoding")
        if store.is_file(path):
            files, keys = [path], {path.key}
            result = path.parent.join(path.name.removesuffix(".txt") + RESULT_SUFFIX)
            if store.is_file(result):
                keys.add(result.key)
        else:
            paths = [info.path for info in store.list(path.as_dir())]
            files, keys = [p for p in paths if is_text_file(p)], {p.key for p in paths}
        for file in files:
            yield from self._read_file(store, file, keys, fmt, encoding, dataset_type)

    @staticmethod
    def _read_file(
        store: ObjectStore,
        file: ObsPath,
        keys: set[str],
        fmt: LabelFormat,
        encoding: str | None,
        label_type: int,
    ) -> Iterator[Record | ItemError]:
        result = file.parent.join(file.name.removesuffix(".txt") + RESULT_SUFFIX)
        separate = fmt.label_type == "0" or (fmt.label_type is None and result.key in keys)
        try:
            lines = decode(store.read(file), encoding).splitlines()
            results = (
                decode(store.read(result), encoding).splitlines() if result.key in keys and separate else []
            )
        except (UnicodeDecodeError, LookupError):
            yield ItemError(str(file), f"not {encoding or 'UTF-8 or GBK'} text")
            return
        except ModelworksError as exc:
            yield ItemError(str(file), f"cannot read: {exc}")
            return
        for number, line in enumerate(lines):
            if not line.strip():
                continue
            body, names = line, []
            if separate:
                names = fmt.split_labels(results[number]) if number < len(results) else []
            elif fmt.sample_separator in line:
                body, _, tail = line.rpartition(fmt.sample_separator)
                names = fmt.split_labels(tail)
            yield Record(
                source=f"{file}#{number}",
                name=file.name,
                sample_type=1,
                text=body,
                annotations=[Annotation(name=name, type=label_type) for name in dict.fromkeys(names)],
            )
