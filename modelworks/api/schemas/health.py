"""``GET /health``: a Modelworks extension (no authentication), for load balancers and operators."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modelworks.api.schemas.common import ResponseModel


class SandboxState(ResponseModel):
    mode: str = Field(description='"uid": per-project users; "none": user code runs as the server')
    reason: str | None = Field(None, description="Why the mode is what it is")
    shared_user_code_allowed: bool | None = None


class HealthResp(ResponseModel):
    status: Literal["ok"]
    version: str
    database: str = Field(description="sqlite or postgresql")
    storage: str = Field(description='e.g. "local:/srv/modelworks/storage" or "s3:http://..."')
    executor: Literal["local", "ray"]
    worker: Literal["embedded", "external"]
    sandbox: SandboxState
