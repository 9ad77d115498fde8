"""``auto-grouping``: clusters of a dataset's unlabeled (or selected) images on their embeddings plus
optional blur, brightness and colourfulness measures, saved to storage (``result_type`` 0) or as a
sample attribute (1). Like auto labeling, a run writes only at its very end."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from modelworks.data.constants import IMAGE_CLASSIFICATION, OBJECT_DETECTION
from modelworks.data.datasets import inner_paths
from modelworks.data.tables import Dataset
from modelworks.errors import NotEnoughLabeledSamples
from modelworks.intelligence._requests import invalid, unsupported
from modelworks.intelligence._run import Run
from modelworks.intelligence._samples import load_samples, read_contents
from modelworks.intelligence.base import IntelligentTaskKind, TaskRequest
from modelworks.intelligence.compute import ExecutorCompute, embedders
from modelworks.intelligence.labels import write_attribute
from modelworks.jobs import TaskContext
from modelworks.ml.pipeline import auto_group
from modelworks.storage import ObsPath, parse_obs_path

GROUPING_TYPES = (IMAGE_CLASSIFICATION, OBJECT_DETECTION)
MEASURE_FLAGS = ("ambiguity", "image_brightness", "image_colorfulness")
"""Config flags that add a measure to the embeddings."""

# Share of the progress bar per stage of a run.
STAGES = {
    "init": (0, 2),
    "load": (2, 10),
    "features": (10, 85),
    "grouping": (85, 92),
    "write": (92, 100),
}


class AutoGroupingTask(IntelligentTaskKind):
    """Clusters of images, saved to storage or to a sample attribute."""

    type_number = 2

    def prepare(self, request: TaskRequest) -> None:
        if request.dataset.dataset_type not in GROUPING_TYPES:
            raise unsupported("auto grouping", "image")
        config = request.config
        config["n_clusters"] = config.get("n_clusters") or 10
        for flag in MEASURE_FLAGS:
            config[flag] = bool(config.get(flag))
        result_type = config.get("result_type")
        if result_type is None:
            result_type = request.body.get("export_type")  # the seed's legacy grouping body
        result_type = 1 if result_type is None else int(result_type)
        config["result_type"] = result_type
        prop = config.get("property")
        if result_type == 1 and (not prop or not prop.strip() or prop.startswith("@modelarts:")):
            raise invalid(
                "is required to save groups to samples (a sample attribute name)", "config.property"
            )
        request.payload.update(
            n_clusters=config["n_clusters"],
            measures=[flag for flag in MEASURE_FLAGS if config[flag]],
            result_type=result_type,
            property=prop,
        )

    def export_type(self, config: dict[str, Any]) -> int:
        """``result_type``: 0 storage, 1 sample attributes."""
        return int(config.get("result_type") or 0)

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        payload = ctx.payload
        run = Run(ctx, STAGES)
        run.stage("init")
        dataset, labeled, targets = load_samples(ctx, payload["dataset_id"], payload.get("sample_ids") or [])
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
        content = read_contents(ctx, run, dataset, items)
        embedder, cache, parts = embedders(ctx, dataset.dataset_type)
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
            by_id = {item.sample_id: str(int(g)) for item, g in zip(items, groups, strict=True)}
            write_attribute(ctx, by_id, prop)
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


def _grouping_path(dataset: Dataset, task_id: str) -> ObsPath:
    base = parse_obs_path(inner_paths(dataset)["inner_annotation_path"]).as_dir()
    return base.join(f"auto-grouping/{task_id}/result.jsonl")
