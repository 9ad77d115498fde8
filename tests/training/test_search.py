"""Searching training jobs (5.14): filters, sorting and paging, through the official SDK."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmodelarts.v1 import (
    Filter,
    JobActionType,
    JobAlgorithm,
    JobSearches,
    ListTrainingJobsRequest,
    ModelArtsClient,
    StopTrainingJobRequest,
)

from tests.conftest import LiveServer
from tests.training._jobs import (
    FAILING,
    QUICK,
    TICKER,
    create_job,
    details,
    job_request,
    preview,
    put_files,
    wait_phase,
)
from tests.training._sdk import build_client, call


def search(client: ModelArtsClient, **body: object) -> Any:
    return call(client, "list_training_jobs", ListTrainingJobsRequest(body=JobSearches(**body)))


def test_search_filters_sorts_and_pages(server: LiveServer, client: ModelArtsClient) -> None:
    put_files(server, "/ml/quick/", {"ok.py": QUICK, "bad.py": FAILING})
    quick = JobAlgorithm(code_dir="/ml/quick/", boot_file="/ml/quick/ok.py")
    bad = JobAlgorithm(code_dir="/ml/quick/", boot_file="/ml/quick/bad.py")
    ids = {}
    for name, algorithm in (("mnist-a", quick), ("mnist-b", bad), ("cifar-a", quick), ("mnist-c", quick)):
        ids[name] = create_job(client, job_request(name, algorithm))
        wait_phase(client, ids[name])  # one at a time, so creation times differ
    create_times = {name: details(client, job_id).metadata.create_time for name, job_id in ids.items()}

    everything = search(client)
    assert (everything.total, everything.count, everything.limit, everything.offset) == (4, 4, 10, 0)
    assert [j.metadata.name for j in everything.items] == ["mnist-c", "cifar-a", "mnist-b", "mnist-a"]
    assert (everything.sort_by, everything.order, everything.workspace_id) == ("create_time", "desc", "0")

    mnist = search(
        client, filters=[Filter(key="name", operator="like", value=["MNIST"])], sort_by="name", order="asc"
    )
    assert (mnist.total, mnist.count) == (4, 3)
    assert [j.metadata.name for j in mnist.items] == ["mnist-a", "mnist-b", "mnist-c"]

    page = search(client, filters=[Filter(key="name", operator="like", value=["mnist"])], offset=1, limit=1)
    assert page.count == 3 and [j.metadata.name for j in page.items] == ["mnist-b"]

    failed = search(client, filters=[Filter(key="phase", operator="in", value=["Failed"])])
    assert [j.metadata.name for j in failed.items] == ["mnist-b"]
    assert failed.items[0].status.task_statuses[0].exit_code == 1
    not_failed = search(client, filters=[Filter(key="phase", operator="not", value=["Failed"])])
    assert not_failed.count == 3

    window = [str(create_times["mnist-b"]), str(create_times["cifar-a"])]
    between = search(
        client, filters=[Filter(key="create_time", operator="between", value=window)], order="asc"
    )
    assert [j.metadata.name for j in between.items] == ["mnist-b", "cifar-a"]
    # Filters a console leaves empty filter nothing.
    unused = [
        Filter(key="create_time", operator="between", value=["", ""]),
        Filter(key="algorithm_name", operator="like", value=[""]),
        Filter(key="kind", operator="in", value=[]),
    ]
    assert search(client, filters=unused).count == 4

    for body, code in (
        ({"filters": [Filter(key="colour", operator="in", value=["red"])]}, "ModelArts.2807"),
        ({"filters": [Filter(key="name", operator="between", value=["a", "b"])]}, "ModelArts.2808"),
        (
            {"filters": [Filter(key="create_time", operator="between", value=["yesterday", ""])]},
            "ModelArts.2809",
        ),
        ({"sort_by": "colour"}, "ModelArts.2790"),
    ):
        with pytest.raises(ClientRequestException) as error:
            client.list_training_jobs(ListTrainingJobsRequest(body=JobSearches(**body)))
        assert (error.value.status_code, error.value.error_code) == (400, code)
    too_many = server.signed().post("/v2/{project_id}/training-job-searches", {"limit": 51})
    assert too_many.status_code == 400 and "limit" in too_many.json()["error_msg"]


def test_jobs_queue_behind_a_running_one_on_both_databases(
    server_factory: Callable[..., LiveServer], database_url: str
) -> None:
    """One worker runs one job at a time: the next waits Pending and can be terminated before it starts."""
    live = server_factory(database_url=database_url)
    client = build_client(live)
    put_files(live, "/ml/quick/", {"ok.py": QUICK, "tick.py": TICKER})
    ticking = JobAlgorithm(code_dir="/ml/quick/", boot_file="/ml/quick/tick.py")
    ticker = create_job(client, job_request("ticker", ticking))
    wait_phase(client, ticker, "Running")
    quick = JobAlgorithm(code_dir="/ml/quick/", boot_file="/ml/quick/ok.py")
    waiting = create_job(client, job_request("waiting", quick))
    status = details(client, waiting).status
    assert (status.phase, status.secondary_phase) == ("Pending", "Queuing")

    terminate = JobActionType(action_type="terminate")
    request = StopTrainingJobRequest(training_job_id=waiting, body=terminate)
    stopped = call(client, "stop_training_job", request)
    assert stopped.status.phase == "Terminated" and stopped.status.duration == 0
    assert stopped.status.task_statuses[0].message == "terminated before it started"
    active = search(client, filters=[Filter(key="phase", operator="in", value=["Running", "Pending"])])
    assert [j.metadata.name for j in active.items] == ["ticker"]
    call(client, "stop_training_job", StopTrainingJobRequest(training_job_id=ticker, body=terminate))
    assert wait_phase(client, ticker, timeout=15).status.phase == "Terminated"
    assert preview(client, waiting) == ""
