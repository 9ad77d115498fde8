"""The ``label_format`` of text classification imports and exports (separators and label type)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RESULT_SUFFIX = "_result.txt"


@dataclass(frozen=True)
class LabelFormat:
    label_type: str | None
    """"1": labels on the text's line; "0": labels in ``<name>_result.txt``; None: decide per file."""
    sample_separator: str = "\t"
    label_separator: str = ","

    @classmethod
    def from_options(cls, options: dict[str, Any], *, default_type: str | None) -> LabelFormat:
        fmt = options.get("label_format") or {}
        label_type = fmt.get("label_type")
        return cls(
            label_type=str(label_type) if label_type is not None else default_type,
            sample_separator=str(fmt.get("text_sample_separator") or "\t"),
            label_separator=str(fmt.get("text_label_separator") or ","),
        )

    def split_labels(self, text: str) -> list[str]:
        return [name.strip() for name in text.split(self.label_separator) if name.strip()]
