"""``GET /health``: liveness with the version and the backends in use (no authentication; a Modelworks
extension, typed in ``api/schemas/health.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from modelworks import __version__
from modelworks.api.routing import api_router
from modelworks.api.schemas.health import HealthResp
from modelworks.compute.ray_cluster import compute_backend

router = api_router(tags=["health"])


@router.get("/health", response_model=HealthResp)
async def health(request: Request) -> dict[str, Any]:
    # ``async``: answered on the event loop, never queued for a thread behind requests that wait for
    # the database. Everything below only formats what the app already holds.
    state = request.app.state
    return {
        "status": "ok",
        "version": __version__,
        "database": state.db.backend,
        "storage": state.store.describe(),
        "executor": compute_backend(state.settings),
        "worker": "embedded" if state.settings.embedded_worker else "external",
        # How user code is isolated ("uid": per-project users; "none": as the server's user, see reason).
        "sandbox": state.sandbox.describe(),
    }
