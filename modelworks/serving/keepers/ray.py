"""Keeping a real-time service's models deployed as Ray Serve applications (see ``ray_serve``).

``RayServiceKeeper`` is the keeper of real-time services on a server with a Ray address: the loop,
lease, statuses, events and update logs of ``keepers.base``, with Serve applications in place of the
model-server processes of ``keepers.local`` (which still keeps batch services on such a server).

* **instances**: one ``ServiceInstance`` row per replica slot of a model (``instance_count`` rows), all
  with the application's ``base_url``; the first *n* rows are ``running`` when Serve reports *n* running
  replicas, so the details, the monitor and the gateway see instances as for local services. Serve
  routes each call to one of the replicas.
* **deploy / start**: fetch each model's package, deploy its application; the service is ``running``
  once every replica runs. A package that does not load makes the application DEPLOY_FAILED: the
  service fails with the replica's cause in its events and ``error_msg`` (so does a replica not running
  within ``deploy_timeout_in_seconds``, e.g. when the cluster has no room for it).
* **watch**: Serve restarts replicas that die; meanwhile their rows are ``notReady`` and the service
  ``concerning``. An application that disappeared (the cluster restarted) is deployed again.
* **update**: a changed model entry is a new application beside the old one, whose rows keep serving
  until the new one runs; if the new one fails, the update is rolled back. Scaling redeploys the entry's
  application with the new number of replicas (Serve rolls it).
* **stop / delete**: delete the service's applications (Serve waits for their replicas to stop).

When the server stops, the applications keep running; the next keeper finds them by name and adopts them.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from modelworks.db.base import new_short_id, now_ms
from modelworks.errors import ModelworksError
from modelworks.serving import instances
from modelworks.serving.keepers.base import (
    KeeperBackend,
    ServiceKeeper,
    SupervisorContext,
    entry_label,
    entry_spec,
    retry_delay,
)
from modelworks.serving.keepers.local import LocalServiceKeeper
from modelworks.serving.ray_serve import AppState, RayServe, RayServeError, app_name, load_failure
from modelworks.serving.status import (
    DEPLOYING,
    INSTANCE_FAILED,
    INSTANCE_RUNNING,
    INSTANCE_STARTING,
    REAL_TIME,
)
from modelworks.serving.tables import InferenceService, ServiceInstance
from modelworks.settings import Settings

UNREACHABLE_RETRY_SECONDS = 2.0
DEPLOY_FAILED = "DEPLOY_FAILED"
DELETING = "DELETING"
_SERVING = ("RUNNING", "UNHEALTHY", "DEPLOYING")
"""Application statuses in which Serve's running replicas answer."""


