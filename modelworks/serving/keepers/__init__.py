"""Keepers: what starts, watches, updates and stops one service's instances (see ``base``).

base    the keeper's loop, lease, rows and settling, the hooks each backend fills in, ``KeeperBackend``
local   instances as model-server processes of this host (every service without a Ray address, and
        batch services always)
batch   a batch service's run (the local keeper's): input files or CSV rows in, results out
ray     a real-time service's models as Ray Serve applications on the cluster of ``MODELWORKS_RAY_ADDRESS``

``backends`` holds one ``KeeperBackend`` factory per compute backend, under the names
``modelworks.compute.ray_cluster.compute_backend`` gives.
"""

from __future__ import annotations

from collections.abc import Callable

from modelworks.registry import Registry
from modelworks.serving.keepers.base import KeeperBackend
from modelworks.serving.keepers.local import LocalKeeperBackend
from modelworks.serving.keepers.ray import RayKeeperBackend
from modelworks.settings import Settings

__all__ = ["KeeperBackend", "backends"]

backends: Registry[Callable[[Settings], KeeperBackend]] = Registry("service keeper backend")

backends.register("local", LocalKeeperBackend)
backends.register("ray", RayKeeperBackend)
