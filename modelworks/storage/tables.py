"""Storage tables: which project owns each bucket, and its shares (see ``ownership``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from modelworks.db.base import Base, now_ms


class Bucket(Base):
    __tablename__ = "storage_buckets"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    create_time: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class BucketShare(Base):
    __tablename__ = "storage_bucket_shares"

    bucket: Mapped[str] = mapped_column(
        ForeignKey("storage_buckets.name", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    access: Mapped[str] = mapped_column(String(16))
    create_time: Mapped[int] = mapped_column(BigInteger, default=now_ms)
