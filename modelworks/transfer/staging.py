"""Publishing what an export or a version wrote under its temporary prefix, in one move."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from typing import BinaryIO, cast

from modelworks.storage import ObjectStore, ObsPath, parse_obs_path


def publish_output(store: ObjectStore, files: Sequence[str], temp: ObsPath, final: ObsPath) -> list[str]:
    """Move everything an exporter wrote below ``temp`` to ``final`` (one ``move`` of the prefix, not
    file by file); returns the final paths of ``files``, the export's index files
    (``ExportSummary.index_files``: manifests, COCO JSON ...), which is all it needs to know.

    Manifests name their own VOC files by absolute path, so the temporary prefix in them is
    rewritten first (it holds a task id: no other text can contain it)."""
    old, new = f"{temp.bucket}/{temp.key}".encode(), f"{final.bucket}/{final.key}".encode()
    for file in files:
        if file.endswith(".manifest"):
            _replace_in_lines(store, parse_obs_path(file), old, new)
    if store.exists(temp):
        store.move(temp, final)
    return [file.replace(str(temp), str(final), 1) for file in files]


def _replace_in_lines(store: ObjectStore, path: ObsPath, old: bytes, new: bytes) -> None:
    """Replace ``old`` with ``new`` in the text object ``path`` (if it occurs), a line at a time: a
    manifest of 100,000 samples is tens of MB, which must not be held in memory."""
    with store.open_read(path) as source, tempfile.TemporaryFile() as out:
        changed = False
        for line in source:
            if old in line:
                line, changed = line.replace(old, new), True
            out.write(line)
        if changed:
            out.seek(0)
            store.write_stream(path, cast(BinaryIO, out))
