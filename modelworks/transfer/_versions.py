"""What ``versions`` (the service) and ``publishing`` (the task's work) share: a version's statuses,
its directories and the error for a missing one."""

from __future__ import annotations

from modelworks.data.datasets import inner_paths
from modelworks.data.tables import Dataset
from modelworks.errors import DatasetVersionNotFound, NotFound
from modelworks.storage import ObsPath, parse_obs_path

CREATING, NORMAL, DELETING, DELETED, ERROR = 0, 1, 2, 3, 4


def version_not_found(version_id: str) -> NotFound:
    return DatasetVersionNotFound(f"Dataset version '{version_id}' does not exist.")


def version_dir(dataset: Dataset, name: str) -> ObsPath:
    return parse_obs_path(inner_paths(dataset)["inner_annotation_path"]).join(f"{name}/")


def publish_temp_dir(dataset: Dataset, task_id: str) -> ObsPath:
    """Where a publish task writes before moving its output into ``version_dir`` in one move."""
    return parse_obs_path(inner_paths(dataset)["inner_annotation_path"]).join(f".mw-publish-{task_id}/")
