"""``create_app(settings)``: wires the database, object store, executor, worker and routers."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from modelworks import __version__
from modelworks.api import (
    buckets,
    datasets,
    exports,
    health,
    iam,
    imports,
    labels,
    models,
    openapi,
    samples,
    services,
    sync,
    tasks,
    training,
    unimplemented,
    versions,
)
from modelworks.api.errors import UnhandledErrorMiddleware
from modelworks.api.errors import install as install_error_handlers
from modelworks.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from modelworks.compute import create_executor
from modelworks.compute.sandbox import sandbox_for
from modelworks.db import Database
from modelworks.embedded import WorkerChild, start_lanes
from modelworks.iam.service import bootstrap
from modelworks.jobs import load_handler_modules
from modelworks.serving.plane import ServicePlane
from modelworks.settings import Settings
from modelworks.storage import create_store
from modelworks.storage.ownership import BucketOwnership, apply_bucket_setting

log = logging.getLogger(__name__)

THREAD_TOKENS = 100
"""Threads for sync routes and dependencies (the database pools are sized to match)."""


def create_app(settings: Settings) -> FastAPI:
    settings.home.mkdir(parents=True, exist_ok=True)
    sandbox = sandbox_for(settings)  # decided (and warned about) at start, reported by /health
    db = Database(settings.database_url)
    db.migrate()
    bootstrap(db, settings)
    store = create_store(settings)
    apply_bucket_setting(db, store, settings.buckets)
    bucket_policy = BucketOwnership(db, store)
    executor = create_executor(settings)
    load_handler_modules(settings)
    service_plane = ServicePlane(db, store, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync routes and dependencies run in anyio's thread pool (40 threads by default). A request
        # waiting for SQLite's write lock holds its thread; with many clients the default runs out,
        # and every other request (reads, /health) then queues behind the writers.
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREAD_TOKENS
        stops: list[Callable[[], None]] = [service_plane.start()]
        if settings.embedded_worker and settings.worker_process:
            child = WorkerChild(settings)
            stops.append(child.start())
            app.state.worker_child = child
        elif settings.embedded_worker:
            stops += start_lanes(db, store, executor, settings)
        # What start-up made (modules, ML libraries, the models' schemas: ~300,000 objects) lives
        # as long as the process. Left to the collector, every full collection walks all of it, a
        # 160 ms pause of every thread (requests and /health) every few seconds under load; frozen,
        # the collections only walk what requests allocate.
        gc.freeze()
        try:
            yield
        finally:
            for stop in stops:
                stop()
            executor.shutdown()
            db.dispose()

    app = FastAPI(
        title="Modelworks",
        version=__version__,
        description="A self-hosted platform that speaks the ModelArts REST API.",
        lifespan=lifespan,
        docs_url=None,  # served by api/openapi.py from an installed package, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.sandbox = sandbox
    app.state.db = db
    app.state.store = store
    app.state.buckets = bucket_policy
    app.state.executor = executor
    app.state.services = service_plane
    install_error_handlers(app)
    # The inference gateway first: every call to a service matches its route without trying the
    # other ~75 routes of the API (a measurable share of the gateway's cost per call).
    app.include_router(services.infers)
    for router in (
        health.router,
        iam.router,
        buckets.router,
        datasets.router,
        labels.router,
        samples.router,
        imports.router,
        exports.router,
        versions.router,
        sync.router,
        tasks.router,
        *training.routers,
        models.router,
        services.router,
    ):
        app.include_router(router)
    unimplemented.install(app)
    openapi.install(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(UnhandledErrorMiddleware)  # outside BodyLimit: its _TooLarge is not a 500
    app.add_middleware(RequestIdMiddleware)
    return app
