"""The built-in object detection algorithm, run by ``boot/object_detection.py`` in a training job.

It is listed so that jobs can name it, but it trains only once ``modelworks.ml.detection`` offers a
detector that can be trained once and saved into a model package (``export_detector``; ``auto_detect``
trains and predicts in one call and keeps nothing); until then a job reads and checks its input, then
ends Failed with a message that says so.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from modelworks.training.builtin._job import InputError, parse_arguments, read_input, run, say

PARAMETERS = {"eval_ratio": float}
DETECTOR = ("modelworks.ml.detection", "export_detector")
"""Where the trained detector this algorithm wraps must come from."""


def detector_available() -> bool:
    """Whether ``DETECTOR`` can be imported (the catalog's ``is_valid`` checks the same)."""
    module_name, attribute = DETECTOR
    try:
        return hasattr(importlib.import_module(module_name), attribute)
    except ImportError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    return run(_train, argv)


def _train(argv: Sequence[str] | None) -> None:
    args = parse_arguments(argv, PARAMETERS)
    samples = read_input(args.data_url, folders=False)
    boxed = [
        s
        for s in samples
        if any("annotation-loc" in a or "property" in a for a in s.line.get("annotation") or [])
    ]
    say(f"{len(samples)} images, {len(boxed)} with boxes")
    if not detector_available():
        raise InputError(
            "the built-in object detection algorithm cannot train in this Modelworks installation: "
            f"{'.'.join(DETECTOR)} (the detector it trains) is not available yet; use a custom algorithm "
            "(code_dir and boot_file) for detection"
        )
    raise InputError(
        f"{'.'.join(DETECTOR)} is installed but this version of the built-in algorithm does not use it yet"
    )
