"""The intelligent tasks that deploy models (seed 002): ``pre-label`` and ``auto-deploy``.

**pre-label** labels a dataset with a published model of the project: it deploys the model as a
temporary real-time service (``inf_config_list`` or one instance of the smallest flavor), sends every
sample to be labeled through the inference gateway, as the model's ``apis`` declare (an image as a
``multipart/form-data`` file, a text as JSON), reads the answers in the shapes ModelArts documents
(``predicted_label`` + ``scores``; ``detection_classes`` / ``detection_boxes`` / ``detection_scores``;
the manual's ``{"images": label}``) and writes them as to-be-confirmed labels with their scores and
hard-example attributes, in one transaction at the end, as auto labeling does. The temporary service
is deleted whatever happens, also by the next attempt or ``on_failed`` if a worker died.

**auto-deploy** is one-click deployment: publish a version of the dataset (80 % train), train it with
the built-in algorithm of the dataset's type, create a model from the job's output, deploy the model
as a real-time service. Each step is an event of the task; the result names the version, the job,
the model and the service. A stopped task terminates its training job. The service stays: it is
what the user asked for.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import httpx
from sqlalchemy import select

from modelworks.data.constants import OBJECT_DETECTION, TEXT_CLASSIFICATION
from modelworks.data.datasets import get_dataset, inner_paths
from modelworks.data.tables import Dataset, DatasetVersion
from modelworks.db import now_ms
from modelworks.errors import (
    DeployStepFailed,
    InvalidArgument,
    ModelNotReady,
    ModelworksError,
    NotEnoughLabeledSamples,
    NotFound,
    ServiceModelNotFound,
)
from modelworks.iam.service import Principal
from modelworks.intelligence.handler import (
    Item,
    Prediction,
    Run,
    _ensure_labels,
    _label_row,
    _load,
    _read_items,
    _write_auto_labels,
    _write_outputs,
)
from modelworks.jobs import TaskCancelled, TaskContext
from modelworks.models.service import create_model, get_model
from modelworks.models.status import FAILED as MODEL_FAILED
from modelworks.models.status import PUBLISHED
from modelworks.serving import lifecycle
from modelworks.serving.gateway import Gateway
from modelworks.serving.status import DEPLOYING, SERVING
from modelworks.serving.tables import InferenceService
from modelworks.storage import parse_obs_path
from modelworks.training.builtin.catalog import builtin_algorithms
from modelworks.training.status import ACTIVE_PHASES, COMPLETED
from modelworks.training.training_jobs import create_training_job, get_training_job, terminate
from modelworks.transfer.versions import CREATING as VERSION_CREATING
from modelworks.transfer.versions import NORMAL as VERSION_NORMAL
from modelworks.transfer.versions import create_version

PRELABEL_PREFIX = "prelabel_infer_"
SERVICE_TIMEOUT_SECONDS = 600.0
STEP_TIMEOUT_SECONDS = 6 * 3600.0
POLL_SECONDS = 0.5
CONCURRENCY = 4
"""Requests in flight to the temporary service at once."""
BATCH = 64
HARD_SCORE = 0.5
"""A prediction whose best score is below this is a hard example (reason 1: low confidence)."""
TRAIN_RATIO = "0.8"
DEFAULT_SPECIFICATION = "modelarts.vm.cpu.2u"
MODEL_ALGORITHMS = {
    0: ("image_classification",),
    OBJECT_DETECTION: ("object_detection",),
    TEXT_CLASSIFICATION: ("text_classification",),
}

PRELABEL_STAGES = {
    "init": (0, 2),
    "load": (2, 8),
    "deploy service": (8, 25),
    "inference": (25, 92),
    "write": (92, 98),
    "delete service": (98, 100),
}
AUTO_DEPLOY_STAGES = {
    "init": (0, 2),
    "publish version": (2, 8),
    "training": (8, 75),
    "create model": (75, 85),
    "deploy service": (85, 100),
}


def _failed(message: str) -> ModelworksError:
    return DeployStepFailed(message)


def principal_of(payload: dict[str, Any]) -> Principal:
    raw = payload.get("principal")
    if not isinstance(raw, dict):
        raise _failed("the task was queued without its creator; start it again")
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


# -- services --------------------------------------------------------------------------------------


def _deploy(ctx: TaskContext, principal: Principal, name: str, config: list[dict[str, Any]]) -> str:
    body = {
        "service_name": name,
        "infer_type": "real-time",
        "config": config,
        "description": f"task {ctx.task_id}",
    }
    with ctx.db.session() as session:
        return lifecycle.deploy(session, ctx.settings, principal, body).id


def _wait(
    run: Run, stage: str, check: Callable[[], float | None], *, timeout: float, timeout_message: str
) -> None:
    """Poll ``check`` (None: done; a number: progress within the stage) until done or timed out."""
    deadline = time.monotonic() + timeout
    while True:
        fraction = check()
        if fraction is None:
            return
        if time.monotonic() > deadline:
            raise _failed(timeout_message)
        run.stage(stage, fraction)
        time.sleep(POLL_SECONDS)


def _wait_service(ctx: TaskContext, run: Run, stage: str, project_id: str, service_id: str) -> None:
    def state() -> float | None:
        with ctx.db.session(readonly=True) as session:
            service = lifecycle.get_service(session, project_id, service_id)
            status, error, progress = service.status, service.error_msg, service.progress
        if status in SERVING:
            return None
        if status != DEPLOYING:
            raise _failed(
                f"service {service_id} did not start: it is {status}" + (f" ({error})" if error else "")
            )
        return (progress or 0) / 100

    message = f"service {service_id} was not running after {SERVICE_TIMEOUT_SECONDS:.0f} s"
    _wait(run, stage, state, timeout=SERVICE_TIMEOUT_SECONDS, timeout_message=message)


def _delete_services(ctx: TaskContext, project_id: str, service_ids: list[str]) -> None:
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


def _leftover_services(ctx: TaskContext, project_id: str) -> list[str]:
    """Temporary services an earlier attempt of this task deployed (their names end with its id)."""
    suffix = "_" + ctx.task_id[:12]
    with ctx.db.session(readonly=True) as session:
        return [
            row.id
            for row in session.execute(
                select(InferenceService.id, InferenceService.name).where(
                    InferenceService.project_id == project_id,
                    InferenceService.name.like(PRELABEL_PREFIX + "%"),
                )
            )
            if row.name.endswith(suffix)
        ]


# -- requests and answers --------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiCall:
    """How a model wants a sample: the API's path and method, and a file field or a JSON text field."""

    path: str
    method: str
    multipart: bool
    field: str


