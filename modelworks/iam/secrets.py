"""Secrets at rest: access keys' SKs are sealed in the database; server secrets are derived.

A dump of the database gives no usable credential. The server holds one *secrets key* (settings
``secrets_key``, or the file ``secrets_key_file``, by default ``<home>/secrets.key`` created on first
start with mode 0600; operators keep it outside the data directory). From it come:

- an X25519 key pair. Its public half is registered in ``iam_sealing_keys``; an SK is stored as a
  sealed box for it (an ephemeral X25519 key, HKDF-SHA256, AES-256-GCM with the access key's id as
  associated data), written ``enc:v1:<key id>:<base64>``. Sealing needs only the public key in the
  database, so ``modelworks admin create-key`` and tests that write keys need no secret; only the
  processes that verify signatures hold the private half.
- server secrets such as the key that signs sample content URLs: HKDF of the secrets key with the
  secret's name, never stored.

``install(db, settings)`` runs at every start (server, ``modelworks migrate``, ``modelworks admin``)
after the migrations: it registers the key, seals SKs an older version left in plain text (they have no
``enc:`` prefix), and hands the ``SecretBox`` to every session of ``db`` (``session.info``), where
``box_of(session)`` finds it. An SK sealed for another secrets key cannot be opened: that access key
is refused with a 401 that says so, never a 500.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelworks.db import Database, now_ms
from modelworks.errors import AuthError, ModelworksError
from modelworks.iam.tables import AccessKey, SealingKey
from modelworks.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "enc:v1:"
MIN_KEY_CHARS = 32
SESSION_INFO_KEY = "modelworks.secret_box"
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


class SecretsKeyError(ModelworksError):
    """The secrets key is missing, too short, or not the one the database's secrets were sealed for."""


class UnusableSecretKey(AuthError):
    """An access key's SK cannot be opened: sealed for another secrets key, damaged, or plain text."""


def _hkdf(material: bytes, info: bytes, *, salt: bytes | None = None, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(material)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public_key: bytes) -> str:
    """The id a sealed value names its key by: 16 hex digits of the public key's SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def _box_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return _hkdf(shared, b"modelworks sealed secret v1", salt=ephemeral + recipient)


def seal(public_key: bytes, plaintext: str, context: str) -> str:
    """``plaintext`` sealed for the holder of the private half of ``public_key`` (raw X25519).

    ``context`` (e.g. the access key's id) is authenticated: the value opens only under it."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes(*_RAW)
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public_key))
    nonce = os.urandom(12)
    sealed = AESGCM(_box_key(shared, ephemeral_public, public_key)).encrypt(
        nonce, plaintext.encode(), context.encode()
    )
    return f"{PREFIX}{key_id(public_key)}:{_b64(ephemeral_public + nonce + sealed)}"


class SecretBox:
    """The server's secrets key: opens sealed values and derives server secrets. Built once at start."""

    def __init__(self, secrets_key: str):
        if len(secrets_key) < MIN_KEY_CHARS:
            raise SecretsKeyError(f"the secrets key must be at least {MIN_KEY_CHARS} characters long")
        material = secrets_key.encode()
        self._private = X25519PrivateKey.from_private_bytes(_hkdf(material, b"modelworks x25519 v1"))
        self._derivation = _hkdf(material, b"modelworks server secrets v1")
        self.public_key = self._private.public_key().public_bytes(*_RAW)
        self.key_id = key_id(self.public_key)

    def __repr__(self) -> str:
        return f"SecretBox(key_id={self.key_id!r})"

    def seal(self, plaintext: str, context: str) -> str:
        return seal(self.public_key, plaintext, context)

    def open(self, value: str, context: str) -> str:
        """The plain text of a value sealed for this key under ``context``."""
        if not is_sealed(value):
            raise UnusableSecretKey(
                "The secret key of this access key is stored in plain text; run `modelworks migrate`."
            )
        kid, _, body = value[len(PREFIX) :].partition(":")
        if kid != self.key_id:
            raise UnusableSecretKey(
                "The secret key of this access key was sealed with another secrets key than this "
                "server's; create a new access key, or start the server with the original "
                "MODELWORKS_SECRETS_KEY / MODELWORKS_SECRETS_KEY_FILE."
            )
        try:
            raw = _unb64(body)
            ephemeral, nonce, sealed = raw[:32], raw[32:44], raw[44:]
            shared = self._private.exchange(X25519PublicKey.from_public_bytes(ephemeral))
            plain = AESGCM(_box_key(shared, ephemeral, self.public_key)).decrypt(
                nonce, sealed, context.encode()
            )
        except (ValueError, InvalidTag) as exc:
            raise UnusableSecretKey("The sealed secret key of this access key is damaged.") from exc
        return plain.decode()

    def derive(self, name: str) -> str:
        """The server secret called ``name`` (hex, 256 bits): the same in every process with this key."""
        return _hkdf(self._derivation, b"server secret: " + name.encode()).hex()


