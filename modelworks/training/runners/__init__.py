"""Training-job runners, one per compute backend, siblings under ``base.JobRunner``.

    base        what every runner shares: the job's row, preparing its directory, ending it
    local       a process group on the worker's host (``compute.processes``)
    ray         a Ray Jobs submission (``_ray_driver.py`` runs there; ``ray_logs`` copies its log)

A job records the backend it was created for (``spec.runtime.executor``, ``compute_backend`` of the
server's settings then); its task looks the runner up here by that name.
"""

from __future__ import annotations

from modelworks.registry import Registry
from modelworks.training.runners.base import JobRunner
from modelworks.training.runners.local import LocalJobRunner
from modelworks.training.runners.ray import RayJobRunner

__all__ = ["JobRunner", "LocalJobRunner", "RayJobRunner", "runners"]

runners: Registry[type[JobRunner]] = Registry("training job runner")
"""Runner classes by compute backend (``modelworks.compute.ray_cluster.compute_backend``)."""

runners.register("local", LocalJobRunner)
runners.register("ray", RayJobRunner)
