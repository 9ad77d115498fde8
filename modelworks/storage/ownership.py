"""Which project owns each bucket, and which buckets it shares with which projects.

Every bucket belongs to one project. It gets there in one of four ways:

* ``POST /v2/{project_id}/buckets`` (or ``modelworks admin create-bucket NAME --project P``);
* the operator's ``MODELWORKS_BUCKETS`` setting (``bucket=project,...``), applied at start;
* the first project that names a bucket which does not exist yet in the object store (as creating a
  bucket on OBS makes it yours);
* on an installation with a single project, the first use of any bucket nobody owns (a laptop,
  where there is nobody else to protect data from).

An existing bucket nobody owns on an installation with several projects is refused until an
operator assigns it: its data was put there by someone, and the first project to ask is not
necessarily that someone. An owner shares a bucket with another project read-only or read-write.
The system bucket is never a user's.

:class:`BucketOwnership` is the :class:`~modelworks.storage.scoped.BucketPolicy` the server's
``ProjectStore``\\ s ask. Answers are cached for ``CACHE_SECONDS``; a change made in this process
applies at once, one made by another process within ``CACHE_SECONDS``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelworks.db import Database
from modelworks.errors import (
    BucketNotFound,
    BucketOfAnotherProject,
    InvalidArgument,
    ProjectNotFound,
    StorageForbidden,
)
from modelworks.iam.tables import Project
from modelworks.storage.base import ObjectStore
from modelworks.storage.paths import SYSTEM_BUCKET, validate_bucket
from modelworks.storage.scoped import ProjectStore
from modelworks.storage.tables import Bucket, BucketShare

log = logging.getLogger(__name__)

OWNER, READ, READ_WRITE = "owner", "read", "read-write"
SHARE_ACCESS = (READ, READ_WRITE)
CACHE_SECONDS = 2.0


class _Changes:
    """Bumped by every ownership change this process commits; cached answers older than it are dropped."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def bump(self) -> None:
        with self._lock:
            self.count += 1


changes = _Changes()


@dataclass(frozen=True)
class _Answer:
    access: str | None
    loaded: float
    stamp: int


def _check_bucket(name: Any, field: str = "bucket_name") -> str:
    if not isinstance(name, str):
        raise InvalidArgument("must be a string", field=field)
    validate_bucket(name, field=field)
    if name == SYSTEM_BUCKET:
        raise StorageForbidden(f"bucket {SYSTEM_BUCKET} is the system's and never a user's", field=field)
    return name


# -- reading --------------------------------------------------------------------------------------


def access_of(session: Session, project_id: str, bucket: str) -> tuple[str | None, str | None]:
    """(the project's access to ``bucket`` or None, the owner's project id or None)."""
    owner = session.get(Bucket, bucket)
    if owner is None:
        return None, None
    if owner.project_id == project_id:
        return OWNER, owner.project_id
    share = session.get(BucketShare, (bucket, project_id))
    return (share.access if share else None), owner.project_id


def bucket_view(bucket: Bucket, access: str) -> dict[str, Any]:
    return {
        "bucket_name": bucket.name,
        "owner_project_id": bucket.project_id,
        "access": access,
        "create_time": bucket.create_time,
    }


def list_buckets(session: Session, project_id: str) -> list[dict[str, Any]]:
    """The buckets the project owns, then those shared with it, by name."""
    owned = session.scalars(select(Bucket).where(Bucket.project_id == project_id).order_by(Bucket.name))
    out = [bucket_view(b, OWNER) for b in owned]
    shared = session.execute(
        select(Bucket, BucketShare.access)
        .join(BucketShare, BucketShare.bucket == Bucket.name)
        .where(BucketShare.project_id == project_id)
        .order_by(Bucket.name)
    )
    out += [bucket_view(b, access) for b, access in shared]
    return out


def list_shares(session: Session, project_id: str, bucket: str) -> list[dict[str, Any]]:
    owned_bucket(session, project_id, bucket)
    rows = session.scalars(
        select(BucketShare).where(BucketShare.bucket == bucket).order_by(BucketShare.project_id)
    )
    return [{"project_id": r.project_id, "access": r.access, "create_time": r.create_time} for r in rows]


def owned_bucket(session: Session, project_id: str, bucket: str) -> Bucket:
    """The bucket row if ``project_id`` owns it; NotFound otherwise (another project's bucket is not
    told apart from a missing one)."""
    row = session.get(Bucket, bucket)
    if row is None or row.project_id != project_id:
        raise BucketNotFound(f"bucket {bucket} is not a bucket of this project")
    return row


