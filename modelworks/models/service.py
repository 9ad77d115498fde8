"""Models (6.2–6.5): create from a package in storage or a training job's output, get, list, delete.

Creating a model reads and checks the package's ``config.json`` at once (a bad file answers 400),
stores the model ``publishing`` and submits a ``model-publish`` task (``modelworks.models.publish``)
in the same transaction; the task copies and checks the package and ends the model ``published`` or
``failed``. Request fields win over ``initial_config``, which wins over ``config.json``.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelworks.errors import InvalidArgument, ModelExists, ModelInUse, ModelworksError, ParameterRequired
from modelworks.iam.service import Principal
from modelworks.jobs import Task, request_cancel, submit
from modelworks.models import config as cfg
from modelworks.models.fields import (
    check_description,
    check_docs,
    check_install_type,
    check_metrics_text,
    check_name,
    check_version,
    version_key,
)
from modelworks.models.package import CONFIG_FILE, stored_model_dir, stored_model_root
from modelworks.models.runtimes import find_engine, resolve_runtime
from modelworks.models.sources import configuration, execution_code, package_source
from modelworks.models.status import (
    ALL_STATUSES,
    MODEL_PUBLISH_KIND,
    PUBLISHING,
    model_not_found,
)
from modelworks.models.tables import Model
from modelworks.models.usage import services_using
from modelworks.storage import ObjectStore

log = logging.getLogger(__name__)

MAX_CASCADE = 20
"""The reference deletes at most 20 versions with ``cascade``; the rest are kept."""
SORT_COLUMNS: dict[str, Any] = {
    "create_at": Model.create_at,
    "model_version": Model.version_key,
    "model_size": Model.model_size,
}


def create_model(session: Session, store: ObjectStore, principal: Principal, body: dict[str, Any]) -> Model:
    name = check_name(body.get("model_name"))
    version = check_version(body.get("model_version"))
    description = check_description(body.get("description"))
    if body.get("model_type") not in (None, ""):
        find_engine(body["model_type"])  # Image and Template are refused before storage is touched
    install_type = check_install_type(body.get("install_type"))
    model_docs = check_docs(body.get("model_docs"))
    source_type = body.get("source_type") or ""
    if source_type not in ("", "auto"):
        raise InvalidArgument("can only be auto (ExeML models) or be left out", field="source_type")
    if session.scalar(
        select(Model.id).where(
            Model.project_id == principal.project_id, Model.name == name, Model.version == version
        )
    ):
        raise ModelExists(f"Model ({name}, {version}) already exists.")

    location, model_dir, job = package_source(session, store, principal.project_id, body)
    merged, origin = configuration(store, model_dir, body.get("initial_config"))

    def field(key: str) -> str:
        return key if body.get(key) not in (None, "") else f"{origin.get(key, CONFIG_FILE)}: {key}"

    engine = find_engine(body.get("model_type") or merged.get("model_type"), field=field("model_type"))
    runtime = resolve_runtime(engine, body.get("runtime") or merged.get("runtime"), field=field("runtime"))
    if body.get("model_algorithm") not in (None, ""):
        algorithm = cfg.check_algorithm(cfg.REQUEST, body["model_algorithm"])
    elif merged.get("model_algorithm"):
        algorithm = merged["model_algorithm"]
    else:
        raise ParameterRequired(
            "is required (e.g. image_classification, object_detection, predict_analysis)",
            field=f"{CONFIG_FILE}: model_algorithm",
        )
    apis = cfg.request_apis(body["apis"]) if body.get("apis") is not None else merged.get("apis", [])
    dependencies = (
        cfg.check_dependencies(cfg.REQUEST, body["dependencies"])
        if body.get("dependencies") is not None
        else merged.get("dependencies", [])
    )
    metrics_text = check_metrics_text(body.get("model_metrics"))
    if metrics_text is None and merged.get("metrics"):
        metrics_text = json.dumps(merged["metrics"], ensure_ascii=False)
    given_inputs = body.get("input_params")
    inputs = (
        cfg.infer_params(given_inputs, "input_params")
        if given_inputs is not None
        else cfg.params_from_apis(apis, "request")
    )
    output_key = "output_params" if body.get("output_params") is not None else "output_parameters"
    outputs = (
        cfg.infer_params(body[output_key], output_key)
        if body.get(output_key) is not None
        else cfg.params_from_apis(apis, "response")
    )
    config = {
        **merged,
        "model_type": engine.ai_engine,
        "runtime": runtime,
        "model_algorithm": algorithm,
        "apis": apis,
        "dependencies": dependencies,
    }
    if metrics_text:
        config["metrics"] = json.loads(metrics_text)
    model_id = str(uuid.uuid4())
    model = Model(
        id=model_id,
        project_id=principal.project_id,
        workspace_id=str(body.get("workspace_id") or "0"),
        domain_id=principal.domain_id,
        user_id=principal.user_id,
        name=name,
        version=version,
        version_key=version_key(version),
        description=description,
        model_type=engine.ai_engine,
        runtime=runtime,
        model_algorithm=algorithm,
        model_source="custom",
        source_type=source_type,
        source_location=str(location),
        source_job_id=job.id if job else None,
        source_job_version=str(body.get("source_job_version") or ""),
        execution_code=execution_code(store, body.get("execution_code"), model_dir),
        model_dir=str(stored_model_dir(model_id)),
        config=config,
        apis=apis,
        dependencies=dependencies,
        input_params=inputs,
        output_params=outputs,
        model_metrics=metrics_text or "",
        install_type=install_type,
        model_docs=model_docs,
        health=merged.get("health") or {},
        status=PUBLISHING,
    )
    session.add(model)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ModelExists(f"Model ({name}, {version}) already exists.") from exc
    task = submit(
        session,
        kind=MODEL_PUBLISH_KIND,
        project_id=principal.project_id,
        payload={"model_id": model_id, "source_model_dir": str(model_dir)},
        resource_type="model",
        resource_id=model_id,
    )
    model.task_id = task.id
    session.flush()
    return model


def get_model(session: Session, project_id: str, model_id: str, *, for_update: bool = False) -> Model:
    """The model ``model_id`` of project ``project_id``; 404 ModelArts.3001 if there is none."""
    query = select(Model).where(Model.id == model_id, Model.project_id == project_id)
    model = session.scalar(query.with_for_update() if for_update else query)
    if model is None:
        raise model_not_found(model_id)
    return model


def list_models(
    session: Session,
    project_id: str,
    *,
    model_name: str | None = None,
    exact_match: bool = False,
    model_version: str | None = None,
    model_status: str | None = None,
    description: str | None = None,
    model_type: str | None = None,
    not_model_type: str | None = None,
    workspace_id: str | None = None,
    offset: int = 0,
    limit: int = 1000,
    sort_by: str = "create_at",
    order: str = "desc",
) -> tuple[int, list[Model]]:
    """(how many models match, the requested page of them). ``offset`` is a page index, as the
    reference defines it: the page holds rows ``offset * limit`` to ``offset * limit + limit - 1``.

    ``model_name`` matches names containing it, ignoring case, ``_`` standing for any one character as
    in ModelArts; ``exact_match`` makes ``_`` (and ``%``) match only themselves.
    """
    column = SORT_COLUMNS.get(sort_by)
    if column is None:
        raise InvalidArgument(f"must be one of {', '.join(SORT_COLUMNS)}", field="sort_by")
    if order not in ("asc", "desc"):
        raise InvalidArgument("must be asc or desc", field="order")
    if model_type and not_model_type:
        raise InvalidArgument("cannot be used together with model_type", field="not_model_type")
    if model_status and model_status not in ALL_STATUSES:
        raise InvalidArgument(f"must be one of {', '.join(ALL_STATUSES)}", field="model_status")
    conditions: list[ColumnElement[bool]] = [Model.project_id == project_id]
    if model_name:
        if exact_match:
            conditions.append(Model.name.icontains(model_name, autoescape=True))
        else:
            conditions.append(Model.name.ilike(f"%{model_name}%"))
    if model_version:
        conditions.append(Model.version == model_version)
    if model_status:
        conditions.append(Model.status == model_status)
    if description:
        conditions.append(Model.description.icontains(description, autoescape=True))
    if model_type:
        conditions.append(func.lower(Model.model_type) == model_type.lower())
    if not_model_type:
        conditions.append(func.lower(Model.model_type) != not_model_type.lower())
    if workspace_id:
        conditions.append(Model.workspace_id == workspace_id)
    query = select(Model).where(*conditions)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    ordered = query.order_by(column.asc() if order == "asc" else column.desc(), Model.id)
    return total, list(session.scalars(ordered.offset(offset * limit).limit(limit)))


def _delete_one(session: Session, store: ObjectStore, model: Model) -> None:
    if model.task_id:
        task = session.get(Task, model.task_id)
        if task is not None and not task.is_terminal:
            request_cancel(session, task.id)
    session.delete(model)
    session.flush()
    try:
        # The server's copy in its system bucket (the project's store cannot reach it).
        store.unrestricted().delete_prefix(stored_model_root(model.id))
    except (ModelworksError, OSError):
        log.warning("the stored package of model %s could not be deleted", model.id, exc_info=True)


def _in_use(model: Model, users: list[str]) -> str:
    return (
        f"Failed to delete model, model ({model.id}) already deploy service: it is used by "
        f"{', '.join(users)}; delete those services first."
    )


def delete_model(
    session: Session, store: ObjectStore, project_id: str, model_id: str, *, cascade: bool = False
) -> dict[str, Any]:
    """Delete a model (with ``cascade``, also the other versions of its name, 20 at most).

    A model that a service uses is never deleted: the addressed one answers 400 ModelArts.3009 and
    nothing is deleted; other versions in use are reported in ``delete_failed_list``.
    """
    model = get_model(session, project_id, model_id, for_update=True)
    users = services_using(session, model.id)
    if users:
        raise ModelInUse(_in_use(model, users))
    others: list[Model] = []
    if cascade:
        others = list(
            session.scalars(
                select(Model)
                .where(Model.project_id == project_id, Model.name == model.name, Model.id != model.id)
                .order_by(Model.create_at, Model.id)
                .limit(MAX_CASCADE - 1)
                .with_for_update()
            )
        )
    deleted, failed = [model.id], []
    _delete_one(session, store, model)
    for other in others:
        users = services_using(session, other.id)
        if users:
            refusal = ModelInUse(_in_use(other, users))
            failed.append(
                {"model_id": other.id, "error_code": refusal.error_code, "error_msg": refusal.message}
            )
            continue
        _delete_one(session, store, other)
        deleted.append(other.id)
    return {"delete_success_list": deleted, "delete_failed_list": failed}
