"""``auto-label``: auto labeling of a dataset by active learning, with hard examples.

A run reads what it needs in short transactions, computes everything without writing (features on
the executor, cached by content), and writes the outcome in **one** transaction at the end. So a task
that is stopped, fails or whose worker dies leaves the dataset exactly as it was; only the feature
cache (keyed by content, not by dataset) keeps what was computed, so the next run is faster.

Auto labeling predicts a label for every sample without human labels (or the requested ones). Each
prediction becomes a to-be-confirmed label (``annotated_by: auto``, ``score``) and, with
``collect_key_sample``, the sample gets ``@modelarts:hard``, ``@modelarts:hard_coefficient`` and
``@modelarts:hard_reasons``. Samples a person labeled while the task ran are left alone.
"""

from __future__ import annotations

import time
from typing import Any

from modelworks.data.constants import OBJECT_DETECTION, TEXT_CLASSIFICATION
from modelworks.data.tables import Dataset
from modelworks.db import now_ms
from modelworks.errors import DatasetNotFound, NotEnoughLabeledSamples, NotImplementedYet
from modelworks.intelligence._requests import (
    LABELING_DATASETS,
    LABELING_TYPES,
    check_labels,
    parse_confidence_scope,
    unsupported,
)
from modelworks.intelligence._run import Run
from modelworks.intelligence._samples import Item, load_samples, read_contents
from modelworks.intelligence.base import IntelligentTaskKind, TaskRequest
from modelworks.intelligence.compute import ExecutorCompute, embedders
from modelworks.intelligence.labels import (
    Prediction,
    ensure_labels,
    label_row,
    label_type_of,
    write_auto_labels,
    write_outputs,
)
from modelworks.jobs import TaskContext
from modelworks.ml.pipeline import auto_label

# Share of the progress bar per stage of a run.
STAGES = {"init": (0, 2), "load": (2, 10), "features": (10, 75), "training": (75, 80)}
STAGES |= {"hard examples": (80, 92), "write": (92, 100)}

Scope = tuple[float, float] | None


class AutoLabelTask(IntelligentTaskKind):
    """Active learning: an estimator on the human labels predicts the others, with hard examples."""

    type_number = 0
    listed_by_default = True

    def prepare(self, request: TaskRequest) -> None:
        if request.dataset.dataset_type not in LABELING_TYPES:
            raise unsupported("auto labeling", LABELING_DATASETS)
        config, body = request.config, request.body
        algorithm = config.get("algorithm_type") or "fast"
        config["algorithm_type"] = algorithm
        scope = parse_confidence_scope(config.get("confidence_scope"))
        collect = bool(body.get("collect_key_sample"))
        config["collect_sample"] = config.get("collect_sample") is not False
        config["collect_rule"] = config.get("collect_rule") or "all"
        config["stop_time"] = config.get("stop_time") or 15
        check_labels(request.session, request.dataset)
        request.payload.update(algorithm=algorithm, collect_key_sample=collect, confidence_scope=scope)

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        payload = ctx.payload
        config = payload.get("config") or {}
        run = Run(ctx, STAGES, float(config.get("stop_time", 15)) * 60)
        run.stage("init")
        with ctx.db.session(readonly=True) as session:
            ds = session.get(Dataset, payload["dataset_id"])
            if ds is None:
                raise DatasetNotFound(f"Dataset '{payload['dataset_id']}' does not exist.")
            check_labels(session, ds)
        dataset, labeled, targets = load_samples(ctx, payload["dataset_id"], payload.get("sample_ids") or [])
        counts = {"total_sample_count": len(labeled) + len(targets)}
        if not targets:
            raise NotEnoughLabeledSamples(
                "the dataset has no unlabeled samples to auto label",
                field="config.samples",
            )
        labeled_content = read_contents(ctx, run, dataset, labeled)
        target_content = read_contents(ctx, run, dataset, targets)
        collect = bool(payload.get("collect_key_sample"))
        scope = tuple(payload["confidence_scope"]) if payload.get("confidence_scope") else None
        clock = time.perf_counter()
        if dataset.dataset_type == OBJECT_DETECTION:
            predictions, info = _detect(
                ctx, run, labeled, labeled_content, targets, target_content, collect, scope
            )
        else:
            predictions, info = _classify(
                ctx, run, dataset, labeled, labeled_content, targets, target_content, collect, scope
            )
        info["timings"]["total"] = round(time.perf_counter() - clock, 3)
        names = {label["name"] for p in predictions for label in p.labels}
        outputs = write_outputs(ctx, config, targets, predictions)
        ensure_labels(ctx, dataset.id, names, label_type_of(dataset.dataset_type))
        written = write_auto_labels(ctx, run, dataset.id, predictions)
        hard = sum(1 for p in predictions if p.hard)
        now = now_ms()
        result: dict[str, Any] = {
            **counts,
            "dataset_name": dataset.name,
            "dataset_type": str(dataset.dataset_type),
            "auto_annotated_sample_count": written,
            "labeled_sample_count": len(labeled),
            "hard_example_count": hard,
            "confidence_scope": config.get("confidence_scope"),
            "algorithm_type": payload.get("algorithm"),
            "model_name": "efficientnet-lite0"
            if dataset.dataset_type != TEXT_CLASSIFICATION
            else "all-minilm-l6-v2",
            "model_version": "0.0.1",
            "computed_features": info["computed_features"],
            "timings": info["timings"],
            "events": run.finish(),
            **({"hard_example_path": outputs["key_sample_output"]} if "key_sample_output" in outputs else {}),
            **({"manifest_path": outputs["annotation_output"]} if "annotation_output" in outputs else {}),
        }
        if collect:
            result["hard_select_tasks"] = [
                {
                    "hard_select_task_id": ctx.task_id,
                    "dataset_id": dataset.id,
                    "dataset_name": dataset.name,
                    "task_status": "import_dataset_completed",
                    "time": int(info["timings"].get("hard_examples", 0.0)),
                    "create_at": now,
                    "update_at": now,
                    "hard_sample_count": hard,
                }
            ]
        return result


