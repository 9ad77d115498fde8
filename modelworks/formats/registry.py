"""Format registries: explicit ``register_importer``/``register_exporter`` lines at the end of each format
package, duplicate names refused, lookups list known names."""

from __future__ import annotations

from modelworks.errors import InvalidArgument
from modelworks.formats.base import Exporter, Importer
from modelworks.registry import Registry
from modelworks.storage import ObjectStore, ObsPath

importers: Registry[Importer] = Registry("dataset importer")
"""Importers by normalised format name (``COCO``, ``VOC``, ``MANIFEST`` ...); filled by the format
packages' ``register_importer`` lines, which ``_load`` imports on first use."""
exporters: Registry[Exporter] = Registry("dataset exporter")
"""Exporters, keyed as ``importers``."""


def _key(name: str) -> str:
    return name.strip().upper().replace(" ", "_")


def register_importer(importer: Importer) -> None:
    """Add ``importer`` under its (normalised) ``name``; a second one of that name is refused."""
    importers.register(_key(importer.name), importer)


def register_exporter(exporter: Exporter) -> None:
    """Add ``exporter`` under its (normalised) ``name``; a second one of that name is refused."""
    exporters.register(_key(exporter.name), exporter)


def importer(name: str, field: str = "format") -> Importer:
    _load()
    found = importers.find(_key(name))
    if found is None:
        raise InvalidArgument(f"unknown format {name!r}; known: {', '.join(importer_names())}", field=field)
    return found


def exporter(name: str, field: str = "annotation_format") -> Exporter:
    _load()
    found = exporters.find(_key(name))
    if found is None:
        raise InvalidArgument(f"unknown format {name!r}; known: {', '.join(exporter_names())}", field=field)
    return found


def importer_names() -> list[str]:
    _load()
    return sorted(i.name for i in importers.values())


def exporter_names() -> list[str]:
    _load()
    return sorted(e.name for e in exporters.values())


def detect_format(store: ObjectStore, path: ObsPath, dataset_type: int) -> Importer | None:
    """The importer most confident about ``path`` for this dataset type (None if none is above 0.5)."""
    _load()
    best, best_score = None, 0.5
    for candidate in importers.values():
        if dataset_type not in candidate.dataset_types:
            continue
        score = candidate.detect(store, path)
        if score > best_score:
            best, best_score = candidate, score
    return best


_loaded = False


def _load() -> None:
    """Import the built-in format packages once; each registers itself at import."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib

    for module in BUILTIN_FORMATS:
        importlib.import_module(module)


BUILTIN_FORMATS = [
    "modelworks.formats.manifest",
    "modelworks.formats.voc",
    "modelworks.formats.coco",
    "modelworks.formats.yolo",
    "modelworks.formats.folder",
    "modelworks.formats.text",
]
