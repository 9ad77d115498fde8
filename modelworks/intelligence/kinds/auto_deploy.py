"""``auto-deploy`` (seed 002): one-click deployment of a dataset.

Publish a version of the dataset (80 % train), train it with the built-in algorithm of the dataset's
type, create a model from the job's output, deploy the model as a real-time service. Each step is an
event of the task; the result names the version, the job, the model and the service. A stopped task
terminates its training job. The service stays: it is what the user asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelworks.data.datasets import get_dataset, inner_paths
from modelworks.data.tables import DatasetVersion
from modelworks.db import now_ms
from modelworks.errors import NotImplementedYet
from modelworks.intelligence._requests import LABELING_DATASETS, check_labels, unsupported
from modelworks.intelligence._run import Run
from modelworks.intelligence._services import (
    deploy_service,
    failed,
    inference_configs,
    principal_of,
    wait,
    wait_service,
)
from modelworks.intelligence.base import IntelligentTaskKind, TaskRequest
from modelworks.jobs import TaskCancelled, TaskContext
from modelworks.models.service import create_model, get_model
from modelworks.models.status import FAILED as MODEL_FAILED
from modelworks.models.status import PUBLISHED
from modelworks.storage import parse_obs_path
from modelworks.training.builtin.catalog import builtin_algorithms
from modelworks.training.status import ACTIVE_PHASES, COMPLETED
from modelworks.training.training_jobs import create_training_job, get_training_job, terminate
from modelworks.transfer.versions import CREATING as VERSION_CREATING
from modelworks.transfer.versions import NORMAL as VERSION_NORMAL
from modelworks.transfer.versions import create_version

STEP_TIMEOUT_SECONDS = 6 * 3600.0
TRAIN_RATIO = "0.8"

# Share of the progress bar per stage of a run.
STAGES = {
    "init": (0, 2),
    "publish version": (2, 8),
    "training": (8, 75),
    "create model": (75, 85),
    "deploy service": (85, 100),
}


def builtin_for(dataset_type: int) -> Any:
    """The built-in training algorithm for datasets of ``dataset_type``, or None."""
    for algorithm in builtin_algorithms():
        if algorithm.dataset_type == dataset_type:
            return algorithm
    return None


class AutoDeployTask(IntelligentTaskKind):
    """Version, training job, model and real-time service of a dataset, in one task."""

    type_number = 3

    def prepare(self, request: TaskRequest) -> None:
        algorithm = builtin_for(request.dataset.dataset_type)
        if algorithm is None:
            raise unsupported("one-click deployment", LABELING_DATASETS)
        if not algorithm.available():
            raise NotImplementedYet(
                f"the built-in algorithm {algorithm.name} needs packages this installation lacks "
                "(install the ml extra)"
            )
        if (request.config.get("worker_server_num") or 0) > 1 and not request.multi_node_training:
            # Refused now rather than by the training job the task would create an hour later.
            raise NotImplementedYet(
                "training on more than one node needs the Ray executor: set MODELWORKS_RAY_ADDRESS to a "
                "Ray cluster, or use 1",
                field="config.worker_server_num",
            )
        check_labels(request.session, request.dataset)
        request.payload["dataset_type"] = request.dataset.dataset_type

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        payload = ctx.payload
        config = payload.get("config") or {}
        run = Run(ctx, STAGES)
        run.stage("init")
        principal = principal_of(payload)
        project_id = ctx.project_id
        stamp = now_ms()
        algorithm = builtin_for(int(payload["dataset_type"]))
        if algorithm is None or not algorithm.available():
            raise failed("no built-in algorithm for this dataset type is installed")
        result: dict[str, Any] = {"algorithm_name": algorithm.name}

        def note(**fields: Any) -> None:
            result.update(fields)
            ctx.progress(run.percent(), **fields)

        # 1. a version to train on
        run.stage("publish version")
        with ctx.db.session() as session:
            dataset = get_dataset(session, project_id, payload["dataset_id"], for_update=True)
            version = create_version(
                session,
                dataset,
                {
                    "train_evaluate_sample_ratio": TRAIN_RATIO,
                    "description": f"auto-deploy task {ctx.task_id}",
                },
            )
            version_id, version_name = version.id, version.name
            output = config.get("output_dir") or str(
                parse_obs_path(inner_paths(dataset)["inner_annotation_path"])
                .as_dir()
                .join(f"auto-deploy/{ctx.task_id}/")
            )
            dataset_name = dataset.name
        note(version_id=version_id, version_name=version_name)

        def version_state() -> float | None:
            with ctx.db.session(readonly=True) as session:
                row = session.get(DatasetVersion, version_id)
                if row is None:
                    raise failed(f"dataset version {version_name} was deleted")
                if row.status == VERSION_NORMAL:
                    return None
                if row.status != VERSION_CREATING:
                    raise failed(f"publishing dataset version {version_name} failed")
                return 0.5

        _wait_step(run, "publish version", version_state)

        # 2. training with the built-in algorithm
        run.stage("training")
        job_name = str(config.get("train_job_name") or f"auto-deploy-{stamp}")
        body = _training_body(ctx, config, algorithm.id, job_name, dataset_name, version_id, output)
        with ctx.db.session() as session:
            job_id = create_training_job(session, ctx.store, ctx.settings, principal, body).id
        note(train_job_id=job_id, train_job_name=job_name)

        def job_state() -> float | None:
            with ctx.db.session(readonly=True) as session:
                job = get_training_job(session, project_id, job_id)
                phase, message = job.phase, job.message
            if phase == COMPLETED:
                return None
            if phase not in ACTIVE_PHASES:
                raise failed(f"training job {job_name} ended {phase}" + (f": {message}" if message else ""))
            return 0.5

        try:
            _wait_step(run, "training", job_state)
        except TaskCancelled:
            with ctx.db.session() as session:
                job = get_training_job(session, project_id, job_id)
                if job.phase in ACTIVE_PHASES:
                    terminate(session, project_id, job_id, {"action_type": "terminate"})
            raise

        # 3. the model, from the job's output
        run.stage("create model")
        model_name = str(config.get("model_name") or f"auto-deploy-{stamp}")
        model_version = str(config.get("model_version") or "0.0.1")
        with ctx.db.session() as session:
            model_id = create_model(
                session,
                ctx.store,
                principal,
                {
                    "model_name": model_name,
                    "model_version": model_version,
                    "source_job_id": job_id,
                    "description": f"auto-deploy task {ctx.task_id}",
                },
            ).id
        note(model_id=model_id, model_name=model_name, model_version=model_version)

        def model_state() -> float | None:
            with ctx.db.session(readonly=True) as session:
                model = get_model(session, project_id, model_id)
                status, failed_msg = model.status, model.failed_msg
            if status == PUBLISHED:
                return None
            if status == MODEL_FAILED:
                raise failed(f"model {model_name} failed publishing: {failed_msg}")
            return 0.5

        _wait_step(run, "create model", model_state)

        # 4. the service
        run.stage("deploy service")
        service_name = str(config.get("service_name") or f"auto-deploy-{stamp}")
        service_id = deploy_service(
            ctx, principal, service_name, inference_configs(config.get("inf_config_list"), model_id)
        )
        note(service_id=service_id, service_name=service_name)
        wait_service(ctx, run, "deploy service", project_id, service_id)
        with ctx.db.session(readonly=True) as session:
            metrics = get_model(session, project_id, model_id).config.get("metrics") or {}
        return {**result, "metrics": metrics, "dataset_name": dataset_name, "events": run.finish()}


def _wait_step(run: Run, stage: str, check: Callable[[], float | None]) -> None:
    hours = STEP_TIMEOUT_SECONDS / 3600
    wait(
        run,
        stage,
        check,
        timeout=STEP_TIMEOUT_SECONDS,
        timeout_message=f"{stage} did not end within {hours:.0f} hours",
    )


def _training_body(
    ctx: TaskContext,
    config: dict[str, Any],
    algorithm_id: str,
    job_name: str,
    dataset_name: str,
    version_id: str,
    output: str,
) -> dict[str, Any]:
    """The training job's request: the built-in algorithm on the new version, output to ``output``."""
    parameters = [
        {"name": str(p.get("label") or p.get("name")), "value": str(p.get("value"))}
        for p in config.get("parameters") or []
        if isinstance(p, dict) and (p.get("label") or p.get("name"))
    ]
    flavor: dict[str, Any] = config["flavor"] if isinstance(config.get("flavor"), dict) else {}
    return {
        "kind": "job",
        "metadata": {
            "name": job_name,
            "description": f"auto-deploy task {ctx.task_id} of dataset {dataset_name}",
        },
        "algorithm": {
            "id": algorithm_id,
            "inputs": [
                {
                    "name": "data_url",
                    "remote": {"dataset": {"id": ctx.payload["dataset_id"], "version_id": version_id}},
                }
            ],
            "outputs": [{"name": "train_url", "remote": {"obs": {"obs_url": output}}}],
            "parameters": parameters,
        },
        # worker_server_num: the job's nodes (0, the reference's echoed default, means 1); more than
        # one was refused at the request unless the Ray executor is set up.
        "spec": {
            "resource": {
                "flavor_id": flavor.get("code"),
                "node_count": max(1, int(config.get("worker_server_num") or 0)),
            }
        },
    }