def api_call(apis: list[dict[str, Any]], dataset_type: int) -> ApiCall:
    text = dataset_type == TEXT_CLASSIFICATION
    for api in apis or []:
        request = api.get("request") or {}
        data = request.get("data") if isinstance(request, dict) else None
        properties = (data or {}).get("properties") or {}
        files = [k for k, v in properties.items() if isinstance(v, dict) and v.get("type") == "file"]
        strings = [k for k, v in properties.items() if isinstance(v, dict) and v.get("type") == "string"]
        path = "/" + str(api.get("url") or "/").strip("/")
        method = str(api.get("method") or "POST").upper()
        if files and not text:
            return ApiCall(path, method, True, files[0])
        if text and (strings or files):
            return ApiCall(path, method, not strings, (strings or files)[0])
    return ApiCall("/", "POST", not text, "text" if text else "images")


def encode(call: ApiCall, item: Item, content: Any) -> tuple[dict[str, str], bytes]:
    if call.multipart:
        name = PurePosixPath(item.source.split("#", 1)[0]).name or "sample"
        blob = content if isinstance(content, bytes) else str(content).encode("utf-8")
        request = httpx.Request("POST", "http://model/", files={call.field: (name, blob)})
        return {"content-type": request.headers["content-type"]}, request.read()
    return {"content-type": "application/json"}, json.dumps({call.field: content}).encode("utf-8")


def _scores(raw: Any) -> list[tuple[str, float]]:
    out = []
    for pair in raw if isinstance(raw, list) else []:
        if isinstance(pair, list | tuple) and len(pair) == 2:
            try:
                out.append((str(pair[0]), float(pair[1])))
            except (TypeError, ValueError):
                continue
    return sorted(out, key=lambda p: -p[1])


def classification(answer: Any, call: ApiCall) -> tuple[str, float | None, list[tuple[str, float]]]:
    """(label, its score or None, every score) of a classifier's answer for one sample."""
    if isinstance(answer, list) and answer:
        answer = answer[0]
    if not isinstance(answer, dict):
        raise ValueError("the answer is not a JSON object")
    if answer.get("predicted_label") is not None:
        label = str(answer["predicted_label"])
        scores = _scores(answer.get("scores"))
        score = next((s for name, s in scores if name == label), None)
        return label, score, scores
    value = answer.get(call.field)  # the manual's example answers {"images": label}
    if value is None and len(answer) == 1:
        value = next(iter(answer.values()))
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value), None, []
    raise ValueError("the answer has no predicted_label")


