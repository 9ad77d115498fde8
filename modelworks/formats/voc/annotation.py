"""PASCAL VOC annotation files: parsing one into labels, and writing one from a record.

The manifest format reads and writes the same files (``annotation-loc``), so both live here.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from modelworks.formats.base import Annotation
from modelworks.formats.common import FEATURE, SHAPE, number, parse_bool, points_outside, tidy

# VOC object flags kept in the label's property so a round trip gives them back; only a set flag is
# kept (a 0 is VOC's default and is written back as 0).
FLAGS = ("truncated", "difficult", "occluded")
_FLAG_KEYS = tuple((flag, f"@modelarts:{flag}") for flag in FLAGS)
_TRUNCATED, _DIFFICULT, _OCCLUDED = (key for _, key in _FLAG_KEYS)
POSE = "@modelarts:pose"
MASK_COLOR = "@modelarts:mask_color"
_SHAPES = ("bndbox", "polygon", "point", "line", "circle", "polyline", "dashed")
# Only encodings in which "<!DOCTYPE" is spelled in plain ASCII bytes: for those the check below is
# sound. Multi-byte encodings other than UTF-8 cannot be parsed by ElementTree anyway.
_ENCODINGS = frozenset({"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1"})
_DECLARATION_RE = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_INDEX_RE = re.compile(r"([xy])(\d*)$")


class VocError(ValueError):
    """A VOC file that cannot be used; the message is the reason reported to the user."""


@dataclass
class VocDocument:
    filename: str
    size: tuple[int, int, int] | None
    annotations: list[Annotation] = field(default_factory=list)


def _check_safe(data: bytes) -> None:
    """Refuse what could make the parser expand entities or fetch anything: any DTD at all.

    VOC files never carry a DOCTYPE, so forbidding it costs nothing and rules out entity tricks."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4]:
        raise VocError("not UTF-8 XML (UTF-16/32 is not supported)")
    declared = _DECLARATION_RE.match(data[:200])
    if declared and declared.group(1).decode().lower() not in _ENCODINGS:
        raise VocError(f"unsupported XML encoding {declared.group(1).decode()!r}")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise VocError("XML with a DOCTYPE or entities is refused")


def _fields(element: ET.Element) -> dict[str, str]:
    """Child tag -> stripped text (the first child of each tag), read in one pass."""
    # Built backwards so that the first child of a tag is the one that stays.
    return {child.tag: (child.text or "").strip() for child in reversed(element)}


def _number(fields: dict[str, str], tag: str, where: str) -> int | float:
    text = fields.get(tag)
    if not text:
        raise VocError(f"<{where}> has no <{tag}>")
    try:
        return number(text)
    except ValueError as exc:
        raise VocError(f"<{where}><{tag}> is not a number: {text!r}") from exc


def _points(fields: dict[str, str], where: str) -> list[list[int | float]]:
    """``x1, y1, x2, y2 ...`` (or ``x, y`` for a point), in index order."""
    xs: dict[int, int | float] = {}
    ys: dict[int, int | float] = {}
    for tag in fields:
        match = _INDEX_RE.match(tag)
        if match is not None:
            (xs if match.group(1) == "x" else ys)[int(match.group(2) or 1)] = _number(fields, tag, where)
    if not xs or sorted(xs) != sorted(ys):
        raise VocError(f"<{where}> has unmatched or missing x/y points")
    return [[xs[i], ys[i]] for i in sorted(xs)]


def _shape(element: ET.Element, width: int, height: int) -> tuple[str, list[Any]]:
    shape, fields = element.tag, _fields(element)
    if shape == "bndbox":
        xmin, ymin = _number(fields, "xmin", shape), _number(fields, "ymin", shape)
        xmax, ymax = _number(fields, "xmax", shape), _number(fields, "ymax", shape)
        if xmin > xmax or ymin > ymax:
            raise VocError(f"box ({xmin}, {ymin}, {xmax}, {ymax}) has xmin > xmax or ymin > ymax")
        feature: list[Any] = [[xmin, ymin], [xmax, ymax]]
        if width > 0 and height > 0 and (xmax > width or ymax > height or xmin < 0 or ymin < 0):
            raise VocError(f"box ({xmin}, {ymin}, {xmax}, {ymax}) lies outside the {width}x{height} image")
        return shape, feature
    if shape == "circle":
        cx, cy, r = (_number(fields, tag, shape) for tag in ("cx", "cy", "r"))
        if points_outside([[cx, cy]], width, height):
            raise VocError(f"circle centre ({cx}, {cy}) lies outside the {width}x{height} image")
        return shape, [[cx, cy], [r]]
    points = _points(fields, shape)
    if points_outside(points, width, height):
        raise VocError(f"{shape} has points outside the {width}x{height} image")
    if shape == "polygon" and len(points) < 3:
        raise VocError("polygon has fewer than 3 points")
    return shape, points


