"""Training jobs (5.6–5.10): create, get, modify the description, delete, terminate.

Creating a job stores it Pending and submits a ``training-job`` task (``modelworks.training.task``)
in the same transaction; the worker that claims the task prepares and runs it.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelworks.compute.engines import resolve_engine
from modelworks.compute.flavors import find_flavor
from modelworks.compute.ray_cluster import compute_backend
from modelworks.compute.sandbox import sandbox_for
from modelworks.db import now_ms
from modelworks.errors import (
    ChannelsMismatch,
    DuplicateTrainingJobName,
    InvalidArgument,
    InvalidJobObsPath,
    ModelworksError,
    NotEditable,
    NotImplementedYet,
    UnsupportedAction,
    UnsupportedOperation,
)
from modelworks.iam.service import Principal
from modelworks.jobs import Task, TaskStatus, request_cancel, submit
from modelworks.settings import Settings
from modelworks.storage import ObjectStore
from modelworks.storage.scoped import user_path
from modelworks.training import params
from modelworks.training.builtin import builtin_algorithm
from modelworks.training.dataset_inputs import ProjectDatasets
from modelworks.training.logs import system_log_path
from modelworks.training.status import (
    ACTIVE_PHASES,
    PENDING,
    QUEUING,
    TERMINAL_PHASES,
    TERMINATED,
    TERMINATING,
    TRAINING_JOB_KIND,
    algorithm_not_found,
    job_not_found,
)
from modelworks.training.tables import Algorithm, TrainingJob

log = logging.getLogger(__name__)

AUTO_STOP_UNITS = {"HOURS": 3600, "MINUTES": 60, "SECONDS": 1}
"""HOURS is the reference's one unit; MINUTES and SECONDS are Modelworks extensions."""


def job_dir(sandbox_root: Path, job_id: str) -> Path:
    """Where a job's code, inputs, outputs and logs live on the host that runs it: below the sandbox
    root (``settings.sandbox_root``), which the job's unprivileged user can reach (``compute.sandbox``)."""
    return sandbox_root / "jobs" / job_id


def channel_dir(sandbox_root: Path, job_id: str, name: str, *, inputs: bool) -> Path:
    return job_dir(sandbox_root, job_id) / ("inputs" if inputs else "outputs") / f"{name}_0"


def ray_submission_id(job: TrainingJob) -> str | None:
    """The Ray Jobs submission that runs the job, once one was submitted (``runners.ray``)."""
    runtime: dict[str, Any] = (job.spec or {}).get("runtime") or {}
    return runtime.get("ray_submission_id")


def _spec(home: Path, store: ObjectStore, raw: Any, *, executor: str) -> dict[str, Any]:
    """The stored spec. ``executor`` ("local" or "ray") is where the job will run, chosen from settings."""
    raw = raw if raw is not None else {}
    if not isinstance(raw, dict):
        raise InvalidArgument("must be an object", field="spec")
    resource = raw.get("resource") or {}
    if not isinstance(resource, dict):
        raise InvalidArgument("must be an object", field="spec.resource")
    if resource.get("pool_id") or resource.get("pool_group_id"):
        raise NotImplementedYet(
            "spec.resource.pool_id: dedicated resource pools are not supported by Modelworks yet; choose a "
            "flavor_id from GET /v2/{project_id}/training-job-flavors."
        )
    node_count = resource.get("node_count", 1)
    if not isinstance(node_count, int) or isinstance(node_count, bool) or node_count < 1:
        raise InvalidArgument("must be a positive integer", field="spec.resource.node_count")
    if node_count > 1 and executor != "ray":
        raise NotImplementedYet(
            "spec.resource.node_count: multi-node training needs the Ray executor: set "
            "MODELWORKS_RAY_ADDRESS to a Ray cluster, or use node_count 1."
        )
    if raw.get("volumes"):
        raise NotImplementedYet("spec.volumes: volumes are not supported by Modelworks yet.")
    flavor = find_flavor(home, resource.get("flavor_id"))
    log_export = raw.get("log_export_path") or {}
    if not isinstance(log_export, dict):
        raise InvalidArgument("must be an object", field="spec.log_export_path")
    log_path = {}
    if log_export.get("obs_url"):
        url = str(
            user_path(store, log_export["obs_url"], field="spec.log_export_path.obs_url", write=True).as_dir()
        )
        log_path = {"obs_url": url}
    return {
        "resource": {
            "policy": "regular",
            "flavor_id": flavor.flavor_id,
            "flavor_name": flavor.flavor_name,
            "node_count": node_count,
            "flavor_detail": flavor.detail(),
        },
        "log_export_path": log_path,
        "auto_stop": _auto_stop(raw.get("auto_stop")),
        "runtime": {"cores": flavor.cores, "memory_bytes": flavor.memory_bytes, "executor": executor},
    }


