"""Pre-labeling's traffic with the temporary service: each sample as the model's ``apis`` want it (an
image as a ``multipart/form-data`` file, a text as JSON), sent through the inference gateway, and the
answers read in the shapes ModelArts documents (``predicted_label`` + ``scores``;
``detection_classes`` / ``detection_boxes`` / ``detection_scores``; the manual's
``{"images": label}``) into predictions with hard-example attributes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import httpx

from modelworks.data.constants import OBJECT_DETECTION, TEXT_CLASSIFICATION
from modelworks.errors import ModelworksError
from modelworks.intelligence._samples import Item
from modelworks.intelligence.labels import Prediction, label_row
from modelworks.serving.gateway import Gateway

CONCURRENCY = 4
"""Requests in flight to the temporary service at once."""
BATCH = 64
HARD_SCORE = 0.5
"""A prediction whose best score is below this is a hard example (reason 1: low confidence)."""


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
            label_row(
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
    p.labels = [label_row(label, dataset_type, 1.0 if score is None else score, {}, p)]
    return p


async def send_all(
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
