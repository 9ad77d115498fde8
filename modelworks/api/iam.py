"""IAM-compatible token issuing: ``POST /v3/auth/tokens`` (types in ``api/schemas/iam.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from starlette.concurrency import run_in_threadpool

from modelworks.api.deps import SessionDep, SettingsDep
from modelworks.api.routing import api_router
from modelworks.api.schemas.common import ErrorResp
from modelworks.api.schemas.iam import (
    KeystoneCreateUserTokenByPasswordReq,
    KeystoneCreateUserTokenByPasswordResp,
)
from modelworks.iam import service as iam

router = api_router(tags=["iam"])


@router.post(
    "/v3/auth/tokens",
    status_code=201,
    response_model=KeystoneCreateUserTokenByPasswordResp,
    responses={400: {"model": ErrorResp}, 401: {"model": ErrorResp}, 403: {"model": ErrorResp}},
)
async def create_token(
    session: SessionDep, settings: SettingsDep, body: KeystoneCreateUserTokenByPasswordReq, response: Response
) -> dict[str, Any]:
    """Password authentication scoped to a project; the token is in ``X-Subject-Token``."""
    # Password hashing and the database block: off the event loop.
    token, view = await run_in_threadpool(
        iam.issue_token, session, body.model_dump(exclude_unset=True), settings
    )
    response.headers["X-Subject-Token"] = token
    return view
