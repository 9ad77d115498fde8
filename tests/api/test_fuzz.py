"""A bounded property-based fuzz of every operation in ``/openapi.json`` (see ``_fuzz.py``): the
reference's examples plus three requests that fit the schema and three that do not, per operation.
``scripts/fuzz.py`` runs the same with many more."""

from __future__ import annotations

from pathlib import Path

from tests.api._fuzz import Target, fuzz
from tests.conftest import run_server

EXAMPLES_PER_MODE = 3


def test_no_operation_answers_5xx_and_every_4xx_is_the_envelope(tmp_path: Path) -> None:
    # No worker: a request that happens to be a valid training job or task stays queued.
    with run_server(tmp_path / "home", embedded_worker=False) as live:
        client = live.token_client()
        (live.storage_root / "fuzz" / "in").mkdir(parents=True)
        created = client.post(
            "/v2/{project_id}/datasets",
            {
                "dataset_name": "fuzzed",
                "dataset_type": 0,
                "data_sources": [{"data_path": "/fuzz/in/"}],
                "work_path": "/fuzz/out/",
                "work_path_type": 0,
            },
        )
        assert created.status_code == 201, created.text
        target = Target(
            live.endpoint,
            str(client.http.headers["X-Auth-Token"]),
            live.credentials["project_id"],
            created.json()["dataset_id"],
        )
        report = fuzz(target, EXAMPLES_PER_MODE)
    print(report.summary())
    assert report.operations >= 209
    assert report.server_errors == [] and report.bad_envelopes == [], report.summary()
