"""The ``intelligent-task`` handler: auto labeling (active learning) and auto grouping of a dataset.

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

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import delete, select

from modelworks.data.constants import (
    OBJECT_DETECTION,
    STATUS_AUTO,
    STATUS_MANUAL,
    STATUS_UNLABELED,
    TEXT_CLASSIFICATION,
)
from modelworks.data.datasets import inner_paths
from modelworks.data.tables import Dataset, DatasetLabel, Sample, SampleLabel
from modelworks.db import now_ms
from modelworks.errors import DatasetNotFound, NotEnoughLabeledSamples, NotImplementedYet, TaskTimedOut
from modelworks.intelligence.compute import ExecutorCompute
from modelworks.intelligence.service import (
    AUTO_DEPLOY,
    AUTO_LABEL,
    INTELLIGENT_TASK_KIND,
    PRE_LABEL,
    check_labels,
)
from modelworks.jobs import TaskContext, TaskHandler, register
from modelworks.ml.features import FeatureCache, ImageEmbedder
from modelworks.ml.features.text import TextEmbedder
from modelworks.ml.hard_examples import HARD_REASONS
from modelworks.ml.pipeline import auto_group, auto_label
from modelworks.storage import ObsPath, parse_obs_path

log = logging.getLogger(__name__)

_WRITE_CHUNK = 500

# Share of the progress bar per stage of an auto-labeling run.
_LABEL_STAGES = {"init": (0, 2), "load": (2, 10), "features": (10, 75), "training": (75, 80)}
_LABEL_STAGES |= {"hard examples": (80, 92), "write": (92, 100)}
_GROUP_STAGES = {
    "init": (0, 2),
    "load": (2, 10),
    "features": (10, 85),
    "grouping": (85, 92),
    "write": (92, 100),
}


@dataclass
class Event:
    name: str
    ordinal: int
    started: int = field(default_factory=now_ms)
    status: str = "running"
    finished: int | None = None
    error: str | None = None
    children: list[Event] = field(default_factory=list)

    def view(self, parent: str | None = None) -> dict[str, Any]:
        end = self.finished or now_ms()
        return {
            "name": self.name,
            "ordinal": self.ordinal,
            "level": 1 if parent is None else 2,
            "parent_name": parent,
            "status": self.status,
            "create_time": self.started,
            "elapsed_time": (end - self.started) // 1000,
            "description": self.name,
            "error_code": None,
            "error_message": self.error,
            "events": [c.view(self.name) for c in self.children],
        }


class Run:
    """One attempt of a task: its stages as ``events``, progress, stop and deadline checks."""

    def __init__(self, ctx: TaskContext, stages: dict[str, tuple[int, int]], deadline_s: float | None = None):
        self.ctx = ctx
        self.stages = stages
        self.events: list[Event] = []
        self.deadline = time.monotonic() + deadline_s if deadline_s else None
        self._stage: str | None = None

    def stage(self, name: str, fraction: float = 0.0) -> None:
        """Enter (or advance within) a stage; raises when the task must stop or ran out of time."""
        top = name.split(" (")[0] if name.split(" (")[0] in self.stages else name
        if top not in self.stages:
            top = self._stage or "init"
        if top != self._stage:
            if self.events:
                self.events[-1].status, self.events[-1].finished = "success", now_ms()
            self.events.append(Event(top, len(self.events) + 1))
            self._stage = top
        current = self.events[-1]
        if name != top and (not current.children or current.children[-1].name != name):
            if current.children:
                current.children[-1].status, current.children[-1].finished = "success", now_ms()
            current.children.append(Event(name, len(current.children) + 1))
        low, high = self.stages[top]
        self._check_deadline()
        self.ctx.progress(low + (high - low) * min(max(fraction, 0.0), 1.0), stage=top, events=self.views())

    def finish(self) -> list[dict[str, Any]]:
        for event in self.events:
            for child in event.children:
                if child.status == "running":
                    child.status, child.finished = "success", now_ms()
            if event.status == "running":
                event.status, event.finished = "success", now_ms()
        return self.views()

    def fail(self, message: str) -> list[dict[str, Any]]:
        if self.events:
            self.events[-1].status, self.events[-1].finished = "failed", now_ms()
            self.events[-1].error = message
        return self.views()

    def views(self) -> list[dict[str, Any]]:
        return [e.view() for e in self.events]

    def check(self) -> None:
        """Raise if the task must stop or ran out of time, without moving the progress bar."""
        self._check_deadline()
        self.ctx.check_cancelled()

    def _check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TaskTimedOut(
                "the task ran longer than config.stop_time minutes and was stopped; nothing was written"
            )


@dataclass
class Item:
    sample_id: str
    source: str
    text: str | None
    size: Any = None
    labels: list[SampleLabel] = field(default_factory=list)


def _read_items(ctx: TaskContext, run: Run, dataset: Dataset, items: list[Item]) -> list[Any]:
    """Each item's content: bytes of an image, the text of a text sample."""
    out: list[Any] = []
    for i, item in enumerate(items):
        if i % 200 == 0:
            run.stage("load", i / max(len(items), 1))
        if dataset.dataset_type == TEXT_CLASSIFICATION:
            if item.text is not None:
                out.append(item.text)
            else:
                path = parse_obs_path(item.source.split("#", 1)[0])
                out.append(ctx.store.read(path).decode("utf-8", errors="replace"))
        else:
            out.append(ctx.store.read(parse_obs_path(item.source)))
    return out


