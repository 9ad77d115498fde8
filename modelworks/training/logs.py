"""Task logs (5.11, 5.12): where they live, their latest part, and signed URLs to the whole file.

A running task writes ``<home>/jobs/<id>/logs/worker-0.log`` on the worker's host; the worker copies it
to storage every few seconds and when the task ends: to ``spec.log_export_path`` if the job gave
one, else to a service-kept object under the ``modelworks-system`` bucket. Readers prefer the local
file (live on the worker's host, which is the server's host in the embedded setup) and fall back to
the stored copy.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from modelworks.db import now_ms
from modelworks.errors import LogNotGenerated, SignatureMismatch, TrainingJobNotFound
from modelworks.storage import ObjectStore, ObsPath, parse_obs_path
from modelworks.storage.paths import SYSTEM_BUCKET
from modelworks.training.job_views import task_names
from modelworks.training.status import TASK_NAME

if TYPE_CHECKING:
    from modelworks.training.tables import TrainingJob

PREVIEW_MAX_BYTES = 5 * 1024 * 1024
"""The reference caps a preview at 5 MB: bigger logs answer their latest 5 MB."""
LOG_URL_TTL_MS = 5 * 60 * 1000
"""Signed log URLs last 5 minutes, like the reference's temporary OBS links."""


def log_file(job_dir: Path, task: str = TASK_NAME) -> Path:
    return job_dir / "logs" / f"{task}.log"


def system_log_path(job_id: str, task: str = TASK_NAME) -> ObsPath:
    return ObsPath(SYSTEM_BUCKET, f"training-jobs/{job_id}/logs/{task}.log")


def log_object(job: TrainingJob, task: str = TASK_NAME) -> ObsPath:
    """Where the worker keeps the stored copy of a task's log."""
    export = (job.spec.get("log_export_path") or {}).get("obs_url")
    if export:
        return parse_obs_path(export).as_dir().join(f"modelarts-job-{job.id}-{task}.log")
    return system_log_path(job.id, task)


def check_task(job: TrainingJob, task: str) -> None:
    tasks = task_names(job)
    if task not in tasks:
        raise TrainingJobNotFound(
            f"Training job '{job.id}' has no task '{task}'; its tasks are: {', '.join(tasks)}.",
        )


def _utf8_start(data: bytes) -> bytes:
    """Drop the tail of a character cut at the start of a slice."""
    i = 0
    while i < min(len(data), 3) and data[i] & 0xC0 == 0x80:
        i += 1
    return data[i:]


def log_store(store: ObjectStore, job: TrainingJob, task: str = TASK_NAME) -> ObjectStore:
    """The store to keep the job's log copy with: the server's own for its system bucket, else the job
    project's (a ``log_export_path``)."""
    return store.unrestricted() if log_object(job, task).bucket == SYSTEM_BUCKET else store


def open_local_log(local: Path) -> int | None:
    """A descriptor of the job's local log file, or None when there is none.

    The job's code may have replaced the log or its directory with a link to a file it cannot read
    itself (the database, another job's log): the server, which can, would hand it out. So the path
    must resolve inside the job's directory (two levels up) and the file must be a regular file
    opened without following a last link."""
    try:
        root = os.path.realpath(local.parent.parent)
        if not os.path.realpath(local).startswith(root + os.sep):
            return None
        fd = os.open(local, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def read_log(
    store: ObjectStore, job: TrainingJob, local: Path, *, tail: int | None = None, task: str = TASK_NAME
) -> tuple[bytes, int] | None:
    """(the log's last ``tail`` bytes, or all of it; its full size), or None if there is no log yet."""
    fd = open_local_log(local)
    if fd is not None:
        with os.fdopen(fd, "rb") as f:
            size = f.seek(0, 2)
            start = max(0, size - tail) if tail is not None else 0
            f.seek(start)
            data = f.read(size - start)
        return (_utf8_start(data) if start else data), size
    stored = log_object(job, task)
    if stored.bucket == SYSTEM_BUCKET:
        store = store.unrestricted()  # the server's own copy, at a path it built
    if not store.is_file(stored):
        return None
    size = store.stat(stored).size
    if tail is None:
        return store.read(stored), size
    start = max(0, size - tail)
    data = store.read_range(stored, start, size - start)
    return (_utf8_start(data) if start else data), size


def preview(store: ObjectStore, job: TrainingJob, local: Path, task: str = TASK_NAME) -> dict[str, object]:
    """The 5.11 answer: the latest part of the log (all of it up to 5 MB) and the sizes."""
    found = read_log(store, job, local, tail=PREVIEW_MAX_BYTES, task=task)
    if found is None:
        return {"content": "", "current_size": 0, "full_size": 0}
    data, size = found
    return {"content": data.decode("utf-8", errors="replace"), "current_size": len(data), "full_size": size}


def signature(secret: str, project_id: str, job_id: str, task: str, expires: int) -> str:
    message = f"training-log/{project_id}/{job_id}/{task}/{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_url(endpoint: str, secret: str, job: TrainingJob, task: str, *, download: bool = False) -> str:
    """A 5-minute URL to the whole log on this server (``.../logs/content``), usable without credentials."""
    expires = now_ms() + LOG_URL_TTL_MS
    sig = signature(secret, job.project_id, job.id, task, expires)
    url = (
        f"{endpoint}/v2/{job.project_id}/training-jobs/{job.id}/tasks/{task}/logs/content"
        f"?Expires={expires}&Signature={sig}"
    )
    return url + ("&disposition=attachment" if download else "")


def check_signature(secret: str, project_id: str, job_id: str, task: str, expires: int, sig: str) -> None:
    expected = signature(secret, project_id, job_id, task, expires)
    # Compared as bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, a 500).
    if expires < now_ms() or not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
        raise SignatureMismatch("The log URL has expired or its signature is wrong.")


def full_log(store: ObjectStore, job: TrainingJob, local: Path, task: str = TASK_NAME) -> bytes:
    found = read_log(store, job, local, task=task)
    if found is None:
        raise LogNotGenerated("The log file is not generated yet.")
    return found[0]
