"""Object storage behind OBS paths: one interface, a local-directory and an S3 backend.

store = create_store(settings)
store.write(parse_obs_path("/bucket/dir/a.txt"), b"hello")
"""

from modelworks.storage.base import ObjectInfo, ObjectStore
from modelworks.storage.local import LocalObjectStore
from modelworks.storage.paths import ObsPath, parse_obs_path
from modelworks.storage.registry import create_store, register
from modelworks.storage.s3 import S3ObjectStore

__all__ = [
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectStore",
    "ObsPath",
    "S3ObjectStore",
    "create_store",
    "parse_obs_path",
    "register",
]
