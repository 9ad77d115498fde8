"""Secret keys at rest (issue 11): a dump of the database gives no usable credential.

The SKs of the admin key written at first start, of keys made by ``modelworks admin create-key`` (a
real process) and of keys made in code are looked for in every cell of every table, on SQLite and on
PostgreSQL; the keys still sign requests over HTTP; another secrets key cannot open them; and an SK an
older version stored in plain text is sealed on upgrade.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

import modelworks.db
from modelworks.app import create_app
from modelworks.db import Database
from modelworks.iam import service as iam
from modelworks.iam.passwords import hash_password
from modelworks.iam.secrets import PREFIX, SecretBox, SecretsKeyError
from modelworks.settings import Settings
from tests._client import SignedClient
from tests.conftest import LiveServer, free_port, run_server

MODELWORKS = [sys.executable, "-m", "modelworks.cli.main"]
DATASETS = "/v2/{project_id}/datasets"


def dump(url: str) -> list[str]:
    """Every cell of every table, as text (what ``sqlite3 .dump`` or ``pg_dump`` would show)."""
    cells: list[str] = []
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split("///", 1)[1]) as con:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                for row in con.execute(f'SELECT * FROM "{table}"'):
                    cells += [c.decode("latin-1") if isinstance(c, bytes) else str(c) for c in row]
        return cells
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as con:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        ]
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"'):
                cells += [str(c) for c in row]
    return cells


def assert_not_in_dump(url: str, secrets: list[str]) -> None:
    cells = dump(url)
    assert cells, "the dump is empty"
    text = "\n".join(cells)
    for secret in secrets:
        assert secret not in text
    if url.startswith("sqlite"):  # not in the files' bytes either (free pages, WAL)
        path = Path(url.split("///", 1)[1])
        for file in path.parent.glob(path.name + "*"):
            raw = file.read_bytes()
            for secret in secrets:
                assert secret.encode() not in raw, file


def cli(home: Path, url: str, *args: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWORKS_")}
    env.update({"MODELWORKS_HOME": str(home), "MODELWORKS_DATABASE_URL": url})
    done = subprocess.run([*MODELWORKS, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out: dict[str, str] = json.loads(done.stdout)
    return out


def test_database_dump_holds_no_secret_key_and_the_keys_still_sign(
    database_url: str, server_factory: Callable[..., LiveServer]
) -> None:
    live = server_factory(database_url=database_url)
    admin_sk = live.credentials["sk"]
    from_cli = cli(live.home, database_url, "admin", "create-key", "admin")
    db = Database(database_url)
    with db.session() as session:
        user, _ = iam.create_user(session, "modelworks", "erin")
        project = iam.find_project(session, user.domain_id, name=live.credentials["project_name"])
        iam.add_member(session, user, project)
        in_code = iam.create_access_key(session, user)
    db.dispose()

    clients = {
        "first start": live.signed(),
        "admin create-key": live.signed(ak=from_cli["ak"], sk=from_cli["sk"]),
        "create_access_key": live.signed(ak=in_code.ak, sk=in_code.sk),
    }
    for name, client in clients.items():
        response = client.get(DATASETS)
        assert response.status_code == 200, (name, response.text)

    box = SecretBox(live.settings.secrets_key_path.read_text().strip())
    key_text = live.settings.secrets_key_path.read_text().strip()
    assert_not_in_dump(
        database_url, [admin_sk, from_cli["sk"], in_code.sk, key_text, box.derive("content-url")]
    )
    stored = [c for c in dump(database_url) if c.startswith(PREFIX)]
    assert len(stored) == 3 and all(c.startswith(f"{PREFIX}{box.key_id}:") for c in stored)
    assert live.settings.secrets_key_path.stat().st_mode & 0o777 == 0o600


def test_a_server_with_another_secrets_key_cannot_use_the_old_keys(
    tmp_path: Path, server_factory: Callable[..., LiveServer]
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = server_factory(database_url=url)
    assert first.signed().get(DATASETS).status_code == 200

    # The key file lost (another home, nothing configured): refuse to start rather than mint a new key.
    with pytest.raises(SecretsKeyError, match="MODELWORKS_SECRETS_KEY_FILE"):
        create_app(Settings(home=tmp_path / "lost", database_url=url, port=free_port()))

    # Another key given on purpose (the old one lost): the server starts, and says why old keys fail.
    rekeyed = tmp_path / "rekeyed"
    rekeyed.mkdir()
    (rekeyed / "credentials.json").write_text(json.dumps(first.credentials))
    with run_server(
        rekeyed, database_url=url, secrets_key="a-different-secrets-key-of-enough-length"
    ) as second:
        response = second.signed().get(DATASETS)
        assert response.status_code == 401, response.text
        body = response.json()
        assert body["error_code"].startswith("ModelArts.") and "another secrets key" in body["error_msg"]

        # Keys made from now on are sealed for the newest key: they work there, and the first server,
        # which cannot open them, says so.
        db = Database(url)
        with db.session() as session:
            admin = iam.get_user(session, iam.ADMIN_DOMAIN, iam.ADMIN_USER)
            key = iam.create_access_key(session, admin)
        db.dispose()
        assert second.signed(ak=key.ak, sk=key.sk).get(DATASETS).status_code == 200
        refused = first.signed(ak=key.ak, sk=key.sk).get(DATASETS)
        assert refused.status_code == 401 and "another secrets key" in refused.json()["error_msg"]


def _migrate_to(url: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(modelworks.db.__file__).with_name("migrations")))
    cfg.attributes["connection_url"] = url
    command.upgrade(cfg, revision)


def test_upgrade_seals_a_plain_text_secret_key_left_by_an_older_version(
    database_url: str, tmp_path: Path
) -> None:
    _migrate_to(database_url, "0006")
    db = Database(database_url)
    plain_sk = "PlainTextSecretKeyOfAnOlderVersion000000"
    server_secret = "f" * 64
    rows = [
        "INSERT INTO iam_domains (id, name, created_at) VALUES ('d1', 'modelworks', 0)",
        "INSERT INTO iam_users (id, domain_id, name, password_hash, is_admin, created_at) "
        f"VALUES ('u1', 'd1', 'admin', '{hash_password('pw')}', true, 0)",
        "INSERT INTO iam_projects (id, domain_id, name, created_at) VALUES ('p1', 'd1', 'default', 0)",
        "INSERT INTO iam_memberships (user_id, project_id) VALUES ('u1', 'p1')",
        "INSERT INTO iam_access_keys (ak, sk, user_id, description, created_at) "
        f"VALUES ('OLDACCESSKEY00000000', '{plain_sk}', 'u1', '', 0)",
        f"INSERT INTO iam_server_secrets (name, value) VALUES ('content-url', '{server_secret}')",
    ]
    with db.engine.begin() as conn:
        for sql in rows:
            conn.exec_driver_sql(sql)
    db.dispose()
    assert plain_sk in dump(database_url)

    home = tmp_path / "home"
    assert cli(home, database_url, "migrate")["migrated"]
    cells = dump(database_url)
    text = "\n".join(cells)
    assert plain_sk not in text and server_secret not in text
    assert any(c.startswith(PREFIX) for c in cells)

    # The upgraded server accepts the old SK.
    (home / "credentials.json").write_text(json.dumps({"project_id": "p1", "project_name": "default"}))
    with run_server(home, database_url=database_url) as live:
        client = SignedClient(live.endpoint, "OLDACCESSKEY00000000", plain_sk, "p1")
        response = client.get(DATASETS)
        assert response.status_code == 200, response.text


def test_a_sealed_secret_key_opens_only_for_its_own_access_key(server: LiveServer) -> None:
    """An SK's sealed value is bound to its AK: copied onto another row (or a plain-text SK written
    behind the server's back), the key is refused with a 401, never a 500."""
    db = Database(server.settings.database_url)
    with db.session() as session:
        admin = iam.get_user(session, iam.ADMIN_DOMAIN, iam.ADMIN_USER)
        copied, plain = iam.create_access_key(session, admin), iam.create_access_key(session, admin)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE iam_access_keys SET sk = (SELECT sk FROM iam_access_keys WHERE ak = :src)"
                " WHERE ak = :dst"
            ),
            {"src": server.credentials["ak"], "dst": copied.ak},
        )
        conn.execute(
            text("UPDATE iam_access_keys SET sk = :sk WHERE ak = :ak"), {"sk": plain.sk, "ak": plain.ak}
        )
    db.dispose()
    for ak, sk, reason in [
        (copied.ak, server.credentials["sk"], "damaged"),
        (copied.ak, copied.sk, "damaged"),
        (plain.ak, plain.sk, "plain text"),
    ]:
        response = server.signed(ak=ak, sk=sk).get(DATASETS)
        assert response.status_code == 401, response.text
        assert reason in response.json()["error_msg"]
    assert server.signed().get(DATASETS).status_code == 200
