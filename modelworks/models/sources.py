"""Where a new model's package comes from: an OBS directory, or the outputs of a training job.

Also reads the package's ``config.json`` (overlaid by the request's ``initial_config``) for creation.

Training jobs live above models (``modelworks.training``), so models finds a ``source_job_id`` through
``source_jobs``: the training package registers its lookup under ``TRAINING_JOB_SOURCE``
(``modelworks.training.model_sources``, imported with the ``training-job`` task's module).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from modelworks.errors import (
    InvalidArgument,
    ParameterRequired,
    PreconditionFailed,
    SourceLocationInvalid,
    TrainingJobNotFound,
)
from modelworks.models import config as cfg
from modelworks.models.package import (
    CONFIG_FILE,
    SERVICE_FILE,
    find_model_dir,
    obs_location,
    require_model_dir,
)
from modelworks.registry import Registry
from modelworks.storage import ObjectStore, ObsPath, parse_obs_path

TRAINING_JOB_SOURCE = "training-job"
"""The ``source_jobs`` entry that ``source_job_id`` names a job of."""


@dataclass(frozen=True)
class SourceJob:
    """A job of the project whose outputs may hold a model package."""

    id: str
    name: str
    phase: str
    """The job's phase as its API shows it (in messages)."""
    completed: bool
    """Whether the job ended successfully: only then is a model created from its outputs."""
    outputs: list[str]
    """The OBS paths of the job's output channels."""


SourceJobLookup = Callable[[Session, str, str], SourceJob | None]
"""``(session, project_id, job_id)`` -> the project's job with that id, or None when there is none."""

source_jobs: Registry[SourceJobLookup] = Registry("model source job kind")
"""Lookups of jobs whose outputs hold model packages, by kind; ``modelworks.training`` registers
``TRAINING_JOB_SOURCE``."""


def source_job(session: Session, project_id: str, job_id: Any) -> SourceJob | None:
    """The project's training job named by ``source_job_id`` (None when none is named); 400 if unknown."""
    if job_id is None or job_id == "":
        return None
    job = source_jobs.get(TRAINING_JOB_SOURCE)(session, project_id, str(job_id))
    if job is None:
        raise TrainingJobNotFound(
            f"training job {job_id!r} does not exist", field="source_job_id", http_status=400
        )
    return job


def package_source(
    session: Session, store: ObjectStore, project_id: str, body: dict[str, Any]
) -> tuple[ObsPath, ObsPath, SourceJob | None]:
    """(the directory the package came from, its ``model/`` directory, the training job it came from)."""
    job = source_job(session, project_id, body.get("source_job_id"))
    location = body.get("source_location")
    if location not in (None, ""):
        path = obs_location(location, "source_location").as_dir()
        store.authorize(path, field="source_location")
        return path, require_model_dir(store, path, "source_location"), job
    if job is None:
        raise ParameterRequired(
            "is required: the OBS directory holding the package's model/ directory (or give "
            "source_job_id to use a training job's output)",
            field="source_location",
        )
    if not job.completed:
        raise PreconditionFailed(
            f"training job {job.name!r} is {job.phase}; a model is created from a Completed job's output",
            field="source_job_id",
        )
    outputs = [parse_obs_path(url).as_dir() for url in job.outputs]
    for output in outputs:
        store.authorize(output, field="source_job_id")
        found = find_model_dir(store, output)
        if found is not None:
            return output, found, job
    listed = ", ".join(str(o) for o in outputs) or "it has no outputs"
    raise SourceLocationInvalid(
        f"no output of training job {job.name!r} holds a model package ({listed}); the job must write "
        f"model/{CONFIG_FILE}, model/{SERVICE_FILE} and its model files into an output",
        field="source_job_id",
    )


def execution_code(store: ObjectStore, value: Any, model_dir: ObsPath) -> str:
    """The inference code's OBS path: the package's own, or a ``customize_service.py`` named apart from
    it (publishing copies that one into the model's copy of the package)."""
    if value is None or value == "":
        return str(model_dir.join(SERVICE_FILE))
    path = obs_location(value, "execution_code")
    store.authorize(path, field="execution_code")
    if path.name != SERVICE_FILE:
        raise InvalidArgument(f"must name a file called {SERVICE_FILE}", field="execution_code")
    if not store.is_file(path):
        raise SourceLocationInvalid(f"{path} does not exist", field="execution_code")
    return str(path)


def configuration(
    store: ObjectStore, model_dir: ObsPath, initial: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """config.json overlaid with ``initial_config``, and which of the two each key came from."""
    merged = cfg.check_config(
        cfg.parse_config(store.read(model_dir.join(CONFIG_FILE)), CONFIG_FILE), CONFIG_FILE
    )
    origin = dict.fromkeys(merged, CONFIG_FILE)
    if initial not in (None, ""):
        if not isinstance(initial, str):
            raise InvalidArgument("must be a string holding config.json's JSON", field="initial_config")
        overlay = cfg.check_config(cfg.parse_config(initial, "initial_config"), "initial_config")
        merged.update(overlay)
        origin.update(dict.fromkeys(overlay, "initial_config"))
    return merged, origin
