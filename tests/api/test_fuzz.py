"""A bounded property-based fuzz of every operation in ``/openapi.json`` (see ``_fuzz.py``): the
reference's examples plus three requests that fit the schema and three that do not, per operation.
``scripts/fuzz.py`` runs the same with many more."""

from __future__ import annotations

from pathlib import Path

from tests.api._fuzz import fuzz, target_of
from tests.conftest import run_server

EXAMPLES_PER_MODE = 3


def test_no_operation_answers_5xx_and_every_4xx_is_the_envelope(tmp_path: Path) -> None:
    # No worker: a request that happens to be a valid training job or task stays queued.
    with run_server(tmp_path / "home", embedded_worker=False) as live:
        target = target_of(live)
        report = fuzz(target, EXAMPLES_PER_MODE)
    print(report.summary())
    assert report.operations >= 209
    assert report.server_errors == [] and report.bad_envelopes == [], report.summary()
