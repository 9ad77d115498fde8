"""``pre-label`` (seed 002): label a dataset with a published model of the project.

The model is deployed as a temporary real-time service (``inf_config_list`` or one instance of the
smallest flavor); every sample is sent to it through the inference gateway (``_answers.py``) and the
answers are written as to-be-confirmed labels with their scores and hard-example attributes, in one
transaction at the end, as auto labeling does. The temporary service is deleted whatever happens,
also by the next attempt or ``on_failed`` if a worker died.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from sqlalchemy.orm import Session

from modelworks.data.constants import OBJECT_DETECTION, TEXT_CLASSIFICATION
from modelworks.data.tables import Dataset
from modelworks.db import now_ms
from modelworks.errors import (
    InvalidArgument,
    ModelNotReady,
    NotEnoughLabeledSamples,
    NotFound,
    ServiceModelNotFound,
)
from modelworks.intelligence._answers import api_call, encode, prediction, send_all
from modelworks.intelligence._requests import LABELING_DATASETS, LABELING_TYPES, invalid, unsupported
from modelworks.intelligence._run import Run
from modelworks.intelligence._samples import Item, load_samples, read_contents
from modelworks.intelligence._services import (
    delete_services,
    deploy_service,
    failed,
    inference_configs,
    principal_of,
    services_named,
    wait_service,
)
from modelworks.intelligence.base import IntelligentTaskKind, TaskRequest
from modelworks.intelligence.labels import ensure_labels, label_type_of, write_auto_labels, write_outputs
from modelworks.jobs import TaskContext
from modelworks.models.service import get_model
from modelworks.models.status import PUBLISHED
from modelworks.serving.configs import service_config
from modelworks.serving.gateway import Gateway
from modelworks.serving.status import REAL_TIME
from modelworks.storage import parse_obs_path

PRELABEL_PREFIX = "prelabel_infer_"
"""Names of the temporary services start with this and end with the task's id (its first 12 chars)."""
MODEL_ALGORITHMS = {
    0: ("image_classification",),
    OBJECT_DETECTION: ("object_detection",),
    TEXT_CLASSIFICATION: ("text_classification",),
}
"""The ``model_algorithm`` a model must have to pre-label a dataset, by dataset type."""

# Share of the progress bar per stage of a run.
STAGES = {
    "init": (0, 2),
    "load": (2, 8),
    "deploy service": (8, 25),
    "inference": (25, 92),
    "write": (92, 98),
    "delete service": (98, 100),
}


