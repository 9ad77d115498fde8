"""IAM tables: domains (accounts), users, projects, memberships, access keys, tokens, sealing keys."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from modelworks.db.base import Base, new_id, now_ms


class Domain(Base):
    __tablename__ = "iam_domains"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class User(Base):
    __tablename__ = "iam_users"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    domain_id: Mapped[str] = mapped_column(ForeignKey("iam_domains.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(256))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class Project(Base):
    __tablename__ = "iam_projects"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    domain_id: Mapped[str] = mapped_column(ForeignKey("iam_domains.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class Membership(Base):
    """A user may work in a project of its own domain only through a membership."""

    __tablename__ = "iam_memberships"

    user_id: Mapped[str] = mapped_column(ForeignKey("iam_users.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("iam_projects.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AccessKey(Base):
    __tablename__ = "iam_access_keys"

    ak: Mapped[str] = mapped_column(String(64), primary_key=True)
    sealed_sk: Mapped[str] = mapped_column("sk", String(512))
    """The SK sealed for the server's secrets key (``modelworks.iam.secrets``), never plain text."""
    user_id: Mapped[str] = mapped_column(ForeignKey("iam_users.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class Token(Base):
    """An issued X-Auth-Token; only its SHA-256 is stored."""

    __tablename__ = "iam_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("iam_users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("iam_projects.id", ondelete="CASCADE"))
    issued_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class SealingKey(Base):
    """The public half of a secrets key that SKs are sealed for (``modelworks.iam.secrets``)."""

    __tablename__ = "iam_sealing_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))
    """Raw X25519 public key, URL-safe base64."""
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
