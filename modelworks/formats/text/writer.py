"""Text classification writer: ``<dest>/<name>.txt`` with ``text<sep>labels`` lines (label type "1",
the default) or texts plus ``<name>_result.txt`` of labels (label type "0")."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar

from modelworks.formats.base import Exporter, ExportSummary, Record
from modelworks.formats.common import CONTENT_SCHEME, SpooledObject
from modelworks.formats.text._label_format import RESULT_SUFFIX, LabelFormat
from modelworks.storage import ObjectStore, ObsPath

_LINE_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def sample_text(record: Record) -> str | None:
    """The record's text on one line: a sample is a line, so line breaks inside it become spaces."""
    text = record.text
    if text is None and record.source.startswith(CONTENT_SCHEME):
        text = record.source[len(CONTENT_SCHEME) :]
    return None if text is None else _LINE_BREAKS.sub(" ", text)


class TextExporter(Exporter):
    name: ClassVar[str] = "text"
    dataset_types: ClassVar[frozenset[int]] = frozenset({100})

    def export(
        self,
        store: ObjectStore,
        records: Iterable[Record],
        dest: ObsPath,
        *,
        dataset_type: int,
        labels: list[dict[str, Any]],
        options: dict[str, Any],
    ) -> ExportSummary:
        """Records without text are left out."""
        dest = dest.as_dir()
        fmt = LabelFormat.from_options(options, default_type="1")
        separate = fmt.label_type == "0"
        stem = str(options.get("name") or "text")
        summary = ExportSummary()
        with SpooledObject() as texts, SpooledObject() as results:
            for record in records:
                text = sample_text(record)
                if text is None:
                    continue
                names = fmt.label_separator.join(dict.fromkeys(a.name for a in record.annotations))
                if separate:
                    texts.write(f"{text}\n".encode())
                    results.write(f"{names}\n".encode())
                else:
                    # The separator goes in even without labels, so a text holding one reads back whole.
                    texts.write(f"{text}{fmt.sample_separator}{names}\n".encode())
                summary.samples += 1
            texts.publish(store, dest.join(stem + ".txt"))
            summary.wrote_index(dest.join(stem + ".txt"))
            if separate:
                results.publish(store, dest.join(stem + RESULT_SUFFIX))
                summary.wrote_index(dest.join(stem + RESULT_SUFFIX))
        return summary