def _load(
    ctx: TaskContext, dataset_id: str, sample_ids: Sequence[str]
) -> tuple[Dataset, list[Item], list[Item]]:
    """The dataset, its human-labeled samples with their labels, and the samples to predict."""
    with ctx.db.session(readonly=True) as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            raise DatasetNotFound(f"Dataset '{dataset_id}' does not exist.")
        session.expunge(dataset)
        rows = session.execute(
            select(Sample.id, Sample.source, Sample.text, Sample.status, Sample.meta)
            .where(Sample.dataset_id == dataset_id)
            .order_by(Sample.id)
        ).all()
        labels: dict[str, list[SampleLabel]] = {}
        for label in session.scalars(
            select(SampleLabel).where(
                SampleLabel.dataset_id == dataset_id, SampleLabel.annotated_by != "auto"
            )
        ):
            session.expunge(label)
            labels.setdefault(label.sample_id, []).append(label)
    wanted = set(sample_ids)
    labeled, targets = [], []
    for row in rows:
        item = Item(
            row.id, row.source, row.text, (row.meta or {}).get("@modelarts:size"), labels.get(row.id, [])
        )
        if row.status == STATUS_MANUAL and item.labels:
            labeled.append(item)
        elif row.status in (STATUS_UNLABELED, STATUS_AUTO) and (not wanted or row.id in wanted):
            targets.append(item)
    return dataset, labeled, targets


@dataclass
class Prediction:
    """What the task writes for one sample."""

    sample_id: str
    labels: list[dict[str, Any]]
    hard: bool = False
    coefficient: float | None = None
    reasons: list[int] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def _label_row(
    name: str, label_type: int, score: float, prop: dict[str, Any], hard: Prediction
) -> dict[str, Any]:
    prop = dict(prop)
    if hard.coefficient is not None:
        prop["@modelarts:hard"] = "true" if hard.hard else "false"
        prop["@modelarts:hard_coefficient"] = f"{hard.coefficient:.4f}"
        if hard.reasons:
            prop["@modelarts:hard_reasons"] = "-".join(str(r) for r in hard.reasons)
    return {"name": name, "type": label_type, "score": round(float(score), 6), "property": prop}