def detection(answer: Any) -> list[tuple[str, float, list[float]]]:
    """(label, score, [xmin, ymin, xmax, ymax]) per box; ModelArts boxes are [ymin, xmin, ymax, xmax]."""
    if isinstance(answer, list) and answer:
        answer = answer[0]
    if not isinstance(answer, dict) or "detection_classes" not in answer:
        raise ValueError("the answer has no detection_classes")
    classes = answer.get("detection_classes") or []
    boxes = answer.get("detection_boxes") or []
    scores = answer.get("detection_scores") or [1.0] * len(classes)
    if not len(classes) == len(boxes) == len(scores):
        raise ValueError("detection_classes, detection_boxes and detection_scores differ in length")
    out = []
    for label, box, score in zip(classes, boxes, scores, strict=True):
        ymin, xmin, ymax, xmax = (float(v) for v in box)
        out.append((str(label), float(score), [xmin, ymin, xmax, ymax]))
    return out


def prediction(sample_id: str, answer: Any, call: ApiCall, dataset_type: int) -> Prediction:
    """The labels and hard-example attributes of one sample from the model's answer."""
    p = Prediction(sample_id, [])
    if dataset_type == OBJECT_DETECTION:
        boxes = detection(answer)
        lowest = min((score for _, score, _ in boxes), default=0.0)
        p.coefficient = 1.0 - lowest if boxes else 1.0
        p.hard = not boxes or lowest < HARD_SCORE
        p.reasons = [0] if not boxes else [1] if p.hard else []
        p.labels = [
            _label_row(
                label,
                1,
                score,
                {
                    "@modelarts:shape": "bndbox",
                    "@modelarts:feature": [[round(x1, 1), round(y1, 1)], [round(x2, 1), round(y2, 1)]],
                },
                p,
            )
            for label, score, (x1, y1, x2, y2) in boxes
        ]
        return p
    label, score, scores = classification(answer, call)
    if score is not None:
        runner_up = next((s for name, s in scores if name != label), 0.0)
        p.coefficient = min(1.0, max(0.0, 1.0 - (score - runner_up)))
        p.hard = score < HARD_SCORE
        p.reasons = [1] if p.hard else []
    p.labels = [_label_row(label, dataset_type, 1.0 if score is None else score, {}, p)]
    return p


async def _send_all(
    gateway: Gateway,
    project_id: str,
    service_id: str,
    call: ApiCall,
    requests: list[tuple[dict[str, str], bytes]],
    progress: Callable[[float], None],
) -> list[tuple[int, Any]]:
    """(HTTP status, parsed JSON or text) per request, in order; ``progress`` between batches."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        async with limit:
            try:
                answer = await gateway.forward(
                    project_id, service_id, call.path, call.method, headers, "", body
                )
            except ModelworksError as exc:
                return exc.http_status, exc.message
        try:
            return answer.status_code, json.loads(answer.content)
        except ValueError:
            return answer.status_code, answer.content[:500].decode("utf-8", errors="replace")

    out: list[tuple[int, Any]] = []
    try:
        for start in range(0, len(requests), BATCH):
            progress(start / max(len(requests), 1))
            batch = requests[start : start + BATCH]
            out.extend(await asyncio.gather(*(one(h, b) for h, b in batch)))
    finally:
        await gateway.aclose()
    return out


# -- pre-label -------------------------------------------------------------------------------------


def pre_label(ctx: TaskContext) -> dict[str, Any]:
    payload = ctx.payload
    config = payload.get("config") or {}
    run = Run(ctx, PRELABEL_STAGES)
    run.stage("init")
    principal = principal_of(payload)
    project_id = ctx.project_id
    delete_leftover_services(ctx)
    with ctx.db.session(readonly=True) as session:
        model = get_model(session, project_id, payload["model_id"])
        if model.status != PUBLISHED:
            raise _failed(f"model {model.id} is {model.status}; pre-labeling needs a published model")
        model_name, model_version, apis = model.name, model.version, list(model.apis or [])
    dataset, _labeled, targets = _load(ctx, payload["dataset_id"], payload.get("sample_ids") or [])
    if not targets:
        raise NotEnoughLabeledSamples(
            "the dataset has no unlabeled samples to pre-label", field="config.samples"
        )
    contents = _read_items(ctx, run, dataset, targets)
    call = api_call(apis, dataset.dataset_type)
    requests = [encode(call, item, content) for item, content in zip(targets, contents, strict=True)]
    del contents

    run.stage("deploy service")
    name = f"{PRELABEL_PREFIX}{now_ms()}_{ctx.task_id[:12]}"
    service_id = _deploy(
        ctx, principal, name, inference_configs(config.get("inf_config_list"), payload["model_id"])
    )
    ctx.progress(ctx_percent(run), service_id=service_id, service_name=name)
    timings: dict[str, float] = {}
    try:
        clock = time.perf_counter()
        _wait_service(ctx, run, "deploy service", project_id, service_id)
        timings["deploy"] = round(time.perf_counter() - clock, 3)
        run.stage("inference")
        clock = time.perf_counter()
        answers = asyncio.run(
            _send_all(
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
            raise _failed(
                f"the model answered no sample usefully ({len(errors)} errors; first: {first.get('error')})"
            )
        outputs = _write_outputs(ctx, config, targets, predictions)
        result_path = _write_infer_results(ctx, config, service_id, targets, answers)
        label_type = 1 if dataset.dataset_type == OBJECT_DETECTION else dataset.dataset_type
        _ensure_labels(
            ctx, dataset.id, {label["name"] for p in predictions for label in p.labels}, label_type
        )
        written = _write_auto_labels(ctx, run, dataset.id, predictions)
    finally:
        _delete_services(ctx, project_id, [service_id])
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


def ctx_percent(run: Run) -> float:
    """The low end of the run's current stage (for progress writes that only add result fields)."""
    stage = run.events[-1].name if run.events else "init"
    return float(run.stages.get(stage, (0, 0))[0])


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
    leftovers = _leftover_services(ctx, ctx.project_id)
    if leftovers:
        _delete_services(ctx, ctx.project_id, leftovers)