# -- changing -------------------------------------------------------------------------------------


def _project_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Project)) or 0)


def may_claim(session: Session, store: ObjectStore, bucket: str) -> bool:
    """True if a project may take ``bucket``, which nobody owns, without an operator: it does not exist
    yet, or this installation has a single project."""
    return _project_count(session) <= 1 or not store.bucket_exists(bucket)


def claim(session: Session, project_id: str, bucket: str) -> Bucket:
    """Record ``project_id`` as the owner (the caller checked that it may); Conflict if another
    project got there first."""
    row = Bucket(name=bucket, project_id=project_id)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        current = session.get(Bucket, bucket)
        if current is not None and current.project_id == project_id:
            return current
        raise BucketOfAnotherProject(f"bucket {bucket} belongs to another project") from exc
    changes.bump()
    return row


def create_bucket(session: Session, store: ObjectStore, project_id: str, name: Any) -> tuple[Bucket, bool]:
    """``POST /buckets``: (the bucket, True if it is new to the project). Owning it already is not an
    error (a retried request gets the same answer)."""
    bucket = _check_bucket(name)
    current = session.get(Bucket, bucket)
    if current is not None:
        if current.project_id == project_id:
            return current, False
        raise BucketOfAnotherProject(f"bucket {bucket} belongs to another project")
    if not may_claim(session, store, bucket):
        raise StorageForbidden(
            f"bucket {bucket} already exists and belongs to no project: an administrator assigns it "
            f"(modelworks admin create-bucket {bucket} --project ..., or MODELWORKS_BUCKETS)",
            field="bucket_name",
        )
    row = claim(session, project_id, bucket)
    store.make_bucket(bucket)
    return row, True


def assign_bucket(session: Session, store: ObjectStore, project_id: str, name: str) -> Bucket:
    """The operator's assignment (admin CLI, settings): ``project_id`` owns ``name`` from now on, whoever
    owned it before; its shares are kept."""
    bucket = _check_bucket(name, field="bucket")
    if session.get(Project, project_id) is None:
        raise ProjectNotFound(f"project {project_id} does not exist")
    row = session.get(Bucket, bucket)
    if row is None:
        row = Bucket(name=bucket, project_id=project_id)
        session.add(row)
    elif row.project_id != project_id:
        log.warning("bucket %s moves from project %s to project %s", bucket, row.project_id, project_id)
        row.project_id = project_id
        share = session.get(BucketShare, (bucket, project_id))
        if share is not None:
            session.delete(share)
    session.flush()
    store.make_bucket(bucket)
    changes.bump()
    return row


def release_bucket(session: Session, project_id: str, bucket: str) -> None:
    """``DELETE /buckets/{name}``: the project gives the bucket up (its objects stay where they are;
    as an existing bucket nobody owns, only an operator can hand it out again)."""
    row = owned_bucket(session, project_id, bucket)
    for share in session.scalars(select(BucketShare).where(BucketShare.bucket == bucket)):
        session.delete(share)
    session.delete(row)
    session.flush()
    changes.bump()


def share_bucket(
    session: Session, owner_project_id: str, bucket: str, target: Any, access: Any
) -> BucketShare:
    """Let ``target`` read (``"read"``) or read and write (``"read-write"``) the owner's ``bucket``."""
    owned_bucket(session, owner_project_id, bucket)
    if access not in SHARE_ACCESS:
        raise InvalidArgument(f"must be one of {', '.join(SHARE_ACCESS)}", field="access")
    if not isinstance(target, str) or session.get(Project, target) is None:
        raise ProjectNotFound(f"project {target} does not exist")
    if target == owner_project_id:
        raise InvalidArgument("a project cannot share a bucket with itself", field="project_id")
    row = session.get(BucketShare, (bucket, target))
    if row is None:
        row = BucketShare(bucket=bucket, project_id=target, access=access)
        session.add(row)
    else:
        row.access = access
    session.flush()
    changes.bump()
    return row


def unshare_bucket(session: Session, owner_project_id: str, bucket: str, target: str) -> None:
    owned_bucket(session, owner_project_id, bucket)
    row = session.get(BucketShare, (bucket, target))
    if row is None:
        raise BucketNotFound(f"bucket {bucket} is not shared with project {target}")
    session.delete(row)
    session.flush()
    changes.bump()


