"""What the task kinds that deploy models share: the task's creator, a service's ``config``,
deploying a real-time service, waiting for it (or any step), and deleting services."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from modelworks.errors import DeployStepFailed, InvalidArgument, ModelworksError
from modelworks.iam.service import Principal
from modelworks.intelligence._run import Run
from modelworks.jobs import TaskContext
from modelworks.serving import lifecycle
from modelworks.serving.status import DEPLOYING, SERVING
from modelworks.serving.tables import InferenceService

SERVICE_TIMEOUT_SECONDS = 600.0
POLL_SECONDS = 0.5
DEFAULT_SPECIFICATION = "modelarts.vm.cpu.2u"


def failed(message: str) -> ModelworksError:
    return DeployStepFailed(message)


def principal_of(payload: dict[str, Any]) -> Principal:
    """The task's creator, on whose behalf it deploys (and trains, registers) models."""
    raw = payload.get("principal")
    if not isinstance(raw, dict):
        raise failed("the task was queued without its creator; start it again")
    return Principal(**raw)


def inference_configs(raw: Any, model_id: str) -> list[dict[str, Any]]:
    """The service's ``config`` from ``inf_config_list``; the model alone, 1 instance, by default."""
    if raw in (None, []):
        return [
            {
                "model_id": model_id,
                "weight": 100,
                "specification": DEFAULT_SPECIFICATION,
                "instance_count": 1,
            }
        ]
    if not isinstance(raw, list):
        raise InvalidArgument("must be a list of InfConfig objects", field="config.inf_config_list")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise InvalidArgument("must be an InfConfig object", field=f"config.inf_config_list[{i}]")
        entry = {k: v for k, v in item.items() if v is not None}
        entry.setdefault("model_id", model_id)
        entry.setdefault("weight", 100 if len(raw) == 1 else None)
        entry.setdefault("specification", DEFAULT_SPECIFICATION)
        entry.setdefault("instance_count", 1)
        out.append({k: v for k, v in entry.items() if v is not None})
    return out


def deploy_service(ctx: TaskContext, principal: Principal, name: str, config: list[dict[str, Any]]) -> str:
    """Deploy a real-time service named ``name`` for ``principal``; its id (it is still deploying)."""
    body = {
        "service_name": name,
        "infer_type": "real-time",
        "config": config,
        "description": f"task {ctx.task_id}",
    }
    with ctx.db.session() as session:
        return lifecycle.deploy(session, ctx.settings, principal, body).id


def wait(
    run: Run, stage: str, check: Callable[[], float | None], *, timeout: float, timeout_message: str
) -> None:
    """Poll ``check`` (None: done; a number: progress within the stage) until done or timed out."""
    deadline = time.monotonic() + timeout
    while True:
        fraction = check()
        if fraction is None:
            return
        if time.monotonic() > deadline:
            raise failed(timeout_message)
        run.stage(stage, fraction)
        time.sleep(POLL_SECONDS)


def wait_service(ctx: TaskContext, run: Run, stage: str, project_id: str, service_id: str) -> None:
    """Wait until the service runs; fail if it ended otherwise or took too long."""

    def state() -> float | None:
        with ctx.db.session(readonly=True) as session:
            service = lifecycle.get_service(session, project_id, service_id)
            status, error, progress = service.status, service.error_msg, service.progress
        if status in SERVING:
            return None
        if status != DEPLOYING:
            raise failed(
                f"service {service_id} did not start: it is {status}" + (f" ({error})" if error else "")
            )
        return (progress or 0) / 100

    message = f"service {service_id} was not running after {SERVICE_TIMEOUT_SECONDS:.0f} s"
    wait(run, stage, state, timeout=SERVICE_TIMEOUT_SECONDS, timeout_message=message)


def delete_services(ctx: TaskContext, project_id: str, service_ids: list[str]) -> None:
    """Delete those of ``service_ids`` that still exist."""
    with ctx.db.session() as session:
        present = list(
            session.scalars(
                select(InferenceService.id).where(
                    InferenceService.project_id == project_id, InferenceService.id.in_(service_ids)
                )
            )
        )
        if present:
            lifecycle.delete_services(session, ctx.settings.sandbox_root, project_id, ",".join(present))


def services_named(ctx: TaskContext, project_id: str, prefix: str, suffix: str) -> list[str]:
    """The project's services whose names start with ``prefix`` and end with ``suffix``."""
    with ctx.db.session(readonly=True) as session:
        return [
            row.id
            for row in session.execute(
                select(InferenceService.id, InferenceService.name).where(
                    InferenceService.project_id == project_id,
                    InferenceService.name.like(prefix + "%"),
                )
            )
            if row.name.endswith(suffix)
        ]