def _write_auto_labels(ctx: TaskContext, run: Run, dataset_id: str, predictions: list[Prediction]) -> int:
    """Replace the pending auto labels of the predicted samples, in one transaction; returns how many
    samples were written (those a person labeled meanwhile are skipped).

    A stop request is honoured up to here. Nothing inside the transaction touches the task's row:
    on SQLite that would wait for the very write lock this transaction holds."""
    run.stage("write", 0.0)
    written = 0
    now = now_ms()
    with ctx.db.session() as session:
        for start in range(0, len(predictions), _WRITE_CHUNK):
            chunk = predictions[start : start + _WRITE_CHUNK]
            samples = {
                s.id: s
                for s in session.scalars(
                    select(Sample)
                    .where(Sample.id.in_([p.sample_id for p in chunk]), Sample.status != STATUS_MANUAL)
                    .with_for_update()
                )
            }
            session.execute(
                delete(SampleLabel).where(
                    SampleLabel.sample_id.in_(list(samples)), SampleLabel.annotated_by == "auto"
                )
            )
            rows = []
            for p in chunk:
                sample = samples.get(p.sample_id)
                if sample is None:
                    continue
                for label in p.labels:
                    rows.append(
                        SampleLabel(
                            sample_id=sample.id,
                            dataset_id=dataset_id,
                            annotated_by="auto",
                            labeler="auto",
                            created_at=now,
                            **label,
                        )
                    )
                meta = dict(sample.meta or {})
                meta.update(p.meta)
                if p.coefficient is not None:
                    sample.hard = 1 if p.hard else 0
                    sample.hard_coefficient = round(float(p.coefficient), 6)
                    meta["@modelarts:hard_reasons"] = list(p.reasons)
                sample.meta = meta
                sample.status = STATUS_AUTO if p.labels else sample.status
                sample.version += 1
                sample.update_time = now
                written += 1
            session.add_all(rows)
            session.flush()
        dataset = session.get(Dataset, dataset_id, with_for_update=True)
        if dataset is not None:
            dataset.data_update_time = now
    return written


def _ensure_labels(ctx: TaskContext, dataset_id: str, names: set[str], label_type: int) -> None:
    with ctx.db.session() as session:
        known = set(session.scalars(select(DatasetLabel.name).where(DatasetLabel.dataset_id == dataset_id)))
        for name in sorted(names - known):
            session.add(DatasetLabel(dataset_id=dataset_id, name=name, type=label_type, property={}))


def _manifest_line(source: str, p: Prediction, usage: str = "INFERENCE") -> str:
    line: dict[str, Any] = {"source": source if source.startswith(("obs://", "s3://")) else "obs:/" + source}
    line["usage"] = usage
    if p.coefficient is not None:
        line["hard"] = "true" if p.hard else "false"
        line["hard-coefficient"] = round(float(p.coefficient), 4)
        if p.reasons:
            line["hard-reasons"] = list(p.reasons)
    line["annotation"] = [
        {
            "type": "modelarts/image_classification"
            if label["type"] == 0
            else "modelarts/text_classification"
            if label["type"] == 100
            else "modelarts/object_detection",
            "name": label["name"],
            "property": {k: v for k, v in label["property"].items() if not k.startswith("@modelarts:hard")},
            "confidence": label["score"],
            "annotated-by": "modelarts/active-learning",
        }
        for label in p.labels
    ]
    return json.dumps(line, ensure_ascii=False)


