"""Steps a stream of records passes through on its way into an export or a version: ``mapped``
applies them; ``clear_hard`` drops hard-example attributes; ``UsageSplit`` assigns TRAIN/EVAL."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import ColumnElement, exists
from sqlalchemy.orm import aliased

from modelworks.data.tables import Sample, SampleLabel
from modelworks.errors import InvalidArgument
from modelworks.formats import Record

HARD_KEYS = ("@modelarts:hard", "@modelarts:hard_coefficient", "@modelarts:hard_reasons")


def mapped(records: Iterable[Record], *steps: Callable[[Record], Record | None]) -> Iterator[Record]:
    """Apply each step in turn; a step answering None drops the record."""
    for record in records:
        current: Record | None = record
        for step in steps:
            if current is None:
                break
            current = step(current)
        if current is not None:
            yield current


def clear_hard(record: Record) -> Record:
    """The record without hard-example attributes (``clear_hard_property``)."""
    record.hard = record.hard_coefficient = record.hard_reasons = None
    for annotation in record.annotations:
        annotation.hard = annotation.hard_coefficient = None
        annotation.property = {k: v for k, v in annotation.property.items() if k not in HARD_KEYS}
    return record


# -- train/validation split --------------------------------------------------------------------------


def labeled() -> ColumnElement[bool]:
    """Samples with at least one label: the ones a train/validation split assigns. (A correlated
    EXISTS on purpose: as an IN, SQLite would build the list of every labeled sample first.)"""
    label = aliased(SampleLabel)
    return exists().where(label.sample_id == Sample.id)


def parse_ratio(value: Any, field: str) -> float:
    try:
        ratio = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument('must be a number from 0 to 1, like "0.8"', field=field) from exc
    if not 0.0 <= ratio <= 1.0:
        raise InvalidArgument('must be a number from 0 to 1, like "0.8"', field=field)
    return ratio


class UsageSplit:
    """Gives labeled records TRAIN or EVAL: exactly ``round(ratio * labeled)`` of the first ``labeled``
    labeled records are TRAIN, chosen by a shuffle seeded with ``seed`` (a retried task splits the
    same way). With ``keep_existing`` a record that has a usage keeps it and is not counted;
    otherwise unlabeled records lose theirs."""

    def __init__(self, ratio: float, labeled: int, seed: str, *, keep_existing: bool = False):
        self.ratio = ratio
        self.labeled = labeled
        self.keep_existing = keep_existing
        self._rng = random.Random(seed)
        self._train = set(self._rng.sample(range(labeled), round(ratio * labeled)))
        self._index = 0

    def __call__(self, record: Record) -> Record:
        if self.keep_existing and record.usage:
            return record
        if not record.annotations:
            if not self.keep_existing:
                record.usage = None
            return record
        i, self._index = self._index, self._index + 1
        train = i in self._train if i < self.labeled else self._rng.random() < self.ratio
        record.usage = "TRAIN" if train else "EVAL"
        return record