# --- the secrets key from settings ------------------------------------------------------------


def _read_key_file(path: Path) -> str:
    value = path.read_text().strip()
    if path.stat().st_mode & 0o077:
        log.warning("the secrets key %s is readable by other users: chmod 600 it", path)
    return value


def _create_key_file(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    log.warning(
        "created the secrets key %s (mode 0600): it seals the access keys' SKs in the database. Keep a "
        "copy; move it out of the data directory and set MODELWORKS_SECRETS_KEY_FILE to its new path.",
        path,
    )
    return value


def load_secret_box(settings: Settings, *, may_create: bool) -> SecretBox:
    """The ``SecretBox`` of ``settings``: ``secrets_key``, else the file ``secrets_key_file``, which
    is created (mode 0600) when missing and ``may_create``."""
    given = settings.secrets_key.get_secret_value()
    if given:
        return SecretBox(given)
    path = settings.secrets_key_path
    try:
        return SecretBox(_read_key_file(path))
    except FileNotFoundError:
        if not may_create:
            raise SecretsKeyError(
                f"no secrets key at {path}, and the database holds secrets sealed with one: set "
                "MODELWORKS_SECRETS_KEY_FILE to the key's file (or MODELWORKS_SECRETS_KEY to the key)"
            ) from None
    try:
        return SecretBox(_create_key_file(path))
    except FileExistsError:  # another process created it just now
        return SecretBox(_read_key_file(path))


# --- the database side ------------------------------------------------------------------------


def sealing_public_key(session: Session) -> bytes:
    """The public key new secrets are sealed for: the newest registered one."""
    row = session.scalar(
        select(SealingKey).order_by(SealingKey.created_at.desc(), SealingKey.key_id).limit(1)
    )
    if row is None:
        raise SecretsKeyError(
            "no secrets key is registered yet; start the server or run `modelworks migrate`"
        )
    return _unb64(row.public_key)


def seal_secret_key(session: Session, ak: str, sk: str) -> str:
    """The SK of access key ``ak`` sealed for the database's secrets key."""
    return seal(sealing_public_key(session), sk, f"access-key:{ak}")


def open_secret_key(box: SecretBox, key: AccessKey) -> str:
    return box.open(key.sealed_sk, f"access-key:{key.ak}")


def _register(session: Session, box: SecretBox) -> None:
    if session.get(SealingKey, box.key_id) is None:
        session.add(SealingKey(key_id=box.key_id, public_key=_b64(box.public_key), created_at=now_ms()))
        session.flush()


def _seal_plaintext(session: Session, box: SecretBox) -> int:
    """Seal the SKs an older version stored in plain text; returns how many."""
    count = 0
    for key in session.scalars(select(AccessKey).where(AccessKey.sealed_sk.not_like(PREFIX + "%"))):
        key.sealed_sk = box.seal(key.sealed_sk, f"access-key:{key.ak}")
        count += 1
    if count:
        session.flush()
        log.info("sealed %d access key secret(s) that were stored in plain text", count)
    return count


def _install_once(db: Database, settings: Settings) -> SecretBox:
    with db.session() as session:
        registered = session.scalar(select(SealingKey.key_id).limit(1)) is not None
        box = load_secret_box(settings, may_create=not registered)
        _register(session, box)
        _seal_plaintext(session, box)
        others = session.scalar(
            select(AccessKey.ak).where(~AccessKey.sealed_sk.like(f"{PREFIX}{box.key_id}:%")).limit(1)
        )
        if others is not None:
            log.warning(
                "some access keys were sealed with another secrets key than %s: this server refuses them",
                box.key_id,
            )
    return box


def install(db: Database, settings: Settings) -> SecretBox:
    """Load the secrets key, register it, seal plain-text leftovers, and give it to ``db``'s sessions.

    Run after ``db.migrate()`` by every entry point. A missing key file is created only while the
    database holds no secret sealed with a key (a lost or moved file must not silently become a new
    key).
    """
    try:
        box = _install_once(db, settings)
    except IntegrityError:  # servers starting together on PostgreSQL registered the same key at once
        box = _install_once(db, settings)
    for maker in (db.sessions, db.read_sessions):
        maker.configure(info={SESSION_INFO_KEY: box})
    return box


def box_of(session: Session) -> SecretBox:
    """The ``SecretBox`` that ``install`` gave the sessions of this session's database."""
    box = session.info.get(SESSION_INFO_KEY)
    if not isinstance(box, SecretBox):
        raise SecretsKeyError("this database has no secrets key: call modelworks.iam.secrets.install first")
    return box
