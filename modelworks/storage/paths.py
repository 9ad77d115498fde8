"""OBS paths: ``/bucket/key``, ``obs://bucket/key`` or ``s3://bucket/key``, validated once.

An :class:`ObsPath` can only hold a well-formed bucket and key, so code that receives one never has to
re-check for ``..``, backslashes or control characters before handing it to a store.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from modelworks.errors import DoubleSlashInPath, InvalidPath

# OBS (and S3) bucket names: lowercase letters, digits, "." and "-", starting and ending alphanumeric.
# The length floor is 1 rather than the 3 real OBS demands, so short names used in tests and
# examples parse; S3ObjectStore refuses names shorter than 3 because the S3 server would.
_BUCKET_RE = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,61}[a-z0-9])?")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# Control characters (C0, DEL and C1) and backslashes: never valid anywhere in a path. A backslash is
# refused so that a Windows-style path can never be read as a different key on another system.
_BAD_CHARS_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")
# A "." or ".." segment: at the start or after a "/", and at the end or before a "/".
_DOT_SEGMENT_RE = re.compile(r"(?:^|/)\.{1,2}(?:/|$)")
_ACCEPTED_SCHEMES = ("obs", "s3")
# OBS object keys are at most 1024 bytes of UTF-8.
MAX_KEY_BYTES = 1024
SYSTEM_BUCKET = "modelworks-system"
"""Where the server keeps its own files (model packages, built-in algorithm code, job logs): never a
user's path (see ``storage/ownership.py``)."""


@functools.lru_cache(maxsize=1024)
def _valid_bucket(bucket: str) -> bool:
    # Cached: the same few buckets are checked for every path built (100,000s in an import).
    return bool(_BUCKET_RE.fullmatch(bucket)) and ".." not in bucket


def validate_bucket(bucket: str, *, field: str = "path") -> str:
    """Return ``bucket`` if it is a valid OBS bucket name, else raise :class:`InvalidPath`."""
    if not bucket:
        raise InvalidPath("the path names no bucket", field=field)
    if not _valid_bucket(bucket):
        raise InvalidPath(
            f"invalid bucket name {bucket!r}: use 1-63 lowercase letters, digits, '.' or '-', "
            "starting and ending with a letter or digit",
            field=field,
        )
    return bucket


def validate_key(key: str, *, field: str = "path") -> str:
    """Return ``key`` if it is a valid object key (or directory key ending in "/"), else raise."""
    if key == "":
        return key
    if _BAD_CHARS_RE.search(key):
        raise InvalidPath("the path contains a backslash or a control character", field=field)
    if key.startswith("/") or "//" in key:
        raise DoubleSlashInPath("the path must not contain '//'", field=field)
    # A UTF-8 character takes at most 4 bytes: shorter keys need no encoding to be measured.
    if len(key) > MAX_KEY_BYTES // 4 and len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidPath(f"the object key is longer than {MAX_KEY_BYTES} bytes", field=field)
    if _DOT_SEGMENT_RE.search(key):
        raise InvalidPath("the path must not contain '.' or '..' segments", field=field)
    return key


@dataclass(frozen=True, slots=True)
class ObsPath:
    """A bucket and a key. ``key`` has no leading "/"; "" is the bucket root; a trailing "/" marks a
    directory. Construction validates both, raising :class:`InvalidPath` (HTTP 400)."""

    bucket: str
    key: str

    def __post_init__(self) -> None:
        validate_bucket(self.bucket)
        validate_key(self.key)

    def __str__(self) -> str:
        return f"/{self.bucket}/{self.key}"

    @property
    def is_dir(self) -> bool:
        """True for the bucket root and for keys ending in "/"."""
        return self.key == "" or self.key.endswith("/")

    @property
    def name(self) -> str:
        """The last non-empty key segment; "" for the bucket root."""
        return self.key.rstrip("/").rpartition("/")[2]

    @property
    def parent(self) -> ObsPath:
        """The directory containing this path (key ending in "/", or "" at the root; the root's parent
        is the root)."""
        head, sep, _ = self.key.rstrip("/").rpartition("/")
        return ObsPath(self.bucket, head + sep)

    def as_dir(self) -> ObsPath:
        """The same path with a trailing "/" (the bucket root stays "")."""
        if self.is_dir:
            return self
        return ObsPath(self.bucket, self.key + "/")

    def join(self, *parts: str) -> ObsPath:
        """Append ``parts`` below this path, which is treated as a directory.

        A part may hold several segments ("a/b.jpg") and the last may end in "/" to give a directory;
        empty segments, "." and "..", backslashes and control characters are refused."""
        if not parts:
            return self
        pieces: list[str] = []
        for i, part in enumerate(parts):
            if i < len(parts) - 1:
                part = part.removesuffix("/")
            # An absolute part would silently re-root the path; refuse it rather than guess.
            if part == "" or part.startswith("/"):
                raise InvalidPath(f"cannot join {part!r}: empty or absolute part", field="path")
            pieces.append(part)
        # The constructor validates the joined key ("//", "..", backslashes, length).
        key = self.key if self.is_dir else self.key + "/"
        return ObsPath(self.bucket, key + "/".join(pieces))

    def relative_to(self, prefix: ObsPath) -> str:
        """This key relative to ``prefix`` (treated as a directory); ValueError if not below it."""
        base = prefix.as_dir()
        if self.bucket != base.bucket or not self.key.startswith(base.key):
            raise ValueError(f"{self} is not below {base}")
        return self.key[len(base.key) :]

    def is_relative_to(self, prefix: ObsPath) -> bool:
        """True if this path is ``prefix`` (as a directory) or below it."""
        base = prefix.as_dir()
        return self.bucket == base.bucket and self.key.startswith(base.key)

    def uri(self, scheme: str = "obs") -> str:
        """``<scheme>://bucket/key``."""
        return f"{scheme}://{self.bucket}/{self.key}"


def parse_obs_path(value: str, *, field: str = "path") -> ObsPath:
    """Parse ``/bucket/key``, ``obs://bucket/key`` or ``s3://bucket/key``.

    Raises :class:`InvalidPath` naming ``field`` for an empty value, a missing or malformed bucket, a
    relative path, another scheme, "." or ".." segments, backslashes, control characters, and "//"
    (the last a DoubleSlashInPath). A trailing "/" is kept."""
    if not isinstance(value, str) or value == "":
        raise InvalidPath("the path is empty", field=field)
    if _BAD_CHARS_RE.search(value):
        raise InvalidPath("the path contains a backslash or a control character", field=field)
    scheme_match = _SCHEME_RE.match(value)
    if scheme_match:
        scheme = scheme_match.group(1).lower()
        if scheme not in _ACCEPTED_SCHEMES:
            raise InvalidPath(
                f"unsupported scheme {scheme!r}: use /bucket/key, obs://bucket/key or s3://bucket/key",
                field=field,
            )
        rest = value[scheme_match.end() :]
    elif value.startswith("/"):
        rest = value[1:]
    else:
        raise InvalidPath("the path must start with '/' or obs://", field=field)
    if rest.startswith("/"):
        raise DoubleSlashInPath("the path must not contain '//'", field=field)
    bucket, _, key = rest.partition("/")
    try:
        return ObsPath(bucket, key)  # validates both
    except InvalidPath:
        # The same error again, naming the caller's field rather than "path".
        validate_bucket(bucket, field=field)
        validate_key(key, field=field)
        raise
