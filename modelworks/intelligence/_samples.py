"""The samples an intelligent task reads: the human-labeled ones and the ones to act on, and their
content (image bytes, texts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from modelworks.data.constants import STATUS_AUTO, STATUS_MANUAL, STATUS_UNLABELED, TEXT_CLASSIFICATION
from modelworks.data.tables import Dataset, Sample, SampleLabel
from modelworks.errors import DatasetNotFound
from modelworks.intelligence._run import Run
from modelworks.jobs import TaskContext
from modelworks.storage import parse_obs_path


@dataclass
class Item:
    sample_id: str
    source: str
    text: str | None
    size: Any = None
    labels: list[SampleLabel] = field(default_factory=list)


def read_contents(ctx: TaskContext, run: Run, dataset: Dataset, items: list[Item]) -> list[Any]:
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


def load_samples(
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