def _object(obj: ET.Element, label_type: int, width: int, height: int) -> Annotation:
    # One pass over the children: their texts (the first child of each tag) and the first shape.
    fields: dict[str, str] = {}
    element: ET.Element | None = None
    for child in obj:
        tag = child.tag
        if tag not in fields:
            fields[tag] = (child.text or "").strip()
            if element is None and tag in _SHAPES:
                element = child
    name = fields.get("name")
    if not name:
        raise VocError("object has no <name>")
    if element is None:
        raise VocError("object has no bndbox, polygon or other shape")
    shape, feature = _shape(element, width, height)
    prop: dict[str, Any] = {SHAPE: shape, FEATURE: feature}
    annotation = Annotation(name=name, type=label_type, property=prop)
    try:
        for flag, key in _FLAG_KEYS:
            value = fields.get(flag)
            if value and value != "0" and parse_bool(value):
                prop[key] = True
        if fields.get("confidence"):
            annotation.score = float(fields["confidence"])
        if fields.get("hard-coefficient"):
            annotation.hard_coefficient = float(fields["hard-coefficient"])
        if fields.get("hard"):
            annotation.hard = parse_bool(fields["hard"])
    except ValueError as exc:
        raise VocError(f"object {name!r} has a bad flag, confidence or hard-coefficient: {exc}") from exc
    pose = fields.get("pose")
    if pose and pose != "Unspecified":
        prop[POSE] = pose
    if fields.get("mask_color"):
        prop[MASK_COLOR] = fields["mask_color"]
    return annotation


def parse_voc(data: bytes, *, label_type: int = 1) -> VocDocument:
    """Parse a VOC file; raise VocError naming the reason if it is broken or a shape is invalid."""
    _check_safe(data)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise VocError(f"broken XML: {exc}") from exc
    if root.tag != "annotation":
        raise VocError(f"root element is <{root.tag}>, not <annotation>")
    filename: ET.Element | None = None
    size_element: ET.Element | None = None
    objects: list[ET.Element] = []
    for child in root:
        tag = child.tag
        if tag == "object":
            objects.append(child)
        elif tag == "size" and size_element is None:
            size_element = child
        elif tag == "filename" and filename is None:
            filename = child
    size: tuple[int, int, int] | None = None
    if size_element is not None:
        fields = _fields(size_element)
        try:
            width, height, depth = (_dimension(fields.get(k)) for k in ("width", "height", "depth"))
        except (ValueError, OverflowError) as exc:  # OverflowError: "inf"
            raise VocError(f"<size> is not numeric: {exc}") from exc
        if width > 0 and height > 0:
            size = (width, height, depth or 3)
    width, height = (size[0], size[1]) if size else (0, 0)
    document = VocDocument(filename=(filename.text or "").strip() if filename is not None else "", size=size)
    document.annotations = [_object(obj, label_type, width, height) for obj in objects]
    return document


def _dimension(text: str | None) -> int:
    if not text:
        return 0
    if len(text) < 16 and text.isascii() and text.isdigit():
        return int(text)
    return int(float(text))


# -- writing ----------------------------------------------------------------------------------------


def _coordinate(value: Any) -> str:
    return str(tidy(value)) if isinstance(value, float) else str(value)


def _shape_xml(shape: str, feature: Any) -> str:
    if shape == "bndbox":
        (xmin, ymin), (xmax, ymax) = feature
        return (
            f"<bndbox><xmin>{_coordinate(xmin)}</xmin><ymin>{_coordinate(ymin)}</ymin>"
            f"<xmax>{_coordinate(xmax)}</xmax><ymax>{_coordinate(ymax)}</ymax></bndbox>"
        )
    if shape == "circle":
        (cx, cy), (r,) = feature
        return f"<circle><cx>{_coordinate(cx)}</cx><cy>{_coordinate(cy)}</cy><r>{_coordinate(r)}</r></circle>"
    parts = "".join(
        f"<x{i}>{_coordinate(x)}</x{i}><y{i}>{_coordinate(y)}</y{i}>" for i, (x, y) in enumerate(feature, 1)
    )
    return f"<{shape}>{parts}</{shape}>"


@functools.lru_cache(maxsize=1024)
def _escaped(text: str) -> str:
    """``escape`` for the label names and poses that every file repeats."""
    return escape(text)


def object_xml(annotation: Annotation) -> str | None:
    """One ``<object>`` in the standard VOC element order, or None for a label with no shape."""
    prop = annotation.property
    shape = prop.get(SHAPE)
    feature = prop.get(FEATURE)
    if shape not in _SHAPES or not feature:
        return None
    pose = prop.get(POSE)
    xml = (
        f"<object><name>{_escaped(annotation.name)}</name>"
        f"<pose>{_escaped(str(pose)) if pose else 'Unspecified'}</pose>"
        f"<truncated>{1 if prop.get(_TRUNCATED) else 0}</truncated>"
        f"<difficult>{1 if prop.get(_DIFFICULT) else 0}</difficult>"
        f"<occluded>{1 if prop.get(_OCCLUDED) else 0}</occluded>"
    )
    if annotation.score is not None:
        xml += f"<confidence>{annotation.score}</confidence>"
    if annotation.hard is not None:
        xml += f"<hard>{'true' if annotation.hard else 'false'}</hard>"
    if annotation.hard_coefficient is not None:
        xml += f"<hard-coefficient>{annotation.hard_coefficient}</hard-coefficient>"
    if prop.get(MASK_COLOR):
        xml += f"<mask_color>{escape(str(prop[MASK_COLOR]))}</mask_color>"
    return f"{xml}{_shape_xml(shape, feature)}</object>"


def voc_xml(
    *, folder: str, filename: str, size: tuple[int, int, int] | None, annotations: list[Annotation]
) -> bytes:
    """A VOC annotation file: folder, filename, source, size, segmented, then the objects."""
    width, height, depth = size or (0, 0, 3)
    objects = [xml for xml in map(object_xml, annotations) if xml is not None]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<annotation>'
        f"<folder>{escape(folder)}</folder><filename>{escape(filename)}</filename>"
        "<source><database>Unknown</database></source>"
        f"<size><width>{width}</width><height>{height}</height><depth>{depth}</depth></size>"
        f"<segmented>0</segmented>{''.join(objects)}</annotation>\n"
    ).encode()
