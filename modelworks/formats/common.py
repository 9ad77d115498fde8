"""Helpers every format shares: source paths, image headers, numbers, shapes, spooled output."""

from __future__ import annotations

import collections
import concurrent.futures
import io
import math
import os
import re
import sqlite3
import tempfile
from collections.abc import Callable
from typing import Any, BinaryIO, cast

from PIL import Image, UnidentifiedImageError

from modelworks.data.constants import IMAGE_EXTENSIONS
from modelworks.errors import InvalidPath
from modelworks.formats.base import Annotation, Record
from modelworks.storage import ObjectStore, ObsPath, parse_obs_path
from modelworks.storage.base import copy_stream

CONTENT_SCHEME = "content://"
SHAPE = "@modelarts:shape"
FEATURE = "@modelarts:feature"
BOX_SHAPES = frozenset({"bndbox", "polygon"})
_HEADER_BYTES = 256 * 1024
_SPOOL_BUFFER = 1 << 20
_LINE_SUFFIX_RE = re.compile(r"#\d+$")


def is_image(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def stem(name: str) -> str:
    return os.path.splitext(name)[0]


def resolve_source(value: str, base: ObsPath) -> ObsPath:
    """An OBS path from ``s3://``, ``obs://``, ``/bucket/key`` or a path relative to the directory ``base``.

    Raises InvalidPath for anything else (another scheme, ``..``, an empty value)."""
    value = value.strip()
    if value.startswith("/") or "://" in value:
        return parse_obs_path(value, field="source")
    while value.startswith("./"):
        value = value[2:]
    if not value:
        raise InvalidPath("the path is empty", field="source")
    return base.as_dir().join(value)


def source_path(record: Record) -> ObsPath | None:
    """The OBS path of a record's data file (for a line of a text file: the file); None for inline text."""
    if record.source.startswith(CONTENT_SCHEME):
        return None
    source = record.source
    if record.text is not None:
        # Text line samples are "<file>#<line>"; a "#" is otherwise a legal character of a key.
        source = _LINE_SUFFIX_RE.sub("", source)
    try:
        return parse_obs_path(source, field="source")
    except InvalidPath:
        return None


def image_size(store: ObjectStore, path: ObsPath) -> tuple[int, int, int]:
    """(width, height, depth) from the image header, reading as little as the backend allows.

    Raises ValueError for a file that is not a readable image."""
    local = store.local_path(path)
    try:
        if local is not None:
            with Image.open(local) as im:
                return im.width, im.height, len(im.getbands())
        try:
            with Image.open(io.BytesIO(store.read_range(path, 0, _HEADER_BYTES))) as im:
                return im.width, im.height, len(im.getbands())
        except (UnidentifiedImageError, OSError, SyntaxError):
            with Image.open(io.BytesIO(store.read(path))) as im:
                return im.width, im.height, len(im.getbands())
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"not a readable image ({type(exc).__name__})") from exc


def record_size(store: ObjectStore, record: Record) -> tuple[int, int, int] | None:
    """The record's size, or the one its image header gives; None if neither is known."""
    if record.size is not None:
        return record.size
    path = source_path(record)
    if path is None:
        return None
    try:
        return image_size(store, path)
    except (ValueError, OSError):
        return None


def number(text: str) -> int | float:
    """A coordinate as written; whole numbers become ints (``"12"``, ``"12.0"`` -> ``12``) so that boxes
    read from any tool compare and serialise alike."""
    if len(text) < 16 and text.isascii() and text.isdigit():
        return int(text)  # the common case, and exact: 15 digits fit a float, so float() would agree
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return tidy(value)


def tidy(value: float) -> int | float:
    """A computed coordinate: an integral float becomes an int (``10.0`` -> ``10``)."""
    return int(value) if float(value).is_integer() else value


