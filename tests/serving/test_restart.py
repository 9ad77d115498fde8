"""Instances outlive their server: the next server adopts the live ones and restarts the dead ones."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from modelworks.serving.gateway import INSTANCE_HEADER
from tests.conftest import run_server, wait_for
from tests.serving._packages import (
    CLASSES,
    SERVICES,
    classify,
    deploy,
    event_texts,
    image_model,
    model_config,
    realtime_body,
    sample_images,
    wait_status,
)
from tests.serving.test_realtime import alive, instance_processes, model_servers


def test_a_restarted_server_adopts_running_instances_and_restarts_dead_ones(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with run_server(home) as first:
        client = first.signed()
        strokes = image_model(client, first, "strokes", "1.0.0", CLASSES)
        service_id = deploy(client, realtime_body("survivor", model_config(strokes, instances=2)))
        wait_status(client, service_id, "running")
    processes = instance_processes(first, service_id)
    assert all(alive(info) for info in processes.values()), "instances stop with their server"
    victim_id, victim = sorted(processes.items())[0]
    os.killpg(victim.pgid, signal.SIGKILL)
    wait_for(lambda: not alive(victim), timeout=10)

    with run_server(home) as second:
        client = second.signed()
        kind, image = sample_images(1, seed=5)[0]
        wait_for(lambda: any("re-adopted" in e for e in event_texts(client, service_id)), timeout=20)
        # Ready once at the first deployment, once more after its restart.
        wait_for(
            lambda: (
                sum(f"instance {victim_id} is running" in e for e in event_texts(client, service_id)) == 2
            ),
            timeout=60,
        )
        assert any(f"instance {victim_id} stopped unexpectedly" in e for e in event_texts(client, service_id))
        wait_status(client, service_id, "running")
        answers = {classify(client, service_id, image).headers[INSTANCE_HEADER] for _ in range(6)}
        assert len(answers) == 2
        now = instance_processes(second, service_id)
        survivor_id = next(k for k in processes if k != victim_id)
        assert now[survivor_id].pid == processes[survivor_id].pid, (
            "the live instance was adopted, not restarted"
        )
        assert now[victim_id].pid != victim.pid
        client.delete(f"{SERVICES}/{service_id}")
        wait_for(lambda: client.get(f"{SERVICES}/{service_id}").status_code == 404, timeout=20)
    assert not any(alive(info) for info in now.values()) and not model_servers(service_id)
