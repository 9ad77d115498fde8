"""Errors of storage: OBS paths and buckets."""

from __future__ import annotations

from modelworks.errors.base import Conflict, Forbidden, InvalidArgument, InvalidPath, NotFound


class StorageForbidden(Forbidden):
    """A storage path in a bucket the caller's project neither owns nor has been shared (or the system
    bucket); the message names the request field when there is one."""

    def __init__(self, message: str, *, field: str | None = None):
        if field and not message.startswith(f"{field}: "):
            message = f"{field}: {message}"
        super().__init__(message)
        self.field = field


class BucketOfAnotherProject(Conflict):
    """The bucket is already owned by another project."""

    error_code = "ModelArts.4310"


class BucketNotFound(NotFound):
    """The bucket is not one of the project's (owned or shared with it)."""

    error_code = "ModelArts.4311"


class ObsPathNotFound(NotFound):
    """No object (or directory) at this OBS path."""

    error_code = "ModelArts.4312"


class DoubleSlashInPath(InvalidPath):
    """An OBS path contains ``//``."""

    error_code = "ModelArts.4315"


class SubdirectoryRequired(InvalidArgument):
    """A bucket root was given where a dataset input or output directory is needed."""

    error_code = "ModelArts.4205"