def parse_bool(value: Any) -> bool | None:
    """``true``/``false`` in the spellings manifests use ("true", "1", True ...); None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"{value!r} is not a boolean")


def box_corners(annotation: Annotation) -> tuple[float, float, float, float] | None:
    """(xmin, ymin, xmax, ymax) of a bndbox or polygon annotation; None for other labels."""
    shape = annotation.property.get(SHAPE)
    points = annotation.property.get(FEATURE)
    if shape not in BOX_SHAPES or not isinstance(points, list) or not points:
        return None
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def points_outside(points: list[list[int | float]], width: int, height: int) -> bool:
    """True if a point lies outside an image of this size (size 0 means unknown: nothing is outside)."""
    if width <= 0 or height <= 0:
        return False
    return any(x < 0 or y < 0 or x > width or y > height for x, y in points)


class SpooledObject:
    """The bytes of one output object, kept in a temporary file until published in one atomic write.

    Publishing streams the file into the store (``ObjectStore.write_stream``): memory stays flat however
    large the object grows."""

    def __init__(self) -> None:
        # Owned by this object and closed by publish/close (or the with block): no context manager here.
        self._file = tempfile.TemporaryFile(buffering=_SPOOL_BUFFER)  # noqa: SIM115

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def append(self, other: SpooledObject) -> None:
        other._file.flush()
        other._file.seek(0)
        copy_stream(cast(BinaryIO, other._file), cast(BinaryIO, self._file), _SPOOL_BUFFER)

    def publish(self, store: ObjectStore, path: ObsPath) -> None:
        self._file.flush()
        self._file.seek(0)
        store.write_stream(path, cast(BinaryIO, self._file))
        self.close()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> SpooledObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class UniqueNames:
    """File stems made unique within one export, in memory that does not grow with the export.

    ``claim("a")`` gives ``a``, then ``a_1``, ``a_2`` ... for the same name again. Every name claimed is
    remembered exactly, but not in a Python set (about 100 bytes a name: 30 MiB for a million samples):
    a fixed 1 MiB Bloom filter answers "never claimed" for nearly every new name, the last
    ``pending`` names wait in a set, and older ones go to a private SQLite database on disk (bounded
    page cache), which is only asked when the filter says a name may be taken. An export that claims
    fewer than ``pending`` names never opens the database. Close it (or use ``with``) when done."""

    _BITS = 1 << 23

    def __init__(self, pending: int = 4096) -> None:
        self._filter = bytearray(self._BITS // 8)
        self._pending: set[str] = set()
        self._limit = pending
        self._db: sqlite3.Connection | None = None

    def claim(self, name: str) -> str:
        candidate, n = name, 0
        while not self.add(candidate):
            n += 1
            candidate = f"{name}_{n}"
        return candidate

    def add(self, name: str) -> bool:
        """Record ``name`` as it is; False if it was claimed before."""
        h = hash(name)
        a, b = h & (self._BITS - 1), (h >> 32) & (self._BITS - 1)
        bits = self._filter
        if bits[a >> 3] & (1 << (a & 7)) and bits[b >> 3] & (1 << (b & 7)) and self._taken(name):
            return False
        bits[a >> 3] |= 1 << (a & 7)
        bits[b >> 3] |= 1 << (b & 7)
        self._pending.add(name)
        if len(self._pending) >= self._limit:
            self._flush()
        return True

    def _taken(self, name: str) -> bool:
        if name in self._pending:
            return True
        if self._db is None:
            return False
        return self._db.execute("SELECT 1 FROM names WHERE name = ?", (name,)).fetchone() is not None

    def _flush(self) -> None:
        if self._db is None:
            # "" is a private temporary database on disk, deleted when closed.
            self._db = sqlite3.connect("", check_same_thread=False)
            self._db.execute("PRAGMA journal_mode = OFF")
            self._db.execute("PRAGMA synchronous = OFF")
            self._db.execute("PRAGMA cache_size = -256")
            self._db.execute("CREATE TABLE names (name TEXT PRIMARY KEY) WITHOUT ROWID")
        self._db.executemany("INSERT INTO names VALUES (?)", ((n,) for n in sorted(self._pending)))
        self._pending.clear()

    def close(self) -> None:
        self._pending.clear()
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> UniqueNames:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def label_names(labels: list[dict[str, Any]]) -> dict[str, None]:
    """The dataset's label names in order, as an ordered set exporters extend with names they meet."""
    return {str(label["name"]): None for label in labels if label.get("name")}


