"""The fields of a SearchCondition (reference 16.1.58's table), each defined once.

One reader per field in ``condition_fields``: it reads the field's value from a condition (refusing a
malformed one) and answers a ``Match`` holding what the field selects, as SQL over the samples table
and, for the fields a sample read back from a version's manifest carries, as a test of such a
sample. ``search`` combines the matches; no other module spells out what a field means.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import aliased

from modelworks.data._sample_filters import (
    any_op,
    labels_matching,
    object_of,
    parse_range,
    sample_time_filter,
    score_filter,
    text_of,
    values_of,
)
from modelworks.data.tables import Sample, SampleLabel
from modelworks.errors import InvalidArgument
from modelworks.registry import Registry


class SearchedLabel(Protocol):
    """A label of a sample held outside the database (``formats.Annotation`` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> int: ...
    @property
    def score(self) -> float | None: ...
    @property
    def annotated_by(self) -> str: ...
    @property  # last: from here on ``property`` names this attribute in the class body
    def property(self) -> dict[str, Any]: ...


class SearchedSample(Protocol):
    """A sample held outside the database (``formats.Record``, read back from a version's manifest)."""

    @property
    def name(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def hard(self) -> bool | None: ...
    @property
    def hard_coefficient(self) -> float | None: ...
    @property
    def annotations(self) -> Sequence[SearchedLabel]: ...


SampleTest = Callable[[SearchedSample], bool]


@dataclass(frozen=True)
class Match:
    """What one field of one search condition selects."""

    sql: ColumnElement[bool]
    """The samples it selects, as a condition on the samples table."""
    test: SampleTest | None = None
    """The same selection as a test of a ``SearchedSample``; None for a field such samples lack."""


@dataclass(frozen=True)
class ConditionField:
    """One field of a SearchCondition."""

    read: Callable[[dict[str, Any], str, str | None], Match | None]
    """Called with one condition (an object), its path for messages (``search_conditions[0]``) and
    the dataset the query is scoped to (None: unscoped, label conditions become correlated EXISTS):
    the field's Match, or None where the condition leaves the field out. Raises ``InvalidArgument``
    naming ``<path>.<key>`` for a malformed value."""
    in_manifests: bool = False
    """Whether a sample read back from a version's manifest carries what the field looks at: the
    field's Match then always has a ``test``."""


condition_fields: Registry[ConditionField] = Registry("search condition field")


# -- labels ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _WantedLabel:
    """One item of ``label_list.labels``: a name, a type and properties a label must have."""

    name: str | None
    type: int | None
    properties: dict[str, list[str] | None]
    """Property -> the values it may have (None: any value, as long as the property is there)."""
    any_property: bool

    @classmethod
    def read(cls, raw: Any, field: str) -> _WantedLabel:
        raw = object_of(raw, field)
        name = text_of(raw, "name", field)
        label_type = raw.get("type")
        if label_type is not None and (
            isinstance(label_type, bool) or not isinstance(label_type, int) or not 0 <= label_type < 2**31
        ):
            raise InvalidArgument("must be a label type (an integer)", field=f"{field}.type")
        props = raw.get("property") or {}
        if not isinstance(props, dict):
            raise InvalidArgument("must be an object", field=f"{field}.property")
        properties = {
            key: None if values is None else values_of(values, f"{field}.property.{key}")
            for key, values in props.items()
        }
        return cls(name, label_type, properties, bool(properties) and any_op(raw, field))

    def sql(self, dataset_id: str | None) -> ColumnElement[bool]:
        label = aliased(SampleLabel)
        where: list[ColumnElement[bool]] = []
        if self.name is not None:
            where.append(label.name == self.name)
        if self.type is not None:
            where.append(label.type == self.type)
        props = [
            label.property[key].as_string().is_not(None)
            if values is None
            else or_(*[label.property[key].as_string() == v for v in values])
            for key, values in self.properties.items()
        ]
        if props:
            where.append(or_(*props) if self.any_property else and_(*props))
        return labels_matching(label, where, dataset_id)

    def held_by(self, label: SearchedLabel) -> bool:
        if self.name is not None and label.name != self.name:
            return False
        if self.type is not None and label.type != self.type:
            return False
        checks = [
            key in label.property if values is None else str(label.property.get(key)) in values
            for key, values in self.properties.items()
        ]
        if not checks:
            return True
        return any(checks) if self.any_property else all(checks)


def _label_list(raw: dict[str, Any], field: str, dataset_id: str | None) -> Match | None:
    label_list = raw.get("label_list")
    if not label_list:
        return None
    items = label_list.get("labels") if isinstance(label_list, dict) else None
    if not isinstance(items, list):
        raise InvalidArgument("must be an object with 'labels'", field=f"{field}.label_list")
    wanted = [_WantedLabel.read(item, f"{field}.label_list.labels[{i}]") for i, item in enumerate(items)]
    parts = [w.sql(dataset_id) for w in wanted]
    either = any_op(label_list, f"{field}.label_list")

    def test(sample: SearchedSample) -> bool:
        found = (any(w.held_by(label) for label in sample.annotations) for w in wanted)
        return any(found) if either else all(found)

    return Match(or_(*parts) if either else and_(*parts), test)


def _labeler(raw: dict[str, Any], field: str, dataset_id: str | None) -> Match | None:
    labeler = text_of(raw, "labeler", field)
    if labeler is None:
        return None
    label = aliased(SampleLabel)
    return Match(
        or_(Sample.labeler == labeler, labels_matching(label, [label.labeler == labeler], dataset_id))
    )


def _score(raw: dict[str, Any], field: str, dataset_id: str | None) -> Match | None:
    score = text_of(raw, "score", field)
    if score is None:
        return None
    low, high = parse_range(score, f"{field}.score")
    return Match(
        score_filter(low, high, dataset_id),
        lambda s: any(a.score is not None and low <= a.score <= high for a in s.annotations),
    )


# -- the sample's own fields -------------------------------------------------------------------------


def _sample_name(raw: dict[str, Any], field: str, dataset_id: str | None) -> Match | None:
    name = text_of(raw, "sample_name", field)
    if name is None:
        return None
    return Match(Sample.name == name, lambda s: s.name == name)


def _directory_of(source: str) -> str:
    """A sample's ``sample_dir`` from its source (``/bucket/dir/file#line`` -> ``/bucket/dir/``)."""
    return source.split("#", 1)[0].rpartition("/")[0] + "/"


def _sample_dir(raw: dict[str, Any], field: str, dataset_id: str | None) -> Match | None:
    sample_dir = text_of(raw, "sample_dir", field)
    if sample_dir is None:
        return None
    return Match(Sample.sample_dir == sample_dir, lambda s: _directory_of(s.source) == sample_dir)


def _sample_time(raw: dict[str, Any], field: str, dataset_id: str | None) -> Match | None:
    sample_time = text_of(raw, "sample_time", field)
    if sample_time is None:
        return None
    return Match(sample_time_filter(sample_time, f"{field}.sample_time"))


def _hard(raw: dict[str, Any], field: str, dataset_id: str | None) -> Match | None:
    value = raw.get("hard")
    text = str(value) if isinstance(value, bool) else text_of(raw, "hard", field)
    if text is None:
        return None
    hard = text.lower() in ("1", "true")
    return Match(Sample.hard == (1 if hard else 0), lambda s: bool(s.hard) == hard)


def _coefficient(raw: dict[str, Any], field: str, dataset_id: str | None) -> Match | None:
    coefficient = text_of(raw, "coefficient", field)
    if coefficient is None:
        return None
    low, high = parse_range(coefficient, f"{field}.coefficient")
    return Match(
        Sample.hard_coefficient.between(low, high),
        lambda s: s.hard_coefficient is not None and low <= s.hard_coefficient <= high,
    )


def _metadata_equals(
    key: str, meta_key: str | None = None
) -> Callable[[dict[str, Any], str, str | None], Match | None]:
    """The reader of a field that compares the sample's metadata entry ``meta_key`` (the field's own
    name by default) with a text."""
    entry = meta_key or key

    def read(raw: dict[str, Any], field: str, dataset_id: str | None) -> Match | None:
        value = text_of(raw, key, field)
        if value is None:
            return None
        return Match(Sample.meta[entry].as_string() == value)

    return read


def _metadata(raw: dict[str, Any], field: str, dataset_id: str | None) -> Match | None:
    metadata = raw.get("metadata")
    if not metadata:
        return None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("props") or {}, dict):
        raise InvalidArgument("must be an object with 'props'", field=f"{field}.metadata")
    parts = [
        or_(*[Sample.meta[k].as_string() == v for v in values_of(vals, f"{field}.metadata.props.{k}")])
        if vals
        else Sample.meta[k].is_not(None)
        for k, vals in (metadata.get("props") or {}).items()
    ]
    if not parts:
        return None
    return Match(or_(*parts) if any_op(metadata, f"{field}.metadata") else and_(*parts))


# In the order a condition's fields are read (the first malformed one is the one reported).
condition_fields.register("label_list", ConditionField(_label_list, in_manifests=True))
condition_fields.register("labeler", ConditionField(_labeler))
condition_fields.register("sample_name", ConditionField(_sample_name, in_manifests=True))
condition_fields.register("sample_dir", ConditionField(_sample_dir, in_manifests=True))
condition_fields.register("sample_time", ConditionField(_sample_time))
condition_fields.register("score", ConditionField(_score, in_manifests=True))
condition_fields.register("hard", ConditionField(_hard, in_manifests=True))
condition_fields.register("coefficient", ConditionField(_coefficient, in_manifests=True))
condition_fields.register(
    "import_origin", ConditionField(_metadata_equals("import_origin", "@modelarts:import_origin"))
)
condition_fields.register("parent_sample_id", ConditionField(_metadata_equals("parent_sample_id")))
condition_fields.register("kvp", ConditionField(_metadata_equals("kvp")))
condition_fields.register("slice_thickness", ConditionField(_metadata_equals("slice_thickness")))
condition_fields.register("study_date", ConditionField(_metadata_equals("study_date")))
condition_fields.register("time_in_video", ConditionField(_metadata_equals("time_in_video")))
condition_fields.register("frame_in_video", ConditionField(_metadata_equals("frame_in_video")))
condition_fields.register("metadata", ConditionField(_metadata))
