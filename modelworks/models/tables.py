"""The model table: one row per model version ("AI application" in the reference).

A row holds the request merged with the package's ``config.json`` (``config`` is the merged
configuration, the same dict a service reads), where the package came from (``source_location``,
``source_job_id``) and where its checked copy lives (``model_dir``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, Text
from sqlalchemy import UniqueConstraint as Unique
from sqlalchemy.orm import Mapped, mapped_column

from modelworks.db.base import Base, now_ms


class Model(Base):
    """One version of a model. ``name`` + ``version`` are unique within a project."""

    __tablename__ = "models"
    __table_args__ = (
        Unique("project_id", "name", "version"),
        Index("ix_models_listing", "project_id", "create_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    workspace_id: Mapped[str] = mapped_column(String(64), default="0")
    domain_id: Mapped[str] = mapped_column(String(64), default="")
    user_id: Mapped[str] = mapped_column(String(64), default="")
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(16))
    version_key: Mapped[str] = mapped_column(String(16))
    """``version`` with each part zero-padded to two digits, so versions sort as text."""
    description: Mapped[str] = mapped_column(String(256), default="")
    model_type: Mapped[str] = mapped_column(String(32))
    """The AI engine as the runtime registry spells it (``PyTorch``, ``Scikit_Learn`` ...)."""
    runtime: Mapped[str] = mapped_column(String(128))
    model_algorithm: Mapped[str] = mapped_column(String(64), default="")
    model_source: Mapped[str] = mapped_column(String(16), default="custom")
    source_type: Mapped[str] = mapped_column(String(16), default="")
    source_location: Mapped[str] = mapped_column(Text)
    """The OBS directory the package was imported from, as ``/bucket/key/`` (it holds ``model/``)."""
    source_job_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    source_job_version: Mapped[str] = mapped_column(String(64), default="")
    execution_code: Mapped[str] = mapped_column(Text, default="")
    """OBS path of the ``customize_service.py`` the package was published with."""
    model_dir: Mapped[str] = mapped_column(Text)
    """OBS directory of the stored copy of the package's ``model/`` directory; complete once published."""
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    apis: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    dependencies: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    input_params: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    output_params: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    model_metrics: Mapped[str] = mapped_column(Text, default="")
    install_type: Mapped[list[str]] = mapped_column(JSON, default=list)
    model_docs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    health: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    model_size: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16))
    failed_msg: Mapped[str] = mapped_column(Text, default="")
    task_id: Mapped[str | None] = mapped_column(String(64), default=None)
    """The ``model-publish`` task of ``modelworks.jobs`` that checks and stores the package."""
    create_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    update_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
