"""Training jobs as sources of model packages: ``source_job_id`` of a model creation (6.2).

``modelworks.models`` lies below training and cannot read its tables; it looks the job up through its
``source_jobs`` registry, filled here. ``modelworks.training.task`` imports this module, so every
process that loads the task handlers (the API server and the workers) has it registered.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelworks.models.sources import TRAINING_JOB_SOURCE, SourceJob, source_jobs
from modelworks.training.status import COMPLETED
from modelworks.training.tables import TrainingJob


def training_job_source(session: Session, project_id: str, job_id: str) -> SourceJob | None:
    """The project's training job ``job_id`` as a model source, or None when it has none by that id."""
    job = session.scalar(
        select(TrainingJob).where(TrainingJob.id == job_id, TrainingJob.project_id == project_id)
    )
    if job is None:
        return None
    return SourceJob(
        id=job.id,
        name=job.name,
        phase=job.phase,
        completed=job.phase == COMPLETED,
        outputs=[c["remote"]["obs"]["obs_url"] for c in job.algorithm.get("outputs") or []],
    )


source_jobs.register(TRAINING_JOB_SOURCE, training_job_source)