def parse_bucket_setting(value: str) -> list[tuple[str, str]]:
    """``"a=proj1,b=proj2"`` -> [("a", "proj1"), ("b", "proj2")]; ValueError naming the bad entry."""
    out = []
    for entry in filter(None, (part.strip() for part in value.split(","))):
        bucket, sep, project = entry.partition("=")
        if not sep or not bucket.strip() or not project.strip():
            raise ValueError(f"MODELWORKS_BUCKETS: {entry!r} is not bucket=project")
        out.append((bucket.strip(), project.strip()))
    return out


def apply_bucket_setting(db: Database, store: ObjectStore, value: str) -> None:
    """Assign the buckets ``MODELWORKS_BUCKETS`` names (project by id, or by name when that name is
    unique); ValueError for an unknown or ambiguous project."""
    pairs = parse_bucket_setting(value)
    if not pairs:
        return
    with db.session() as session:
        for bucket, project in pairs:
            found = session.get(Project, project)
            if found is None:
                named = list(session.scalars(select(Project).where(Project.name == project)))
                if len(named) != 1:
                    what = "no" if not named else "more than one"
                    raise ValueError(f"MODELWORKS_BUCKETS: {what} project is named or has the id {project!r}")
                found = named[0]
            current = session.get(Bucket, bucket)
            if current is None or current.project_id != found.id:
                assign_bucket(session, store, found.id, bucket)


# -- the policy -----------------------------------------------------------------------------------


class BucketOwnership:
    """The bucket policy of one server or worker process (see the module docstring)."""

    def __init__(self, db: Database, store: ObjectStore, ttl_seconds: float = CACHE_SECONDS):
        self.db = db
        self.store = store
        self.ttl_seconds = ttl_seconds
        self._answers: dict[tuple[str, str], _Answer] = {}
        self._lock = threading.Lock()

    def scoped(self, project_id: str, session: Session | None = None) -> ProjectStore:
        """The object store as ``project_id`` may use it; ``session`` is the request's own (see
        :meth:`access`)."""
        return ProjectStore(self.store, project_id, self, session)

    def access(self, project_id: str, bucket: str, session: Session | None = None) -> str | None:
        """``"owner"``, ``"read-write"``, ``"read"`` or None; claims a bucket nobody owns when it may.

        A claim is written through ``session`` when the caller has a writing session open: on SQLite
        the request holds the write lock, and a second writer would wait for it forever. It then
        commits, or rolls back, with the request."""
        key = (project_id, bucket)
        answer = self._answers.get(key)
        now = time.monotonic()
        if answer is not None and now - answer.loaded < self.ttl_seconds and answer.stamp == changes.count:
            return answer.access
        stamp = changes.count
        # A plain lookup reads (on SQLite a write session would queue for the write lock); only a claim
        # writes, and checks again under the lock.
        with self.db.session(readonly=True) as reader:
            access, owner = access_of(reader, project_id, bucket)
        if owner is None:
            if session is not None and self._may_write(session):
                access = self._claim(session, project_id, bucket)
            else:
                with self.db.session() as own:
                    access = self._claim(own, project_id, bucket)
        if access is not None:
            with self._lock:
                if len(self._answers) > 10_000:
                    self._answers.clear()
                self._answers[key] = _Answer(access, now, stamp)
        return access

    def _may_write(self, session: Session) -> bool:
        """False for a SQLite reader's session (a GET request's), which must not start writing."""
        return not self.db.is_sqlite or session.get_bind() is not self.db.read_engine

    def _claim(self, session: Session, project_id: str, bucket: str) -> str | None:
        access, owner = access_of(session, project_id, bucket)
        if owner is None and may_claim(session, self.store, bucket):
            claim(session, project_id, bucket)
            access = OWNER
        return access

    def check(
        self,
        project_id: str,
        bucket: str,
        *,
        write: bool,
        field: str | None = None,
        session: Session | None = None,
    ) -> None:
        if bucket == SYSTEM_BUCKET:
            raise StorageForbidden(
                f"bucket {SYSTEM_BUCKET} is where Modelworks keeps its own files and is never a user path",
                field=field,
            )
        access = self.access(project_id, bucket, session)
        if access is None:
            raise StorageForbidden(
                f"bucket {bucket} is not a bucket of this project and is not shared with it "
                "(an existing bucket that belongs to no project is assigned by an administrator: "
                f"modelworks admin create-bucket {bucket} --project ...)",
                field=field,
            )
        if write and access == READ:
            raise StorageForbidden(f"bucket {bucket} is shared with this project read-only", field=field)
