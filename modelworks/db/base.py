"""Declarative base shared by every domain's tables, and id/time helpers."""

from __future__ import annotations

import secrets
import string
import time
import uuid

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_ALNUM = string.ascii_letters + string.digits


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)


def new_id() -> str:
    """32 lowercase hex characters, the shape of ModelArts project and sample ids."""
    return uuid.uuid4().hex


def new_short_id(length: int = 19) -> str:
    """Mixed-case alphanumeric id, the shape of ModelArts dataset and task ids."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def now_ms() -> int:
    """Milliseconds since the epoch, as ModelArts reports times."""
    return int(time.time() * 1000)