def feature_problem(prop: dict[str, Any]) -> str | None:
    """Why an inline shape (``@modelarts:shape`` + ``@modelarts:feature``) is unusable, or None if fine."""
    shape = prop.get(SHAPE)
    if shape is None:
        return None
    feature = prop.get(FEATURE)
    if not isinstance(feature, list) or not feature:
        return f"{shape} has no @modelarts:feature"
    if shape == "circle":
        ok = (
            len(feature) == 2
            and _is_point(feature[0])
            and isinstance(feature[1], list)
            and len(feature[1]) == 1
        )
        return None if ok else "circle feature is not [[cx, cy], [r]]"
    if not all(_is_point(p) for p in feature):
        return f"{shape} feature is not a list of [x, y] points"
    if shape == "bndbox":
        if len(feature) != 2:
            return "bndbox feature is not [[xmin, ymin], [xmax, ymax]]"
        (xmin, ymin), (xmax, ymax) = feature
        if xmin > xmax or ymin > ymax:
            return f"box ({xmin}, {ymin}, {xmax}, {ymax}) has xmin > xmax or ymin > ymax"
    if shape == "polygon" and len(feature) < 3:
        return "polygon has fewer than 3 points"
    return None


def _is_point(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    )


# -- many small files: writes and reads overlapped on threads ------------------------------------------

IO_THREADS = 8
"""Threads that write or read many small objects (one VOC file per sample) at once: each file costs
a few system calls (local store) or a request (S3), which wait on the disk or the network rather
than on the CPU, so overlapping them multiplies throughput."""
_WRITE_CHUNK = 64
_READ_CHUNK_MIN = 32


class BackgroundWriter:
    """Writes objects on a thread pool while the caller goes on building the next ones.

    Objects go to the store in chunks of ``chunk`` (``ObjectStore.write_many``), at most ``in_flight``
    objects pending (memory stays bounded); ``close`` (or leaving the ``with`` block) writes the last
    chunk, waits for all of them and raises the first error. Writes are independent objects, so their
    order does not matter. ``atomic=False`` is for a private prefix published in one piece later (see
    ``write_many``): the local store then creates each file in place."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        atomic: bool = True,
        threads: int = IO_THREADS,
        in_flight: int = 1024,
        chunk: int = _WRITE_CHUNK,
    ) -> None:
        self.store = store
        self.atomic = atomic
        self.chunk = chunk
        self._max_pending = max(1, in_flight // chunk)
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="objwrite")
        self._pending: collections.deque[concurrent.futures.Future[None]] = collections.deque()
        self._items: list[tuple[ObsPath, bytes]] = []

    def write(self, path: ObsPath, data: bytes) -> None:
        self._items.append((path, data))
        if len(self._items) >= self.chunk:
            self._submit()

    def _submit(self) -> None:
        while len(self._pending) >= self._max_pending:
            self._pending.popleft().result()
        items, self._items = self._items, []
        self._pending.append(self._pool.submit(self.store.write_many, items, atomic=self.atomic))

    def close(self) -> None:
        """Write what is left and wait for every write; raise the first error. Idempotent."""
        try:
            if self._items:
                self._submit()
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._abort()

    def _abort(self) -> None:
        """Drop what is not written yet and wait for the writes under way, raising nothing."""
        self._items = []
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()  # the error that ends the block is the one to report, not a write's


def start_reads(
    store: ObjectStore, paths: list[ObsPath], pool: concurrent.futures.ThreadPoolExecutor
) -> Callable[[], dict[ObsPath, bytes | BaseException]]:
    """Start reading ``paths`` in chunks (``ObjectStore.read_many``) on ``pool`` and return at once;
    the function returned waits for the reads and maps each path to its content or to the exception
    reading it raised. The caller works in between (the manifest reader builds the records of the
    batch before)."""
    unique = list(dict.fromkeys(paths))
    size = max(_READ_CHUNK_MIN, -(-len(unique) // IO_THREADS))
    chunks = [unique[i : i + size] for i in range(0, len(unique), size)]
    futures = [pool.submit(store.read_many, chunk) for chunk in chunks]

    def wait() -> dict[ObsPath, bytes | BaseException]:
        return {
            path: data
            for chunk, future in zip(chunks, futures, strict=True)
            for path, data in zip(chunk, future.result(), strict=True)
        }

    return wait
