"""Turning stored files into sample rows: image sizes, folder labels, text lines."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError

from modelworks.data.constants import (
    IMAGE_CLASSIFICATION,
    SAMPLE_IMAGE,
    SAMPLE_TEXT,
    extensions_for,
    sample_type_for,
)
from modelworks.data.samples import sample_id_for
from modelworks.storage import ObjectInfo, ObjectStore, ObsPath

_HEADER_BYTES = 256 * 1024
DEFAULT_LABEL_FORMAT = {"label_type": "1", "text_sample_separator": "\t", "text_label_separator": ","}


@dataclass
class IndexedSample:
    """A sample ready to insert, with the names of the labels the files carried."""

    row: dict[str, Any]
    label_names: list[str] = field(default_factory=list)


class UnreadableFile(Exception):
    """A file that cannot become a sample; the message is the reason reported to the user."""


def wanted(info: ObjectInfo, dataset_type: int) -> bool:
    extensions = extensions_for(dataset_type)
    name = info.path.name.lower()
    if name.startswith(".") or name.endswith("_result.txt"):
        return False
    return extensions is None or os.path.splitext(name)[1] in extensions


def image_size(store: ObjectStore, path: ObsPath) -> list[int]:
    """[width, height, depth] from the file's header, reading as little as possible."""
    local = store.local_path(path)
    try:
        if local is not None:
            with Image.open(local) as im:
                return [im.width, im.height, len(im.getbands())]
        try:
            with Image.open(io.BytesIO(store.read_range(path, 0, _HEADER_BYTES))) as im:
                return [im.width, im.height, len(im.getbands())]
        except (UnidentifiedImageError, OSError, SyntaxError):
            with Image.open(io.BytesIO(store.read(path))) as im:
                return [im.width, im.height, len(im.getbands())]
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnreadableFile(f"not a readable image ({type(exc).__name__})") from exc


def _base_row(
    dataset_id: str, info: ObjectInfo, sample_type: int, import_task_id: str | None
) -> dict[str, Any]:
    source = str(info.path)
    return {
        "id": sample_id_for(dataset_id, source),
        "dataset_id": dataset_id,
        "source": source,
        "name": info.path.name,
        "sample_dir": str(info.path.parent),
        "sample_type": sample_type,
        "size": info.size,
        "sample_time": info.mtime_ms,
        "import_task_id": import_task_id,
    }


def index_image(
    store: ObjectStore,
    info: ObjectInfo,
    *,
    dataset_id: str,
    dataset_type: int,
    root: ObsPath,
    with_labels: bool,
    import_task_id: str | None,
) -> IndexedSample:
    row = _base_row(dataset_id, info, SAMPLE_IMAGE, import_task_id)
    row["meta"] = {"@modelarts:import_origin": 0, "@modelarts:size": image_size(store, info.path)}
    labels: list[str] = []
    if with_labels and dataset_type == IMAGE_CLASSIFICATION:
        parts = info.path.relative_to(root).split("/")
        if len(parts) >= 2 and parts[-2]:
            labels.append(parts[-2])
    return IndexedSample(row, labels)


def index_text(
    content: bytes,
    info: ObjectInfo,
    *,
    dataset_id: str,
    label_format: dict[str, Any] | None,
    with_labels: bool,
    import_task_id: str | None,
    encoding: str = "utf-8",
) -> list[IndexedSample]:
    """One sample per non-empty line; with labels, ``text<TAB>label1,label2`` lines carry labels."""
    try:
        text = content.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise UnreadableFile(f"not {encoding} text") from exc
    fmt = {**DEFAULT_LABEL_FORMAT, **(label_format or {})}
    sample_sep = str(fmt.get("text_sample_separator") or "\t")
    label_sep = str(fmt.get("text_label_separator") or ",")
    parse = with_labels and str(fmt.get("label_type", "1")) == "1"
    out = []
    for number, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        labels: list[str] = []
        body = line
        if parse and sample_sep in line:
            body, _, tail = line.rpartition(sample_sep)
            labels = [name.strip() for name in tail.split(label_sep) if name.strip()]
        row = _base_row(dataset_id, info, SAMPLE_TEXT, import_task_id)
        row["id"] = sample_id_for(dataset_id, f"{info.path}#{number}")
        row["source"] = f"{info.path}#{number}"
        row["text"] = body
        row["size"] = len(body.encode())
        row["meta"] = {"@modelarts:import_origin": 0, "line": number}
        out.append(IndexedSample(row, labels))
    return out


def index_file(
    store: ObjectStore,
    info: ObjectInfo,
    *,
    dataset_id: str,
    dataset_type: int,
    root: ObsPath,
    with_labels: bool,
    label_format: dict[str, Any] | None,
    import_task_id: str | None,
) -> list[IndexedSample]:
    sample_type = sample_type_for(dataset_type)
    if sample_type == SAMPLE_IMAGE:
        return [
            index_image(
                store,
                info,
                dataset_id=dataset_id,
                dataset_type=dataset_type,
                root=root,
                with_labels=with_labels,
                import_task_id=import_task_id,
            )
        ]
    if sample_type == SAMPLE_TEXT:
        return index_text(
            store.read(info.path),
            info,
            dataset_id=dataset_id,
            label_format=label_format,
            with_labels=with_labels,
            import_task_id=import_task_id,
        )
    row = _base_row(dataset_id, info, sample_type, import_task_id)
    row["meta"] = {"@modelarts:import_origin": 0}
    return [IndexedSample(row)]