class RayServiceKeeper(ServiceKeeper):
    """See the module docstring."""

    def __init__(self, ctx: SupervisorContext, service_id: str, serve: RayServe):
        super().__init__(ctx, service_id)
        self.serve = serve
        self.deployed: dict[str, int] = {}
        """Replicas per application as this keeper last deployed or found it."""
        self.retry_at: dict[str, float] = {}
        self.app_failures: dict[str, int] = {}
        self._unreachable = False

    # -- reconciling -----------------------------------------------------------------------------------

    def step(self) -> bool:
        """``ServiceKeeper.step``; while Serve does not answer (e.g. stopping while the cluster is
        down), the next step waits a while."""
        try:
            return super().step()
        except RayServeError as exc:  # e.g. stopping while the cluster is down: try again in a while
            self._note_unreachable(exc)
            self.ctx.shutdown.wait(UNREACHABLE_RETRY_SECONDS)
            return False

    def reconcile(self, service: InferenceService, rows: list[ServiceInstance]) -> None:
        try:
            apps = self.serve.applications(self.service_id)
        except RayServeError as exc:
            self._cannot_reach(service, exc)
            return
        if self._unreachable:
            self._unreachable = False
            self.event("Ray Serve answers again")
        entries = {e["revision"]: e for e in service.config}
        wanted = {(e["revision"], slot) for e in service.config for slot in range(e["instance_count"])}
        for revision, entry in entries.items():
            mine = [r for r in rows if r.revision == revision]
            if self._follow(service, entry, apps.get(app_name(self.service_id, revision)), mine) is not None:
                return  # the service failed or an update was rolled back: look again from the top
        rows = self.instance_rows()
        current = [r for r in rows if (r.revision, r.slot) in wanted]
        ready = [r for r in current if r.status == INSTANCE_RUNNING]
        names = {app_name(self.service_id, revision) for revision in entries}
        stale_apps = [name for name in apps if name not in names]
        stale_rows = [r for r in rows if (r.revision, r.slot) not in wanted]
        # Scaled-down slots go at once; replaced models once their successors serve.
        all_ready = len(ready) == len(wanted)
        retire_rows = [r for r in stale_rows if r.revision in entries or all_ready]
        retire_apps = stale_apps if all_ready else []
        if retire_apps:
            self.serve.delete(retire_apps)
            for name in retire_apps:
                self.deployed.pop(name, None)
                self.event(f"Serve application {name} deleted (no longer in the configuration)")
        self.forget(retire_rows)
        retiring = len(retire_apps) < len(stale_apps) or len(retire_rows) < len(stale_rows)
        self.settle(service, current, ready, wanted, retiring)

    def _follow(
        self,
        service: InferenceService,
        entry: dict[str, Any],
        state: AppState | None,
        rows: list[ServiceInstance],
    ) -> str | None:
        """Keep one model's application as its entry says; returns a word when the service itself changed."""
        name = app_name(self.service_id, entry["revision"])
        label = entry_label(entry)
        count = int(entry["instance_count"])
        if state is None:
            if name in self.retry_at:
                if time.monotonic() < self.retry_at[name]:
                    return None
                del self.retry_at[name]
            elif name in self.deployed or any(r.ready_at for r in rows):
                self.event(f"{label} Serve application {name} is gone; deploying it again", abnormal=True)
            return self._deploy(service, entry, rows, restart=True)
        if state.status == DELETING:
            return None
        if name not in self.deployed:
            self.deployed[name] = state.running if state.status == "RUNNING" else count
            self.event(f"{label} Serve application {name} re-adopted after a server restart")
        if state.status == DEPLOY_FAILED:
            cause = load_failure(state.message) or _last_line(state.message) or "the deployment failed"
            return self._failed(service, entry, rows, cause)
        if self.deployed[name] != count:
            self.event(f"{label} scaling Serve application {name} to {count} replicas")
            return self._deploy(service, entry, rows, restart=False)
        self._sync_rows(entry, rows, state)
        waiting = [r for r in rows if r.status != INSTANCE_RUNNING and r.started_at]
        timeout = float(entry.get("deploy_timeout_in_seconds", 1200))
        if waiting and time.time() - min(r.started_at or 0 for r in waiting) / 1000 > timeout:
            cause = f"the model was not ready within {timeout:g} s"
            detail = _last_line(state.message)
            return self._failed(service, entry, rows, f"{cause} ({detail})" if detail else cause)
        return None

    def _deploy(
        self, service: InferenceService, entry: dict[str, Any], rows: list[ServiceInstance], *, restart: bool
    ) -> str | None:
        """Deploy the model's application: afresh (``restart``: its rows wait for new replicas), or with
        another number of replicas (Serve rolls it; the running rows keep serving)."""
        label = entry_label(entry)
        name = app_name(self.service_id, entry["revision"])
        model_dir = instances.package_dir(self.home, self.service_id, entry["model_id"])
        try:
            if not model_dir.is_dir():
                self.event(f"{label} preparing environment")
                copied = instances.fetch_package(self.ctx.store, entry["package"], model_dir)
                self.event(f"{label} prepare environment success ({copied} files)")
            base_url = self.serve.base_url(self.service_id, entry)
            self._place_rows(entry, rows, base_url, restart=restart)
            self.serve.deploy(self.service_id, entry, entry_spec(entry), model_dir)
        except (ModelworksError, OSError) as exc:
            cause = exc.message if isinstance(exc, ModelworksError) else str(exc)
            return self._failed(
                service, entry, self.instance_rows(entry["revision"]), f"it cannot be deployed: {cause}"
            )
        self.deployed[name] = int(entry["instance_count"])
        count = entry["instance_count"]
        replicas = "1 replica" if count == 1 else f"{count} replicas"
        self.event(f"{label} deploying Serve application {name} with {replicas} at {base_url}")
        return None

    # -- rows ------------------------------------------------------------------------------------------

    def _place_rows(
        self, entry: dict[str, Any], rows: list[ServiceInstance], base_url: str, *, restart: bool
    ) -> None:
        """One row per replica slot; new rows (all rows with ``restart``) wait for a replica from now on.
        Rows that served keep ``ready_at``."""
        by_slot = {r.slot: r for r in rows}
        with self.ctx.db.session() as s:
            for slot in range(int(entry["instance_count"])):
                row = s.get(ServiceInstance, by_slot[slot].id) if slot in by_slot else None
                if row is None:
                    row = ServiceInstance(
                        id=new_short_id(12),
                        service_id=self.service_id,
                        model_id=entry["model_id"],
                        revision=entry["revision"],
                        slot=slot,
                    )
                    s.add(row)
                elif not restart:
                    row.base_url = base_url
                    continue
                row.status, row.base_url, row.started_at, row.message = (
                    INSTANCE_STARTING,
                    base_url,
                    now_ms(),
                    "",
                )

    def _sync_rows(self, entry: dict[str, Any], rows: list[ServiceInstance], state: AppState) -> None:
        """Rows as Serve reports the replicas: the first ``running`` slots run, the others wait."""
        count = int(entry["instance_count"])
        running = min(state.running, count) if state.status in _SERVING else 0
        base_url = self.serve.base_url(self.service_id, entry)
        by_slot = {r.slot: r for r in rows}
        if any(slot not in by_slot for slot in range(count)):
            self._place_rows(entry, [r for r in rows if r.slot < count], base_url, restart=False)
            return
        label, name = entry_label(entry), app_name(self.service_id, entry["revision"])
        down = []
        for slot in range(count):
            row = by_slot[slot]
            status = INSTANCE_RUNNING if slot < running else INSTANCE_STARTING
            if (row.status, row.base_url) == (status, base_url):
                continue
            values: dict[str, Any] = {"status": status, "base_url": base_url}
            if status == INSTANCE_RUNNING:
                values.update(message="", ready_at=row.ready_at or now_ms())
                self.event(f"{label} instance {row.id} is running (a replica of Serve application {name})")
            elif row.status == INSTANCE_RUNNING:
                # The deploy timeout counts from now: Serve replaces the replica.
                values.update(message="Ray Serve is restarting the replica", started_at=now_ms())
                down.append(row.id)
            self.update_instance(row.id, **values)
            row.status, row.base_url = status, base_url
        if running == count:
            self.app_failures.pop(name, None)
        if down:
            self.event(
                f"{label} instances {', '.join(down)} stopped running; Ray Serve restarts them", abnormal=True
            )

    # -- failures --------------------------------------------------------------------------------------

    def _failed(
        self, service: InferenceService, entry: dict[str, Any], rows: list[ServiceInstance], cause: str
    ) -> str | None:
        """A model's application cannot run: fail the deployment, roll the update back, or retry later."""
        name = app_name(self.service_id, entry["revision"])
        message = f"{entry_label(entry)} failed to start Serve application {name}: {cause}"
        previous = service.previous_config
        if previous is not None and entry["revision"] not in {e["revision"] for e in previous}:
            self._delete_apps([name])
            self.forget(rows)
            self.roll_back(previous, message)
            return "rolled back"
        if service.status == DEPLOYING and not any(r.ready_at for r in rows):
            self._end_deployment(message)
            return "failed"
        failures = self.app_failures.get(name, 0) + 1
        self.app_failures[name] = failures
        delay = retry_delay(failures)
        self.retry_at[name] = time.monotonic() + delay
        self._delete_apps([name])
        for row in rows:
            self.update_instance(row.id, status=INSTANCE_FAILED, message=cause)
        self.event(f"{message}; retrying in {delay:g} s", abnormal=True)
        return None

    def _end_deployment(self, message: str, *, reachable: bool = True) -> None:
        if reachable:
            self.stop_all(self.instance_rows())
        else:
            self.forget(self.instance_rows())
        self.fail_deployment(message)

    def _cannot_reach(self, service: InferenceService, exc: RayServeError) -> None:
        """Serve does not answer: a deployment that has not started fails; a running service waits."""
        if service.status == DEPLOYING and not self.deployed:
            self._end_deployment(f"the service cannot be deployed: {exc.message}", reachable=False)
            return
        self._note_unreachable(exc)

    def _note_unreachable(self, exc: RayServeError) -> None:
        if not self._unreachable:
            self._unreachable = True
            self.event(f"{exc.message}; retrying", abnormal=True)

    # -- stopping --------------------------------------------------------------------------------------

    def _delete_apps(self, names: list[str]) -> None:
        self.serve.delete(names)
        for name in names:
            self.deployed.pop(name, None)

    def stop_all(self, rows: list[ServiceInstance]) -> None:
        """Delete the service's applications (all of them: also any deployed before its rows were
        written), then its rows."""
        self._delete_apps(sorted(self.serve.applications(self.service_id)))
        self.forget(rows)

    def kill_known(self) -> None:
        self._delete_apps(sorted(self.serve.applications(self.service_id)))


def _last_line(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


class RayKeeperBackend(KeeperBackend):
    """Real-time services as Ray Serve applications (``RayServiceKeeper``) on the cluster at
    ``settings.ray_address``, through one ``RayServe`` connection; batch services as model-server
    processes of this host (``LocalServiceKeeper``)."""

    def __init__(self, settings: Settings):
        self.serve = RayServe(settings)

    def keeper(self, ctx: SupervisorContext, service_id: str) -> ServiceKeeper:
        with ctx.db.session(readonly=True) as s:
            infer_type = s.scalar(
                select(InferenceService.infer_type).where(InferenceService.id == service_id)
            )
        if infer_type == REAL_TIME:
            return RayServiceKeeper(ctx, service_id, self.serve)
        return LocalServiceKeeper(ctx, service_id)

    def close(self) -> None:
        """Leave the cluster (the Serve applications keep running)."""
        self.serve.close()
