"""The typed contract of the data operations (datasets, samples, labels, versions) over HTTP, signed
like the official SDK: malformed input is a 400 envelope naming the field, never a 500 or a silent
store; and ``search_conditions[].sample_time`` in the reference's ``yyyyMMdd-yyyyMMdd`` form."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests._client import SignedClient
from tests.conftest import LiveServer, run_server, wait_for
from tests.data._assets import image_bytes, write_classification_folder

DS = "/v2/{project_id}/datasets"
HUGE = "1180591620717411303424"  # 2**70


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with run_server(tmp_path_factory.mktemp("contract") / "home") as server:
        yield server


@pytest.fixture(scope="module")
def dataset(live: LiveServer) -> str:
    """An image-classification dataset of 3 imported samples labeled rose or tulip."""
    write_classification_folder(live.storage_root / "bucket" / "flowers", {"rose": 2, "tulip": 1})
    client = live.signed()
    created = client.post(
        DS,
        {
            "dataset_name": "contract",
            "dataset_type": 0,
            "data_sources": [{"data_type": 0, "data_path": "/bucket/flowers/"}],
            "work_path": "/bucket/output/",
            "work_path_type": 0,
        },
    )
    assert created.status_code == 201, created.text
    dataset_id = str(created.json()["dataset_id"])

    def imported() -> bool:
        tasks = client.get(f"{DS}/{dataset_id}/import-tasks").json()["import_tasks"]
        return bool(tasks) and tasks[0]["status"] == "COMPLETED"

    wait_for(imported)
    return dataset_id


def _refused(response: httpx.Response, field: str) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"].startswith("ModelArts."), body
    assert body["error_msg"].startswith(f"{field}: "), body
    return str(body["error_msg"])


def _samples(client: SignedClient, dataset_id: str, **query: Any) -> dict[str, Any]:
    response = client.get(f"{DS}/{dataset_id}/data-annotations/samples", **query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_offset_beyond_64_bits_is_a_400_naming_offset(live: LiveServer, dataset: str) -> None:
    client = live.signed()
    _refused(client.get(DS, offset=HUGE), "offset")
    _refused(client.get(f"{DS}/{dataset}/data-annotations/samples", offset=HUGE), "offset")
    _refused(client.get(f"{DS}/{dataset}/data-annotations/labels", offset=HUGE), "offset")
    _refused(client.get(f"{DS}/{dataset}/versions", offset=HUGE), "offset")
    # the connection is still usable afterwards, and a sane offset still pages
    assert client.get(DS, offset=0).json()["total_number"] == 1


@pytest.mark.parametrize("label_type", [[1, 2], "zero", 5, 2**70, 1])
def test_a_sample_label_type_that_is_not_an_image_classification_type_is_refused(
    live: LiveServer, dataset: str, label_type: Any
) -> None:
    client = live.signed()
    sample = _samples(client, dataset, label_name="rose", limit=1)["samples"][0]
    response = client.put(
        f"{DS}/{dataset}/data-annotations/samples",
        {"samples": [{"sample_id": sample["sample_id"], "labels": [{"name": "rose", "type": label_type}]}]},
    )
    _refused(response, "samples[0].labels[0].type")
    after = client.get(f"{DS}/{dataset}/data-annotations/samples/{sample['sample_id']}").json()
    assert [(x["name"], x["type"]) for x in after["labels"]] == [("rose", 0)]
    assert after["sample_version"] == sample["sample_version"]


def test_a_sample_label_of_the_dataset_type_is_stored(live: LiveServer, dataset: str) -> None:
    client = live.signed()
    sample = _samples(client, dataset, label_name="tulip", limit=1)["samples"][0]
    response = client.put(
        f"{DS}/{dataset}/data-annotations/samples",
        {
            "samples": [
                {
                    "sample_id": sample["sample_id"],
                    "sample_version": sample["sample_version"],
                    "labels": [{"name": "tulip", "type": 0}],
                }
            ]
        },
    )
    assert response.status_code == 200 and response.json()["success"], response.text


def test_a_non_integer_sample_version_is_a_400_not_a_conflict(live: LiveServer, dataset: str) -> None:
    client = live.signed()
    sample = _samples(client, dataset, limit=1)["samples"][0]
    response = client.put(
        f"{DS}/{dataset}/data-annotations/samples",
        {"samples": [{"sample_id": sample["sample_id"], "sample_version": "abc", "labels": []}]},
    )
    _refused(response, "samples[0].sample_version")


def _create(client: SignedClient, **changes: Any) -> httpx.Response:
    body = {
        "dataset_name": "refused",
        "dataset_type": 0,
        "data_sources": [{"data_type": 0, "data_path": "/bucket/flowers/"}],
        "work_path": "/bucket/output/",
        "work_path_type": 0,
        **changes,
    }
    return client.post(DS, body)


def test_data_sources_given_as_a_string_is_refused_as_not_an_array(live: LiveServer, dataset: str) -> None:
    message = _refused(_create(live.signed(), data_sources="/bucket/dir/"), "data_sources")
    assert "array" in message


@pytest.mark.parametrize("dataset_type", [[], {}, 7, "image"])
def test_an_unknown_or_unhashable_dataset_type_is_a_400(
    live: LiveServer, dataset: str, dataset_type: Any
) -> None:
    client = live.signed()
    _refused(_create(client, dataset_type=dataset_type), "dataset_type")
    _refused(client.get(DS, dataset_type=7), "dataset_type")
    assert client.get(DS).json()["total_number"] == 1


def _search(client: SignedClient, dataset_id: str, **condition: Any) -> httpx.Response:
    return client.get(
        f"{DS}/{dataset_id}/data-annotations/samples", search_conditions=json.dumps([condition])
    )


def test_sample_time_as_a_day_range_matches_the_samples_of_those_days(live: LiveServer, dataset: str) -> None:
    client = live.signed()
    times = [s["sample_time"] for s in _samples(client, dataset, limit=100)["samples"]]
    assert len(times) == 3
    day = datetime.fromtimestamp(min(times) / 1000, UTC)
    last = datetime.fromtimestamp(max(times) / 1000, UTC)

    def span(first: datetime, end: datetime) -> str:
        return f"{first:%Y%m%d}-{end:%Y%m%d}"

    found = _search(client, dataset, sample_time=span(day, last)).json()
    assert found["sample_count"] == 3
    # a range of whole days, the last included
    assert (
        _search(client, dataset, sample_time=span(day - timedelta(days=30), last)).json()["sample_count"] == 3
    )
    earlier = span(day - timedelta(days=40), day - timedelta(days=10))
    assert _search(client, dataset, sample_time=earlier).json()["sample_count"] == 0
    # the millisecond form still works
    assert _search(client, dataset, sample_time=f"{min(times)}-{max(times)}").json()["sample_count"] == 3
    assert (
        _search(client, dataset, sample_time=f"{max(times) + 1}-{max(times) + 2}").json()["sample_count"] == 0
    )
    # and so do the named periods
    assert _search(client, dataset, sample_time="month").json()["sample_count"] == 3


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        ({"sample_time": "20261301-20261302"}, "search_conditions[0].sample_time"),
        ({"sample_time": "20261231-20261201"}, "search_conditions[0].sample_time"),
        ({"sample_time": "1e400"}, "search_conditions[0].sample_time"),
        ({"sample_time": "99999999999999999999999-1"}, "search_conditions[0].sample_time"),
        ({"labeler": {"a": 1}}, "search_conditions[0].labeler"),
        ({"label_list": {"labels": [{"type": "abc"}]}}, "search_conditions[0].label_list.labels[0].type"),
        (
            {"label_list": {"labels": [{"property": {"@modelarts:color": {"x": 1}}}]}},
            "search_conditions[0].label_list.labels[0].property.@modelarts:color",
        ),
        ({"label_list": {"labels": [{"name": "rose"}], "op": ["OR"]}}, "search_conditions[0].label_list.op"),
    ],
)
def test_malformed_search_conditions_are_a_400_naming_the_field(
    live: LiveServer, dataset: str, condition: dict[str, Any], field: str
) -> None:
    _refused(_search(live.signed(), dataset, **condition), field)


def test_labels_batch_refuses_an_unknown_label_type(live: LiveServer, dataset: str) -> None:
    client = live.signed()
    response = client.post(
        f"{DS}/{dataset}/data-annotations/labels", {"labels": [{"name": "daisy", "type": "zero"}]}
    )
    _refused(response, "labels[0].type")
    # a known type that does not fit the dataset is that item's own failure
    mixed = client.post(
        f"{DS}/{dataset}/data-annotations/labels",
        {"labels": [{"name": "daisy", "type": 0}, {"name": "box", "type": 1}]},
    ).json()
    assert [r["success"] for r in mixed["results"]] == [True, False]
    assert "labels[1].type" in mixed["results"][1]["error_msg"]
    names = [x["name"] for x in client.get(f"{DS}/{dataset}/data-annotations/labels").json()["labels"]]
    assert "daisy" in names and "box" not in names


def test_version_and_delete_bodies_are_typed(live: LiveServer, dataset: str) -> None:
    client = live.signed()
    _refused(client.post(f"{DS}/{dataset}/versions", {"version_format": "Parquet"}), "version_format")
    _refused(client.post(f"{DS}/{dataset}/versions", {"export_images": "maybe"}), "export_images")
    _refused(
        client.post(f"{DS}/{dataset}/data-annotations/samples/delete", {"samples": [1, 2]}), "samples[0]"
    )
    _refused(client.put(f"{DS}/{dataset}", {"dataset_name": "bad name!"}), "dataset_name")


def test_an_uploaded_sample_with_a_label_type_of_another_dataset_kind_is_not_added(
    live: LiveServer, dataset: str
) -> None:
    client = live.signed()
    data = base64.b64encode(image_bytes(32, 24, seed=7)).decode()
    url = f"{DS}/{dataset}/data-annotations/samples"
    _refused(
        client.post(
            url, {"samples": [{"name": "x.jpg", "data": data, "labels": [{"name": "rose", "type": "zero"}]}]}
        ),
        "samples[0].labels[0].type",
    )
    answer = client.post(
        url, {"samples": [{"name": "box.jpg", "data": data, "labels": [{"name": "rose", "type": 1}]}]}
    ).json()
    assert answer["success"] is False
    assert answer["results"][0]["error_msg"].startswith("samples[0].labels[0].type: ")
    assert _samples(client, dataset)["sample_count"] == 3


def test_a_file_name_too_long_for_the_store_and_an_infinite_coefficient_are_refused(
    live: LiveServer, dataset: str
) -> None:
    client = live.signed()
    data = base64.b64encode(image_bytes(32, 24, seed=8)).decode()
    url = f"{DS}/{dataset}/data-annotations/samples"
    answer = client.post(url, {"samples": [{"name": "\u00e9" * 200 + ".jpg", "data": data}]}).json()
    assert answer["success"] is False
    assert answer["results"][0]["error_msg"].startswith("samples[0].name: ")
    sample = _samples(client, dataset, limit=1)["samples"][0]
    response = client.put(
        url,
        {
            "samples": [
                {
                    "sample_id": sample["sample_id"],
                    "labels": [],
                    "metadata": {"@modelarts:hard_coefficient": "inf"},
                }
            ]
        },
    )
    _refused(response, "samples[0].metadata.@modelarts:hard_coefficient")
