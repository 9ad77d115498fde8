"""Where a new model's package comes from: an OBS directory, or the outputs of a training job.

Also reads the package's ``config.json`` (overlaid by the request's ``initial_config``) for creation.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
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
from modelworks.storage import ObjectStore, ObsPath, parse_obs_path
from modelworks.training.status import COMPLETED
from modelworks.training.tables import TrainingJob


def source_job(session: Session, project_id: str, job_id: Any) -> TrainingJob | None:
    """The project's training job named by ``source_job_id`` (None when none is named); 400 if unknown."""
    if job_id is None or job_id == "":
        return None
    job = session.scalar(
        select(TrainingJob).where(TrainingJob.id == str(job_id), TrainingJob.project_id == project_id)
    )
    if job is None:
        raise TrainingJobNotFound(
            f"training job {job_id!r} does not exist", field="source_job_id", http_status=400
        )
    return job


def package_source(
    session: Session, store: ObjectStore, project_id: str, body: dict[str, Any]
) -> tuple[ObsPath, ObsPath, TrainingJob | None]:
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
    if job.phase != COMPLETED:
        raise PreconditionFailed(
            f"training job {job.name!r} is {job.phase}; a model is created from a Completed job's output",
            field="source_job_id",
        )
    outputs = [
        parse_obs_path(c["remote"]["obs"]["obs_url"]).as_dir() for c in job.algorithm.get("outputs") or []
    ]
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
