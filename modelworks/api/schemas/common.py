"""Base classes and shared field types of the API models (see ``schemas/__init__.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1


class RequestModel(BaseModel):
    """A request body: extra fields are accepted (and ignored by the services), declared ones are
    validated (type, enum, bounds); ``model_dump(exclude_unset=True)`` gives the services what the
    client sent."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ResponseModel(BaseModel):
    """A response body: the reference's fields are declared; keys beyond them pass through."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ErrorResp(ResponseModel):
    """Every error answer: ``{"error_code": "ModelArts.0101", "error_msg": "field: why"}``."""

    error_code: str = Field(description="ModelArts error code, e.g. ModelArts.0101")
    error_msg: str = Field(description="What went wrong; a validation error names the field first")


# Query parameters shared by the list operations. Bounded, so that a 2**70 offset is a 400 naming the
# parameter instead of an integer the database cannot bind.
Offset = Annotated[int, Query(ge=0, le=MAX_INT32, description="Start of the page (0-based)")]
Limit100 = Annotated[int, Query(ge=1, le=100, description="Page size, 1-100")]
Limit1000 = Annotated[int, Query(ge=1, le=1000, description="Page size, 1-1000")]
Int32 = Annotated[int, Field(ge=-MAX_INT32 - 1, le=MAX_INT32)]
Int64 = Annotated[int, Field(ge=-MAX_INT64 - 1, le=MAX_INT64)]
