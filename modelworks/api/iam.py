"""IAM-compatible token issuing: ``POST /v3/auth/tokens``."""

from __future__ import annotations

import json

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from modelworks.api.deps import SessionDep, SettingsDep
from modelworks.api.routing import api_router
from modelworks.errors import InvalidJson
from modelworks.iam import service as iam

router = api_router(tags=["iam"])


@router.post("/v3/auth/tokens", status_code=201)
async def create_token(request: Request, session: SessionDep, settings: SettingsDep) -> JSONResponse:
    """Password authentication scoped to a project; the token is in ``X-Subject-Token``."""
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError as exc:
        raise InvalidJson("Incorrect JSON format of the input data.") from exc
    # Password hashing and the database block: off the event loop.
    token, view = await run_in_threadpool(iam.issue_token, session, body, settings)
    return JSONResponse(status_code=201, content=view, headers={"X-Subject-Token": token})
