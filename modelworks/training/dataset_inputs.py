"""Dataset inputs of training jobs (``remote.dataset``): resolving them and materialising them.

At creation, :class:`ProjectDatasets` resolves ``{"id", "version_id"}`` (or ``version_name``) to the
published version's manifest, within the caller's project only: another project's dataset is not found.
The channel keeps the dataset reference and the manifest as its ``obs_url``.

When the job is prepared, :func:`materialise_manifest` downloads the manifest and every file it refers to
(sample files, PASCAL VOC files of boxes) into the channel's local directory and rewrites those
references to the local paths: the code gets ``--<channel>=<local manifest path>`` and opens the sources
directly. Text samples travel inside the manifest (``content://``) and need no file.

    <channel dir>/<version>.manifest
    <channel dir>/data/<file>            sample files (a name taken again gets _1, _2 ... before its suffix)
    <channel dir>/annotations/<file>     annotation files
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelworks.data.datasets import get_dataset
from modelworks.data.tables import DatasetVersion
from modelworks.errors import (
    DatasetVersionNotFound,
    InvalidArgument,
    InvalidPath,
    InvalidTaskParameter,
    NotFound,
)
from modelworks.storage import ObjectStore, ObsPath, parse_obs_path
from modelworks.transfer.versions import NORMAL, get_version

CONTENT_SCHEME = "content://"
_CHUNK = 1024 * 1024


class ProjectDatasets:
    """Resolves dataset inputs against one project's published dataset versions (a ``DatasetResolver``)."""

    def __init__(self, session: Session, project_id: str) -> None:
        self.session = session
        self.project_id = project_id

    def resolve(self, raw: Any, field: str) -> dict[str, Any]:
        """The channel's ``remote``: the dataset reference with its manifest, and the manifest as ``obs``."""
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
            raise InvalidArgument("needs the dataset id and version_id", field=field)
        dataset = get_dataset(self.session, self.project_id, raw["id"])
        version_id, version_name = raw.get("version_id"), raw.get("version_name")
        if isinstance(version_id, str) and version_id:
            version = get_version(self.session, dataset, version_id)
        elif isinstance(version_name, str) and version_name:
            found = self.session.scalar(
                select(DatasetVersion).where(
                    DatasetVersion.dataset_id == dataset.id, DatasetVersion.name == version_name
                )
            )
            if found is None:
                raise DatasetVersionNotFound(
                    f"Dataset '{dataset.id}' has no version named '{version_name}'.",
                )
            version = found
        else:
            raise InvalidArgument("version_id is required (the published version to train on)", field=field)
        if version.status != NORMAL or not version.manifest_path:
            raise InvalidTaskParameter(
                f"Dataset version '{version.name}' of dataset '{dataset.name}' is not published yet.",
                field=f"{field}.version_id",
            )
        return {
            "dataset": {
                "id": dataset.id,
                "version_id": version.id,
                "name": dataset.name,
                "obs_url": version.manifest_path,
            },
            "obs": {"obs_url": version.manifest_path},
        }


class _Fetcher:
    """Downloads referenced objects once each, under unique local names."""

    def __init__(self, store: ObjectStore, root: Path, check: Callable[[], None]) -> None:
        self.store = store
        self.root = root
        self.check = check
        self.local: dict[tuple[str, str], str] = {}
        self.used: set[str] = set()
        self.missing: list[str] = []

    def fetch(self, reference: str, folder: str) -> str | None:
        """The local path of the object ``reference`` names (``obs://``, ``s3://`` or ``/bucket/key``);
        None if it is missing."""
        try:
            path = parse_obs_path(reference)
        except InvalidPath:
            self.missing.append(reference)
            return None
        key = (str(path), folder)
        if key in self.local:
            return self.local[key]
        name = path.name
        stem, dot, suffix = name.rpartition(".") if "." in name else (name, "", "")
        number = 0
        while f"{folder}/{name}" in self.used:
            number += 1
            name = f"{stem}_{number}{dot}{suffix}"
        target = self.root / folder / name
        try:
            self._copy(path, target)
        except (FileNotFoundError, NotFound):
            self.missing.append(str(path))
            return None
        self.used.add(f"{folder}/{name}")
        self.local[key] = str(target)
        self.check()
        return str(target)

    def _copy(self, path: ObsPath, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        local = self.store.local_path(path)
        if local is not None:
            shutil.copyfile(local, target)
            return
        with self.store.open_read(path) as src, target.open("wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)


def materialise_manifest(
    store: ObjectStore,
    manifest_url: str,
    dest: Path,
    check: Callable[[], None],
    note: Callable[[str], None] | None = None,
) -> str:
    """Download the manifest at ``manifest_url`` and the files it refers to into ``dest``; the local
    manifest's path.

    Lines whose sample file is missing from storage are left out (``note`` is told how many); text lines
    are kept as they are.
    """
    manifest = parse_obs_path(manifest_url)
    fetcher = _Fetcher(store, dest, check)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / manifest.name
    kept = dropped = 0
    with store.open_read(manifest) as src, target.open("w", encoding="utf-8") as out:
        for raw in _lines(src):
            line = json.loads(raw)
            source = str(line.get("source") or "")
            if not source.startswith(CONTENT_SCHEME):
                local = fetcher.fetch(source, "data")
                if local is None:
                    dropped += 1
                    continue
                line["source"] = local
            for entry in line.get("annotation") or []:
                if isinstance(entry, dict) and entry.get("annotation-loc"):
                    local = fetcher.fetch(str(entry["annotation-loc"]), "annotations")
                    if local is not None:
                        entry["annotation-loc"] = local
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            kept += 1
    if note is not None:
        message = f"dataset input {manifest}: {kept} samples, {len(fetcher.local)} files downloaded"
        if dropped or fetcher.missing:
            shown = ", ".join(fetcher.missing[:5])
            message += f"; {dropped} samples left out, files missing from storage: {shown}"
        note(message)
    return str(target)


def _lines(stream: BinaryIO) -> Iterator[str]:
    """The non-empty lines of a UTF-8 stream."""
    for raw in stream:
        text = raw.decode("utf-8").strip()
        if text:
            yield text