def _auto_stop(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidArgument("must be an object", field="spec.auto_stop")
    unit = str(raw.get("time_unit") or "").upper()
    if unit not in AUTO_STOP_UNITS:
        raise InvalidArgument(
            "time_unit must be HOURS (or MINUTES, SECONDS)", field="spec.auto_stop.time_unit"
        )
    duration = raw.get("duration")
    if not isinstance(duration, int) or isinstance(duration, bool) or duration < 1:
        raise InvalidArgument("must be an integer of at least 1", field="spec.auto_stop.duration")
    return {"time_unit": unit, "duration": duration, "seconds": duration * AUTO_STOP_UNITS[unit]}


def _merged_parameters(declared: list[dict[str, Any]], raw: Any, customizable: bool) -> list[dict[str, Any]]:
    """The algorithm's parameters with the job's values; new ones only if the algorithm allows them."""
    out = [dict(p) for p in declared]
    by_name = {p["name"]: p for p in out}
    for i, given in enumerate(params.parameters(raw, "algorithm.parameters")):
        field = f"algorithm.parameters[{i}]"
        parameter = by_name.get(given["name"])
        if parameter is None:
            if not customizable:
                raise NotEditable(
                    f"the algorithm does not allow new hyperparameters ({given['name']!r})",
                    field=field,
                )
            out.append(given)
            continue
        if given["value"] != parameter["value"] and not parameter["constraint"]["editable"]:
            raise NotEditable(f"hyperparameter {given['name']!r} is not editable", field=field)
        params.check_value(parameter, given["value"], f"{field}.value")
        parameter["value"] = given["value"]
    for parameter in out:
        params.check_value(parameter, parameter["value"], "algorithm.parameters")
    return out


def _algorithm(session: Session, store: ObjectStore, project_id: str, raw: Any) -> tuple[dict[str, Any], str]:
    """The job's resolved algorithm (the stored shape) and the engine registry key it runs with."""
    if not isinstance(raw, dict):
        raise InvalidArgument("is required (an algorithm id, or code_dir and boot_file)", field="algorithm")
    if raw.get("subscription_id") or raw.get("item_version_id"):
        raise NotImplementedYet(
            "algorithm.subscription_id: subscribed algorithms are not supported by Modelworks yet; built-in "
            "algorithms are used by their id (GET /v2/{project_id}/algorithms)."
        )
    if raw.get("command"):
        raise NotImplementedYet("algorithm.command: custom images are not supported by Modelworks yet.")
    policies = raw.get("policies") or {}
    if (isinstance(policies, dict) and policies.get("auto_search")) or raw.get("autosearch_config_path"):
        raise NotImplementedYet("algorithm.policies.auto_search: hyperparameter search is not supported yet.")
    datasets = ProjectDatasets(session, project_id)
    if raw.get("id"):
        row = session.scalar(
            select(Algorithm).where(Algorithm.id == raw["id"], Algorithm.project_id == project_id)
        )
        # A built-in's code lies in the system bucket, where the server put it; any other algorithm's
        # code is read as the project may read it.
        code_store = store
        if row is None:
            row = builtin_algorithm(store, project_id, str(raw["id"]))
            code_store = store.unrestricted()
        if row is None:
            raise algorithm_not_found(str(raw["id"]), in_request=True)
        config = row.job_config
        code, boot = params.code_location(
            code_store, config["code_dir"], config["boot_file"], field="algorithm"
        )
        # By name: the stored id names the framework version of the day the algorithm was created.
        stored_engine = {"engine_name": config["engine"]["engine_name"]}
        engine = resolve_engine(raw.get("engine") or stored_engine, field="algorithm.engine")
        parameters = _merged_parameters(
            config["parameters"], raw.get("parameters"), config["parameters_customization"]
        )
        inputs = params.bound_channels(
            raw.get("inputs"), "algorithm.inputs", inputs=True, declared=config["inputs"], datasets=datasets
        )
        outputs = params.bound_channels(
            raw.get("outputs"), "algorithm.outputs", inputs=False, declared=config["outputs"]
        )
        identity = {"id": row.id, "name": row.name}
    else:
        code, boot = params.code_location(store, raw.get("code_dir"), raw.get("boot_file"), field="algorithm")
        engine = resolve_engine(raw.get("engine"), field="algorithm.engine")
        parameters = params.parameters(raw.get("parameters"), "algorithm.parameters")
        inputs = params.bound_channels(raw.get("inputs"), "algorithm.inputs", inputs=True, datasets=datasets)
        outputs = params.bound_channels(raw.get("outputs"), "algorithm.outputs", inputs=False)
        identity = {"name": ""}
    names = [p["name"] for p in parameters] + [c["name"] for c in inputs + outputs]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ChannelsMismatch(
            f"hyperparameters and channels must have different names: {', '.join(clashes)}",
            field="algorithm",
        )
    for i, channel in enumerate(outputs):
        user_path(
            store,
            channel["remote"]["obs"]["obs_url"],
            field=f"algorithm.outputs[{i}].remote.obs.obs_url",
            write=True,
        )
    for i, channel in enumerate(inputs):
        path = user_path(
            store, channel["remote"]["obs"]["obs_url"], field=f"algorithm.inputs[{i}].remote.obs.obs_url"
        )
        if not store.exists(path):
            raise InvalidJobObsPath(
                f"input {channel['name']!r}: {path} does not exist",
                field=f"algorithm.inputs[{i}].remote.obs.obs_url",
            )
    algorithm = {
        **identity,
        "code_dir": str(code),
        "boot_file": str(boot),
        "command": "",
        "parameters": parameters,
        "policies": {},
        "inputs": inputs,
        "outputs": outputs,
        "engine": engine.reference(),
        "local_code_dir": "",
        "working_dir": "",
        "environments": params.environments(raw.get("environments"), "algorithm.environments"),
    }
    return algorithm, engine.key


def create_training_job(
    session: Session, store: ObjectStore, settings: Settings, principal: Principal, body: dict[str, Any]
) -> TrainingJob:
    kind = body.get("kind") or "job"
    if kind != "job":
        raise InvalidArgument("only 'job' is supported", field="kind")
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        raise InvalidArgument("is required (name ...)", field="metadata")
    name = params.check_name(meta.get("name"), "metadata.name")
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise InvalidArgument("must be an object of strings", field="metadata.annotations")
    if body.get("tasks"):
        raise NotImplementedYet("tasks: heterogeneous jobs are not supported by Modelworks yet; use spec.")
    sandbox_for(settings).claim(principal.project_id)  # refused here, before anything is queued
    if session.scalar(
        select(TrainingJob.id).where(TrainingJob.project_id == principal.project_id, TrainingJob.name == name)
    ):
        raise DuplicateTrainingJobName(f"Duplicate training job (name {name}).")
    spec = _spec(settings.home, store, body.get("spec"), executor=compute_backend(settings))
    algorithm, engine_key = _algorithm(session, store, principal.project_id, body.get("algorithm"))
    spec["runtime"]["engine"] = engine_key
    job_id = str(uuid.uuid4())
    for inputs, channels in ((True, algorithm["inputs"]), (False, algorithm["outputs"])):
        for channel in channels:
            channel["local_dir"] = str(
                channel_dir(settings.sandbox_root, job_id, channel["name"], inputs=inputs)
            )
    job = TrainingJob(
        id=job_id,
        project_id=principal.project_id,
        name=name,
        kind="job",
        description=params.check_description(meta.get("description"), "metadata.description"),
        workspace_id=str(meta.get("workspace_id") or "0"),
        user_id=principal.user_id,
        user_name=principal.user_name,
        annotations={str(k): params.as_text(v) for k, v in annotations.items()},
        algorithm_id=algorithm.get("id"),
        algorithm_name=algorithm["name"],
        algorithm=algorithm,
        spec=spec,
        phase=PENDING,
        secondary_phase=QUEUING,
        message="",
    )
    session.add(job)
    session.flush()
    task = submit(
        session,
        kind=TRAINING_JOB_KIND,
        project_id=principal.project_id,
        payload={"job_id": job_id},
        resource_type="training-job",
        resource_id=job_id,
    )
    job.task_id = task.id
    session.flush()
    return job


def get_training_job(
    session: Session, project_id: str, job_id: str, *, for_update: bool = False
) -> TrainingJob:
    query = select(TrainingJob).where(TrainingJob.id == job_id, TrainingJob.project_id == project_id)
    job = session.scalar(query.with_for_update() if for_update else query)
    if job is None:
        raise job_not_found(job_id)
    return job


def update_description(session: Session, project_id: str, job_id: str, body: dict[str, Any]) -> TrainingJob:
    job = get_training_job(session, project_id, job_id, for_update=True)
    if "description" in body:
        job.description = params.check_description(body.get("description"))
        job.update_time = now_ms()
    return job


def terminate(session: Session, project_id: str, job_id: str, body: dict[str, Any]) -> TrainingJob:
    """Stop a Creating, Pending or Running job.

    A job whose process never started (nor was submitted to Ray) ends Terminated at once; otherwise it
    becomes Terminating and the worker watching it (or the one that adopts it next) stops it.
    """
    action = body.get("action_type")
    if action != "terminate":
        raise UnsupportedAction(
            f"unsupported action type {action!r}; supported: terminate",
            field="action_type",
        )
    job = get_training_job(session, project_id, job_id, for_update=True)
    if job.phase == TERMINATING:
        return job
    if job.phase in TERMINAL_PHASES:
        raise UnsupportedOperation(
            f"Training job '{job.name}' is {job.phase}; only Creating, Pending or Running jobs can be "
            "terminated.",
        )
    now = now_ms()
    task = session.get(Task, job.task_id, with_for_update=True) if job.task_id else None
    never_started = job.pid is None and not ray_submission_id(job)
    if task is not None and task.status == TaskStatus.QUEUED and never_started:
        request_cancel(session, task.id)
        job.phase = job.secondary_phase = TERMINATED
        job.message = "terminated before it started"
        job.end_time = now
    elif task is None or task.is_terminal:
        # Nothing will run it again: there is no process left to stop.
        job.phase = job.secondary_phase = TERMINATED
        job.message = job.message or "terminated"
        job.end_time = now
    else:
        job.phase = job.secondary_phase = TERMINATING
        job.terminate_requested = True
        if task.status == TaskStatus.RUNNING:
            request_cancel(session, task.id)
    job.update_time = now
    session.flush()
    return job


def delete_training_job(
    session: Session, store: ObjectStore, settings: Settings, project_id: str, job_id: str
) -> None:
    """Delete a finished job with its metrics, its files on this host and its service-kept log copy."""
    job = get_training_job(session, project_id, job_id, for_update=True)
    if job.phase in ACTIVE_PHASES:
        raise UnsupportedOperation(
            f"Training job '{job.name}' is {job.phase}; terminate it before deleting it.",
        )
    try:
        store.unrestricted().delete_prefix(system_log_path(job.id).parent)
    except (ModelworksError, OSError):
        log.warning("the stored log of training job %s could not be deleted", job.id, exc_info=True)
    session.delete(job)
    session.flush()
    shutil.rmtree(job_dir(settings.sandbox_root, job.id), ignore_errors=True)