def _write_outputs(
    ctx: TaskContext, config: dict[str, Any], items: list[Item], predictions: list[Prediction]
) -> dict[str, str]:
    """``annotation_output`` (all auto labels) and ``key_sample_output`` (hard examples) as manifests."""
    written: dict[str, str] = {}
    sources = {item.sample_id: item.source for item in items}
    for key, name, keep in (
        ("annotation_output", "auto_annotation.manifest", lambda p: True),
        ("key_sample_output", "hard_examples.manifest", lambda p: p.hard),
    ):
        raw = config.get(key)
        if not raw:
            continue
        target = parse_obs_path(str(raw), field=f"config.{key}").as_dir().join(name)
        lines = [_manifest_line(sources[p.sample_id], p) for p in predictions if keep(p)]
        ctx.store.write(target, ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8"))
        written[key] = str(target)
    return written


def _embedders(ctx: TaskContext, dataset_type: int) -> tuple[Any, FeatureCache, int]:
    home = ctx.settings.home
    cache = FeatureCache(home / "cache" / "features")
    cpus = int(ctx.executor.resources().get("cpus", 1)) if ctx.executor is not None else 1
    parts = max(1, min(cpus, int(getattr(ctx.settings, "compute_processes", 2) or 1)))
    if dataset_type == TEXT_CLASSIFICATION:
        embedder: Any = TextEmbedder(num_threads=1 if parts > 1 else None)
    else:
        embedder = ImageEmbedder(home / "cache" / "models", intra_op_num_threads=1 if parts > 1 else None)
    return embedder, cache, parts


class IntelligentTask(TaskHandler):
    kind = INTELLIGENT_TASK_KIND

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        task_type = ctx.payload["task_type"]
        if task_type == AUTO_LABEL:
            return self._auto_label(ctx)
        if task_type in (PRE_LABEL, AUTO_DEPLOY):
            # The tasks that deploy models import the service and training layers, which import this
            # module's helpers: imported here, when such a task runs.
            from modelworks.intelligence import deployment

            return deployment.pre_label(ctx) if task_type == PRE_LABEL else deployment.auto_deploy(ctx)
        return self._auto_group(ctx)

    # -- auto labeling ----------------------------------------------------------------------------

    def _auto_label(self, ctx: TaskContext) -> dict[str, Any]:
        payload = ctx.payload
        config = payload.get("config") or {}
        run = Run(ctx, _LABEL_STAGES, float(config.get("stop_time", 15)) * 60)
        run.stage("init")
        with ctx.db.session(readonly=True) as session:
            ds = session.get(Dataset, payload["dataset_id"])
            if ds is None:
                raise DatasetNotFound(f"Dataset '{payload['dataset_id']}' does not exist.")
            check_labels(session, ds)
        dataset, labeled, targets = _load(ctx, payload["dataset_id"], payload.get("sample_ids") or [])
        counts = {"total_sample_count": len(labeled) + len(targets)}
        if not targets:
            raise NotEnoughLabeledSamples(
                "the dataset has no unlabeled samples to auto label",
                field="config.samples",
            )
        labeled_content = _read_items(ctx, run, dataset, labeled)
        target_content = _read_items(ctx, run, dataset, targets)
        collect = bool(payload.get("collect_key_sample"))
        scope = tuple(payload["confidence_scope"]) if payload.get("confidence_scope") else None
        clock = time.perf_counter()
        if dataset.dataset_type == OBJECT_DETECTION:
            predictions, info = self._detect(
                ctx, run, labeled, labeled_content, targets, target_content, collect, scope
            )
        else:
            predictions, info = self._classify(
                ctx, run, dataset, labeled, labeled_content, targets, target_content, collect, scope
            )
        info["timings"]["total"] = round(time.perf_counter() - clock, 3)
        names = {label["name"] for p in predictions for label in p.labels}
        label_type = 1 if dataset.dataset_type == OBJECT_DETECTION else dataset.dataset_type
        outputs = _write_outputs(ctx, config, targets, predictions)
        _ensure_labels(ctx, dataset.id, names, label_type)
        written = _write_auto_labels(ctx, run, dataset.id, predictions)
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
        self,
        ctx: TaskContext,
        run: Run,
        dataset: Dataset,
        labeled: list[Item],
        labeled_content: list[Any],
        targets: list[Item],
        target_content: list[Any],
        collect: bool,
        scope: tuple[float, float] | None,
    ) -> tuple[list[Prediction], dict[str, Any]]:
        embedder, cache, parts = _embedders(ctx, dataset.dataset_type)
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
            p.labels = [_label_row(str(outcome.labels[i]), label_type, float(outcome.scores[i]), {}, p)]
            predictions.append(p)
        return predictions, {
            "computed_features": outcome.computed_features,
            "timings": {k: round(v, 3) for k, v in outcome.timings.items()},
        }

    def _detect(
        self,
        ctx: TaskContext,
        run: Run,
        labeled: list[Item],
        labeled_content: list[Any],
        targets: list[Item],
        target_content: list[Any],
        collect: bool,
        scope: tuple[float, float] | None,
    ) -> tuple[list[Prediction], dict[str, Any]]:
        try:
            from modelworks.ml.detection import Box, auto_detect
        except ImportError as exc:
            raise NotImplementedYet(
                "auto labeling of object detection datasets is not available yet"
            ) from exc
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
                _label_row(
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

    # -- auto grouping ----------------------------------------------------------------------------

    def _auto_group(self, ctx: TaskContext) -> dict[str, Any]:
        payload = ctx.payload
        run = Run(ctx, _GROUP_STAGES)
        run.stage("init")
        dataset, labeled, targets = _load(ctx, payload["dataset_id"], payload.get("sample_ids") or [])
        if payload.get("sample_ids"):
            wanted = set(payload["sample_ids"])
            items = [i for i in [*labeled, *targets] if i.sample_id in wanted]
        else:
            items = targets  # the unlabeled samples, as the manual describes
        if len(items) < 2:
            raise NotEnoughLabeledSamples(
                "auto grouping needs at least 2 unlabeled (or selected) images",
                field="config",
            )
        content = _read_items(ctx, run, dataset, items)
        embedder, cache, parts = _embedders(ctx, dataset.dataset_type)
        compute = ExecutorCompute(ctx.executor, run.check, parts=parts) if ctx.executor is not None else None
        clock = time.perf_counter()
        groups = auto_group(
            embedder,
            content,
            int(payload["n_clusters"]),
            measures=payload.get("measures") or [],
            cache=cache,
            progress=run.stage,
            compute_with=compute,
        )
        elapsed = time.perf_counter() - clock
        sizes = {int(g): int(n) for g, n in zip(*np.unique(groups, return_counts=True), strict=True)}
        result: dict[str, Any] = {
            "total_sample_count": len(items),
            "group_count": len(sizes),
            "group_sizes": {str(g): n for g, n in sorted(sizes.items())},
            "timings": {"grouping": round(elapsed, 3)},
        }
        if payload["result_type"] == 1:
            prop = payload["property"]
            run.stage("write", 0.0)  # the last point a stop is honoured; one transaction follows
            with ctx.db.session() as session:
                by_id = {item.sample_id: str(int(g)) for item, g in zip(items, groups, strict=True)}
                ids = list(by_id)
                for start in range(0, len(ids), _WRITE_CHUNK):
                    for sample in session.scalars(
                        select(Sample)
                        .where(Sample.id.in_(ids[start : start + _WRITE_CHUNK]))
                        .with_for_update()
                    ):
                        sample.meta = {**(sample.meta or {}), prop: by_id[sample.id]}
                        sample.version += 1
                        sample.update_time = now_ms()
            result["property"] = prop
        else:
            run.stage("write", 0.0)
            target = _grouping_path(dataset, ctx.task_id)
            lines = [
                json.dumps({"sample_id": item.sample_id, "source": item.source, "group": int(g)})
                for item, g in zip(items, groups, strict=True)
            ]
            ctx.store.write(target, ("\n".join(lines) + "\n").encode("utf-8"))
            result["output_path"] = str(target)
        result["events"] = run.finish()
        return result

    def on_failed(self, ctx: TaskContext, error: BaseException) -> None:
        # Nothing to undo in the dataset (it is written in one transaction at the very end); record
        # where the run stopped in its events.
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        log.info("intelligent task %s ended: %s", ctx.task_id, message)
        if ctx.payload.get("task_type") == PRE_LABEL:
            from modelworks.intelligence import deployment

            deployment.delete_leftover_services(ctx)  # a worker that died left its temporary service


def _grouping_path(dataset: Dataset, task_id: str) -> ObsPath:
    base = parse_obs_path(inner_paths(dataset)["inner_annotation_path"]).as_dir()
    return base.join(f"auto-grouping/{task_id}/result.jsonl")


def hard_reason_text(number: int) -> str:
    return HARD_REASONS.get(number, "")


register(IntelligentTask())