# -- auto-deploy -----------------------------------------------------------------------------------


def builtin_for(dataset_type: int) -> Any:
    for algorithm in builtin_algorithms():
        if algorithm.dataset_type == dataset_type:
            return algorithm
    return None


def _wait_step(run: Run, stage: str, check: Callable[[], float | None]) -> None:
    hours = STEP_TIMEOUT_SECONDS / 3600
    _wait(
        run,
        stage,
        check,
        timeout=STEP_TIMEOUT_SECONDS,
        timeout_message=f"{stage} did not end within {hours:.0f} hours",
    )


def auto_deploy(ctx: TaskContext) -> dict[str, Any]:
    payload = ctx.payload
    config = payload.get("config") or {}
    run = Run(ctx, AUTO_DEPLOY_STAGES)
    run.stage("init")
    principal = principal_of(payload)
    project_id = ctx.project_id
    stamp = now_ms()
    algorithm = builtin_for(int(payload["dataset_type"]))
    if algorithm is None or not algorithm.available():
        raise _failed("no built-in algorithm for this dataset type is installed")
    result: dict[str, Any] = {"algorithm_name": algorithm.name}

    def note(**fields: Any) -> None:
        result.update(fields)
        ctx.progress(ctx_percent(run), **fields)

    # 1. a version to train on
    run.stage("publish version")
    with ctx.db.session() as session:
        dataset = get_dataset(session, project_id, payload["dataset_id"], for_update=True)
        version = create_version(
            session,
            dataset,
            {"train_evaluate_sample_ratio": TRAIN_RATIO, "description": f"auto-deploy task {ctx.task_id}"},
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
                raise _failed(f"dataset version {version_name} was deleted")
            if row.status == VERSION_NORMAL:
                return None
            if row.status != VERSION_CREATING:
                raise _failed(f"publishing dataset version {version_name} failed")
            return 0.5

    _wait_step(run, "publish version", version_state)

    # 2. training with the built-in algorithm
    run.stage("training")
    job_name = str(config.get("train_job_name") or f"auto-deploy-{stamp}")
    parameters = [
        {"name": str(p.get("label") or p.get("name")), "value": str(p.get("value"))}
        for p in config.get("parameters") or []
        if isinstance(p, dict) and (p.get("label") or p.get("name"))
    ]
    flavor: dict[str, Any] = config["flavor"] if isinstance(config.get("flavor"), dict) else {}
    body = {
        "kind": "job",
        "metadata": {
            "name": job_name,
            "description": f"auto-deploy task {ctx.task_id} of dataset {dataset_name}",
        },
        "algorithm": {
            "id": algorithm.id,
            "inputs": [
                {
                    "name": "data_url",
                    "remote": {"dataset": {"id": payload["dataset_id"], "version_id": version_id}},
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
            raise _failed(f"training job {job_name} ended {phase}" + (f": {message}" if message else ""))
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
            raise _failed(f"model {model_name} failed publishing: {failed_msg}")
        return 0.5

    _wait_step(run, "create model", model_state)

    # 4. the service
    run.stage("deploy service")
    service_name = str(config.get("service_name") or f"auto-deploy-{stamp}")
    service_id = _deploy(
        ctx, principal, service_name, inference_configs(config.get("inf_config_list"), model_id)
    )
    note(service_id=service_id, service_name=service_name)
    _wait_service(ctx, run, "deploy service", project_id, service_id)
    with ctx.db.session(readonly=True) as session:
        metrics = get_model(session, project_id, model_id).config.get("metrics") or {}
    return {**result, "metrics": metrics, "dataset_name": dataset_name, "events": run.finish()}


def require_model_for(session: Any, project_id: str, model_id: Any, dataset: Dataset) -> None:
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
