"""The ``training-job`` task: runs one training job where it was created to run.

Each attempt builds the runner of the job's compute backend (``spec.runtime.executor``: ``local``
process groups or ``ray`` Jobs, ``modelworks.training.runners``) and lets it prepare, start or
re-adopt, and watch the job to its end; when the task gives up, the runner stops what still runs and
ends the job. Importing this module registers the handler (``modelworks.jobs.registry`` names it) and,
through ``model_sources``, the training job as a source of model packages for ``modelworks.models``.
"""

from __future__ import annotations

from typing import Any

# Registers training jobs as a source of model packages (``modelworks.models.sources``): API and worker
# processes import this module (``load_handler_modules``), so model creation finds it in both.
import modelworks.training.model_sources  # noqa: F401
from modelworks.jobs import TaskContext, TaskHandler, register
from modelworks.training.runners import JobRunner, runners
from modelworks.training.status import TRAINING_JOB_KIND
from modelworks.training.tables import TrainingJob


def job_runner(ctx: TaskContext) -> JobRunner:
    """The runner for the backend the job was created for: Ray Jobs, or a local process group."""
    with ctx.db.session() as s:
        job = s.get(TrainingJob, ctx.payload["job_id"])
        executor = job.spec.get("runtime", {}).get("executor") if job is not None else None
    # Jobs created before the backend was recorded, and deleted jobs, run (or end) locally.
    return runners.get(executor if isinstance(executor, str) and executor in runners else "local")(ctx)


class TrainingJobTask(TaskHandler):
    """Runs a training job; see ``modelworks.training.runners``."""

    kind = TRAINING_JOB_KIND

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        return job_runner(ctx).run()

    def on_failed(self, ctx: TaskContext, error: BaseException) -> None:
        job_runner(ctx).give_up(error)


register(TrainingJobTask())