class PreLabelTask(IntelligentTaskKind):
    """Labels from a published model, deployed as a temporary service for the task."""

    type_number = 1
    listed_by_default = True

    def prepare(self, request: TaskRequest) -> None:
        dataset, config, session = request.dataset, request.config, request.session
        if dataset.dataset_type not in LABELING_TYPES:
            raise unsupported("pre-labeling", LABELING_DATASETS)
        model_id = request.body.get("model_id") or config.get("model_id")
        require_model_for(session, dataset.project_id, model_id, dataset)
        request.model_id = model_id
        entries = inference_configs(config.get("inf_config_list"), str(model_id))
        try:
            service_config(session, dataset.project_id, entries, REAL_TIME)
        except InvalidArgument as exc:
            field = exc.field or "config"
            message = exc.message.removeprefix(f"{field}: ")
            raise invalid(message, field.replace("config", "config.inf_config_list", 1)) from exc

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        payload = ctx.payload
        config = payload.get("config") or {}
        run = Run(ctx, STAGES)
        run.stage("init")
        principal = principal_of(payload)
        project_id = ctx.project_id
        delete_leftover_services(ctx)
        with ctx.db.session(readonly=True) as session:
            model = get_model(session, project_id, payload["model_id"])
            if model.status != PUBLISHED:
                raise failed(f"model {model.id} is {model.status}; pre-labeling needs a published model")
            model_name, model_version, apis = model.name, model.version, list(model.apis or [])
        dataset, _labeled, targets = load_samples(ctx, payload["dataset_id"], payload.get("sample_ids") or [])
        if not targets:
            raise NotEnoughLabeledSamples(
                "the dataset has no unlabeled samples to pre-label", field="config.samples"
            )
        contents = read_contents(ctx, run, dataset, targets)
        call = api_call(apis, dataset.dataset_type)
        requests = [encode(call, item, content) for item, content in zip(targets, contents, strict=True)]
        del contents

        run.stage("deploy service")
        name = f"{PRELABEL_PREFIX}{now_ms()}_{ctx.task_id[:12]}"
        service_id = deploy_service(
            ctx, principal, name, inference_configs(config.get("inf_config_list"), payload["model_id"])
        )
        ctx.progress(run.percent(), service_id=service_id, service_name=name)
        timings: dict[str, float] = {}
        try:
            clock = time.perf_counter()
            wait_service(ctx, run, "deploy service", project_id, service_id)
            timings["deploy"] = round(time.perf_counter() - clock, 3)
            run.stage("inference")
            clock = time.perf_counter()
            answers = asyncio.run(
                send_all(
                    Gateway(ctx.db),
                    project_id,
                    service_id,
                    call,
                    requests,
                    lambda f: run.stage("inference", f),
                )
            )
            timings["inference"] = round(time.perf_counter() - clock, 3)
            run.check()
            predictions, errors = [], []
            for item, (status, answer) in zip(targets, answers, strict=True):
                if status >= 400:
                    errors.append({"sample_id": item.sample_id, "status": status, "error": str(answer)[:300]})
                    continue
                try:
                    predictions.append(prediction(item.sample_id, answer, call, dataset.dataset_type))
                except (ValueError, TypeError) as exc:
                    errors.append({"sample_id": item.sample_id, "status": status, "error": str(exc)})
            if not predictions:
                first = errors[0] if errors else {}
                raise failed(
                    f"the model answered no sample usefully ({len(errors)} errors; "
                    f"first: {first.get('error')})"
                )
            outputs = write_outputs(ctx, config, targets, predictions)
            result_path = _write_infer_results(ctx, config, service_id, targets, answers)
            names = {label["name"] for p in predictions for label in p.labels}
            ensure_labels(ctx, dataset.id, names, label_type_of(dataset.dataset_type))
            written = write_auto_labels(ctx, run, dataset.id, predictions)
        finally:
            delete_services(ctx, project_id, [service_id])
        run.stage("delete service")
        return {
            "total_sample_count": len(targets),
            "dataset_name": dataset.name,
            "dataset_type": str(dataset.dataset_type),
            "auto_annotated_sample_count": written,
            "failed_sample_count": len(errors),
            "errors": errors[:10],
            "hard_example_count": sum(1 for p in predictions if p.hard),
            "service_id": service_id,
            "service_name": name,
            "model_id": payload["model_id"],
            "model_name": model_name,
            "model_version": model_version,
            "timings": timings,
            "events": run.finish(),
            **({"infer_result_output_dir": result_path} if result_path else {}),
            **({"manifest_path": outputs["annotation_output"]} if "annotation_output" in outputs else {}),
            **({"hard_example_path": outputs["key_sample_output"]} if "key_sample_output" in outputs else {}),
        }

    def on_failed(self, ctx: TaskContext, error: BaseException) -> None:
        """A worker that died left its temporary service."""
        delete_leftover_services(ctx)


def _write_infer_results(
    ctx: TaskContext,
    config: dict[str, Any],
    service_id: str,
    targets: list[Item],
    answers: list[tuple[int, Any]],
) -> str | None:
    """``infer_result_output_dir`` (or ``output_dir``/<service_id>-infer-result/): the raw answers."""
    if config.get("infer_result_output_dir"):
        base = parse_obs_path(str(config["infer_result_output_dir"]), field="config.infer_result_output_dir")
    elif config.get("output_dir"):
        base = parse_obs_path(str(config["output_dir"]), field="config.output_dir").as_dir()
        base = base.join(f"{service_id}-infer-result/")
    else:
        return None
    target = base.as_dir().join("infer_result.jsonl")
    lines = [
        json.dumps({"sample_id": item.sample_id, "source": item.source, "status": status, "result": answer})
        for item, (status, answer) in zip(targets, answers, strict=True)
    ]
    ctx.store.write(target, ("\n".join(lines) + "\n").encode("utf-8"))
    return str(target)


def delete_leftover_services(ctx: TaskContext) -> None:
    """Temporary services of earlier attempts of this pre-label task (one that failed or died)."""
    leftovers = services_named(ctx, ctx.project_id, PRELABEL_PREFIX, "_" + ctx.task_id[:12])
    if leftovers:
        delete_services(ctx, ctx.project_id, leftovers)


def require_model_for(session: Session, project_id: str, model_id: Any, dataset: Dataset) -> None:
    """At the request: the pre-labeling model exists in the project, is published and fits the dataset."""
    if not isinstance(model_id, str) or not model_id:
        raise InvalidArgument(
            "is required for pre-label (a published model of this project)", field="model_id"
        )
    try:
        model = get_model(session, project_id, model_id)
    except NotFound as exc:
        raise ServiceModelNotFound(f"Model {model_id} does not exist.", field="model_id") from exc
    if model.status != PUBLISHED:
        raise ModelNotReady(
            f"model {model_id} is {model.status}; pre-labeling needs a published model", field="model_id"
        )
    wanted = MODEL_ALGORITHMS.get(dataset.dataset_type, ())
    if model.model_algorithm not in wanted:
        raise InvalidArgument(
            f"model {model_id} is a {model.model_algorithm} model; this dataset needs "
            + " or ".join(wanted or ("a supported dataset type",)),
            field="model_id",
        )
