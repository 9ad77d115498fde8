"""``modelworks admin``: users, projects and access keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelworks.db import Database
from modelworks.iam import service as iam
from modelworks.iam.secrets import install as install_secrets
from modelworks.iam.tables import AccessKey, Domain, Membership, Project, User
from modelworks.settings import Settings
from modelworks.storage import create_store, ownership

admin = typer.Typer(help="Manage domains, users, projects and access keys.", no_args_is_help=True)
HomeOption = Annotated[Path | None, typer.Option(help="Data directory")]


def _db(home: Path | None) -> Database:
    settings = Settings(home=home) if home is not None else Settings()
    db = Database(settings.database_url)
    db.migrate()
    install_secrets(db, settings)  # new SKs are sealed for the server's secrets key
    return db


def _print(obj: object) -> None:
    typer.echo(json.dumps(obj, indent=2))


@admin.command("create-user")
def create_user(
    name: str,
    domain: Annotated[str, typer.Option(help="Domain (account); created if new")] = iam.ADMIN_DOMAIN,
    password: Annotated[str | None, typer.Option(help="Password (random if not given)")] = None,
    project: Annotated[list[str] | None, typer.Option(help="Project(s) to join; created if new")] = None,
    home: HomeOption = None,
) -> None:
    """Create a user; prints its password once."""
    with _db(home).session() as session:
        user, secret = iam.create_user(session, domain, name, password)
        for project_name in project or []:
            dom = iam.get_domain(session, domain)
            found = session.scalar(
                select(Project).where(Project.domain_id == dom.id, Project.name == project_name)
            )
            iam.add_member(session, user, found or iam.create_project(session, domain, project_name))
        _print({"domain_name": domain, "user_name": name, "user_id": user.id, "password": secret})


@admin.command("delete-user")
def delete_user(name: str, domain: str = iam.ADMIN_DOMAIN, home: HomeOption = None) -> None:
    """Delete a user with its access keys and tokens."""
    with _db(home).session() as session:
        iam.delete_user(session, domain, name)
    _print({"deleted": name})


@admin.command("create-project")
def create_project(
    name: str,
    domain: str = iam.ADMIN_DOMAIN,
    member: Annotated[list[str] | None, typer.Option(help="User name(s) to add")] = None,
    home: HomeOption = None,
) -> None:
    """Create a project (its id is 32 hex characters) and add members."""
    with _db(home).session() as session:
        project = iam.create_project(session, domain, name)
        for user_name in member or []:
            iam.add_member(session, iam.get_user(session, domain, user_name), project)
        _print({"project_id": project.id, "project_name": project.name, "domain_name": domain})


@admin.command("add-member")
def add_member(user: str, project: str, domain: str = iam.ADMIN_DOMAIN, home: HomeOption = None) -> None:
    """Let a user work in a project of its domain."""
    with _db(home).session() as session:
        dom = iam.get_domain(session, domain)
        iam.add_member(
            session, iam.get_user(session, domain, user), iam.find_project(session, dom.id, name=project)
        )
    _print({"user_name": user, "project_name": project})


@admin.command("create-key")
def create_key(user: str, domain: str = iam.ADMIN_DOMAIN, home: HomeOption = None) -> None:
    """Create an access key (AK/SK) for a user; prints the SK once."""
    with _db(home).session() as session:
        key = iam.create_access_key(session, iam.get_user(session, domain, user))
        _print({"ak": key.ak, "sk": key.sk, "user_name": user})


@admin.command("delete-key")
def delete_key(ak: str, home: HomeOption = None) -> None:
    """Delete an access key; requests signed with it are refused from now on."""
    with _db(home).session() as session:
        iam.delete_access_key(session, ak)
    _print({"deleted": ak})


@admin.command("list")
def list_all(home: HomeOption = None) -> None:
    """List domains, users (with their projects) and access keys (without secrets)."""
    with _db(home).session() as session:
        out = []
        for domain in session.scalars(select(Domain)):
            users = []
            for user in session.scalars(select(User).where(User.domain_id == domain.id)):
                projects = session.scalars(
                    select(Project.name)
                    .join(Membership, Membership.project_id == Project.id)
                    .where(Membership.user_id == user.id)
                )
                keys = session.scalars(select(AccessKey.ak).where(AccessKey.user_id == user.id))
                users.append({"name": user.name, "projects": list(projects), "access_keys": list(keys)})
            projects_all = [
                {"id": p.id, "name": p.name}
                for p in session.scalars(select(Project).where(Project.domain_id == domain.id))
            ]
            out.append({"domain": domain.name, "projects": projects_all, "users": users})
    _print(out)


def _project(session: Session, project: str, domain: str) -> Project:
    """A project by id, or by name in ``domain``."""
    found = session.get(Project, project)
    if found is not None:
        return found
    return iam.find_project(session, iam.get_domain(session, domain).id, name=project)


@admin.command("create-bucket")
def create_bucket(
    name: str,
    project: Annotated[str, typer.Option(help="The owning project (id, or name in --domain)")],
    domain: str = iam.ADMIN_DOMAIN,
    home: HomeOption = None,
) -> None:
    """Make a project the owner of a bucket (created if new; an existing one changes hands)."""
    settings = Settings(home=home) if home is not None else Settings()
    with _db(home).session() as session:
        owner = _project(session, project, domain)
        ownership.assign_bucket(session, create_store(settings), owner.id, name)
    _print({"bucket_name": name, "owner_project_id": owner.id})


@admin.command("share-bucket")
def share_bucket(
    name: str,
    with_project: Annotated[str, typer.Option("--with", help="Project to share with (id, or name)")],
    access: Annotated[str, typer.Option(help="read or read-write")] = "read",
    domain: str = iam.ADMIN_DOMAIN,
    home: HomeOption = None,
) -> None:
    """Let another project read (or read and write) a bucket."""
    with _db(home).session() as session:
        bucket = session.get(ownership.Bucket, name)
        if bucket is None:
            raise typer.BadParameter(f"bucket {name} belongs to no project (create-bucket first)")
        target = _project(session, with_project, domain)
        ownership.share_bucket(session, bucket.project_id, name, target.id, access)
    _print({"bucket_name": name, "project_id": target.id, "access": access})


@admin.command("list-buckets")
def list_buckets(home: HomeOption = None) -> None:
    """Every bucket with its owner and shares."""
    with _db(home).session() as session:
        out = []
        for bucket in session.scalars(select(ownership.Bucket).order_by(ownership.Bucket.name)):
            shares = session.scalars(
                select(ownership.BucketShare).where(ownership.BucketShare.bucket == bucket.name)
            )
            out.append(
                {
                    "bucket_name": bucket.name,
                    "owner_project_id": bucket.project_id,
                    "shares": [{"project_id": s.project_id, "access": s.access} for s in shares],
                }
            )
    _print(out)
