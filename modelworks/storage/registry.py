"""Pick the object-store backend named by ``settings.storage_url``.

``file:///abs/path`` gives a :class:`LocalObjectStore` rooted there; ``s3://`` gives an
:class:`S3ObjectStore` on ``settings.storage_endpoint`` (anything after ``s3://`` is ignored: a
Modelworks bucket is an S3 bucket of the same name). Other backends call :func:`register`
(``stores.register``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from modelworks.registry import Registry
from modelworks.settings import Settings
from modelworks.storage.base import ObjectStore
from modelworks.storage.local import LocalObjectStore
from modelworks.storage.s3 import S3ObjectStore

StoreFactory = Callable[[Settings], ObjectStore]

stores: Registry[StoreFactory] = Registry("storage scheme")
"""Object-store factories by the scheme of ``settings.storage_url`` (``file``, ``s3``)."""


def register(scheme: str, factory: StoreFactory) -> None:
    """Make ``create_store`` build ``factory(settings)`` for ``storage_url``s of ``scheme``; a scheme
    registered twice is refused (``DuplicateName``, a ``ValueError``)."""
    stores.register(scheme, factory)


def create_store(settings: Settings) -> ObjectStore:
    """The object store ``settings.storage_url`` names; ValueError for an unknown scheme."""
    factory = stores.find(settings.storage_backend)
    if factory is None or "://" not in settings.storage_url:
        known = ", ".join(f"{name}://" for name in stores.names())
        raise ValueError(f"unsupported storage_url {settings.storage_url!r}: use one of {known}")
    return factory(settings)


def _local_store(settings: Settings) -> ObjectStore:
    parts = urlsplit(settings.storage_url)
    # "file://relative/dir" would put "relative" in the host part; only absolute paths are meant.
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise ValueError(f"storage_url {settings.storage_url!r} must be file:///absolute/path")
    return LocalObjectStore(Path(unquote(parts.path)))


def _s3_store(settings: Settings) -> ObjectStore:
    return S3ObjectStore(
        endpoint=settings.storage_endpoint,
        access_key=settings.storage_access_key,
        secret_key=settings.storage_secret_key,
        region=settings.storage_region,
    )


stores.register("file", _local_store)
stores.register("s3", _s3_store)
