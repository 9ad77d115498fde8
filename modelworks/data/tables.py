"""Dataset tables: datasets, their labels, samples, the labels on samples, and published versions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from modelworks.db.base import Base, new_short_id, now_ms


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_short_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(256), default="")
    dataset_type: Mapped[int] = mapped_column(Integer, default=0)
    data_format: Mapped[str] = mapped_column(String(32), default="Default")
    data_sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    work_path: Mapped[str] = mapped_column(String(1024))
    work_path_type: Mapped[int] = mapped_column(Integer, default=0)
    workspace_id: Mapped[str] = mapped_column(String(64), default="0")
    label_format: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[int] = mapped_column(Integer, default=0)
    import_task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    next_version_num: Mapped[int] = mapped_column(Integer, default=1)
    current_version_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    current_version_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    deleted_sample_count: Mapped[int] = mapped_column(Integer, default=0)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    data_update_time: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class DatasetLabel(Base):
    __tablename__ = "dataset_labels"
    __table_args__ = (UniqueConstraint("dataset_id", "name", "type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    type: Mapped[int] = mapped_column(Integer, default=0)
    property: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attributes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class Sample(Base):
    """One file (or, for text datasets, one line of a file) of a dataset.

    ``status`` is derived from the labels: UN_ANNOTATION (none), MANUAL_ANNOTATION (a human or
    confirmed label), AUTO_ANNOTATION (only labels waiting for confirmation). ``version`` grows
    with every label change, for optimistic concurrency between labelers.
    """

    __tablename__ = "samples"
    __table_args__ = (
        UniqueConstraint("dataset_id", "source"),
        Index("ix_samples_listing", "dataset_id", "create_time", "id"),
        Index("ix_samples_status_listing", "dataset_id", "status", "create_time", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(1024))
    name: Mapped[str] = mapped_column(String(1024))
    sample_dir: Mapped[str] = mapped_column(String(1024), default="")
    sample_type: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(24), default="UN_ANNOTATION")
    usage: Mapped[str | None] = mapped_column(String(16), nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    hard: Mapped[int] = mapped_column(Integer, default=0)
    hard_coefficient: Mapped[float | None] = mapped_column(Float, nullable=True)
    labeler: Mapped[str | None] = mapped_column(String(128), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    import_task_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    sample_time: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    create_time: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    update_time: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class SampleLabel(Base):
    __tablename__ = "sample_labels"
    __table_args__ = (
        Index("ix_sample_labels_by_name", "dataset_id", "name", "sample_id"),
        Index("ix_sample_labels_listing", "dataset_id", "name", "sample_create_time", "sample_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sample_id: Mapped[str] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(256))
    type: Mapped[int] = mapped_column(Integer, default=0)
    property: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    annotated_by: Mapped[str] = mapped_column(String(16), default="human")
    labeler: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    sample_create_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The sample's ``create_time``, copied by a trigger on insert (migration 0011): the label
    filter of the sample list pages from ``ix_sample_labels_listing`` alone."""


class DatasetVersion(Base):
    """A published version: its manifest (written once, the version's snapshot) and its counts."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_short_id)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[int] = mapped_column(Integer, default=0)
    version_format: Mapped[str] = mapped_column(String(32), default="Default")
    train_evaluate_sample_ratio: Mapped[str] = mapped_column(String(16), default="1.00")
    remove_sample_usage: Mapped[bool] = mapped_column(Boolean, default=True)
    clear_hard_property: Mapped[bool] = mapped_column(Boolean, default=True)
    export_images: Mapped[bool] = mapped_column(Boolean, default=False)
    previous_version_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    total_sample_count: Mapped[int] = mapped_column(Integer, default=0)
    annotated_sample_count: Mapped[int] = mapped_column(Integer, default=0)
    label_stats: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    label_type: Mapped[str] = mapped_column(String(16), default="single")
    manifest_path: Mapped[str] = mapped_column(String(1024), default="")
    data_path: Mapped[str] = mapped_column(String(1024), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