def _classify(
    ctx: TaskContext,
    run: Run,
    dataset: Dataset,
    labeled: list[Item],
    labeled_content: list[Any],
    targets: list[Item],
    target_content: list[Any],
    collect: bool,
    scope: Scope,
) -> tuple[list[Prediction], dict[str, Any]]:
    embedder, cache, parts = embedders(ctx, dataset.dataset_type)
    compute = ExecutorCompute(ctx.executor, run.check, parts=parts) if ctx.executor is not None else None
    label_type = dataset.dataset_type
    y = [sorted(label.name for label in item.labels)[0] for item in labeled]
    outcome = auto_label(
        embedder,
        labeled_content,
        y,
        target_content,
        algorithm=ctx.payload.get("algorithm") or "fast",
        cache=cache,
        collect_hard=collect,
        confidence_scope=scope,
        progress=run.stage,
        compute_with=compute,
    )
    predictions = []
    for i, item in enumerate(targets):
        p = Prediction(item.sample_id, [])
        if outcome.hard is not None:
            p.hard = bool(outcome.hard.hard[i])
            p.coefficient = float(outcome.hard.coefficient[i])
            p.reasons = [int(r) for r in outcome.hard.reasons[i]] if p.hard else []
        p.labels = [label_row(str(outcome.labels[i]), label_type, float(outcome.scores[i]), {}, p)]
        predictions.append(p)
    return predictions, {
        "computed_features": outcome.computed_features,
        "timings": {k: round(v, 3) for k, v in outcome.timings.items()},
    }


def _detect(
    ctx: TaskContext,
    run: Run,
    labeled: list[Item],
    labeled_content: list[Any],
    targets: list[Item],
    target_content: list[Any],
    collect: bool,
    scope: Scope,
) -> tuple[list[Prediction], dict[str, Any]]:
    try:
        from modelworks.ml.detection import Box, auto_detect
    except ImportError as exc:
        raise NotImplementedYet("auto labeling of object detection datasets is not available yet") from exc
    boxes = []
    for item in labeled:
        mine = []
        for label in item.labels:
            prop = label.property or {}
            feature = prop.get("@modelarts:feature")
            if prop.get("@modelarts:shape", "bndbox") != "bndbox" or not feature:
                continue
            (x1, y1), (x2, y2) = feature[0], feature[1]
            mine.append(Box(label.name, float(x1), float(y1), float(x2), float(y2)))
        boxes.append(mine)
    outcome = auto_detect(
        labeled_content,
        boxes,
        target_content,
        algorithm=ctx.payload.get("algorithm") or "fast",
        cache_dir=ctx.settings.home / "cache" / "models",
        collect_hard=collect,
        confidence_scope=scope,
        progress=run.stage,
    )
    predictions = []
    for i, item in enumerate(targets):
        p = Prediction(item.sample_id, [])
        if collect:
            p.hard = bool(outcome.hard[i])
            p.coefficient = float(outcome.hard_coefficient[i])
            p.reasons = [int(r) for r in outcome.hard_reasons[i]] if p.hard else []
        p.labels = [
            label_row(
                box.label,
                1,
                box.score,
                {
                    "@modelarts:shape": "bndbox",
                    "@modelarts:feature": [
                        [round(box.xmin, 1), round(box.ymin, 1)],
                        [round(box.xmax, 1), round(box.ymax, 1)],
                    ],
                },
                p,
            )
            for box in outcome.boxes[i]
        ]
        if not p.labels and p.coefficient is not None and 0 not in p.reasons and p.hard:
            p.reasons = [0, *p.reasons]
        predictions.append(p)
    return predictions, {
        "computed_features": outcome.computed_features,
        "timings": {k: round(v, 3) for k, v in outcome.timings.items()},
    }
