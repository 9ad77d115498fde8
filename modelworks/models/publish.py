"""The ``model-publish`` task: copies a new model's package into the models area and checks it.

Checks, in order: the package has ``config.json``, ``customize_service.py`` and a model file of its
engine; the pip dependencies that the server's environment lacks can be installed (into the model's
own environment on this host, see ``environments``); the inference code imports, with them, in a
process of its own and defines one subclass of a ``model_service`` base class. All problems found are
reported together in the model's ``failed_msg``. A published model's copy records its requirements
(``.modelworks-requirements.txt``) for the hosts that run it. A retried attempt starts the copy over;
a model deleted while it was being published leaves no files behind.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from modelworks.compute.sandbox import Identity, sandbox_for
from modelworks.compute.workspace import base_environment
from modelworks.db import now_ms
from modelworks.errors import ModelworksError
from modelworks.jobs import TaskContext, TaskHandler, register
from modelworks.models.environments import (
    REQUIREMENTS_FILE,
    DependencyError,
    ensure_environment,
    environments_root,
    requirements_of,
    write_requirements,
)
from modelworks.models.package import (
    MAX_PACKAGE_BYTES,
    SERVICE_FILE,
    download_package,
    file_problems,
    inference_code_problems,
    local_package,
    package_size,
    stored_model_dir,
    stored_model_root,
)
from modelworks.models.runtimes import find_engine
from modelworks.models.status import FAILED, MODEL_PUBLISH_KIND, PUBLISHED, PUBLISHING
from modelworks.models.tables import Model
from modelworks.storage import ObjectStore, ObsPath, parse_obs_path

log = logging.getLogger(__name__)


class Publisher:
    """One attempt of one model's publishing (see the module docstring)."""

    def __init__(self, ctx: TaskContext):
        self.ctx = ctx
        self.model_id: str = ctx.payload["model_id"]
        # The package is read as the model's project may read it; the copy goes to the system bucket,
        # which only the server itself writes.
        self.user_store: ObjectStore = ctx.store
        self.store: ObjectStore = ctx.store.unrestricted()

    def _load(self) -> Model | None:
        with self.ctx.db.session() as s:
            return s.get(Model, self.model_id)

    def run(self) -> dict[str, Any]:
        model = self._load()
        if model is None or model.status != PUBLISHING:
            return {"model_status": model.status if model else "deleted"}
        source = parse_obs_path(self.ctx.payload["source_model_dir"])
        target = stored_model_dir(model.id)
        self.user_store.authorize(source, field="source_location")
        code = parse_obs_path(model.execution_code)
        self.user_store.authorize(code, field="execution_code")
        self.store.delete_prefix(stored_model_root(model.id))  # what an earlier attempt left
        size = package_size(self.store, source)
        if size == 0:
            return self._finish([f"the package at {source} is empty or gone"], 0)
        if size > MAX_PACKAGE_BYTES:
            return self._finish([f"the package at {source} is larger than 20 GB ({size} bytes)"], size)
        self.ctx.progress(10)
        self.store.copy(source, target)
        if not code.is_relative_to(source):
            self.store.copy(code, target.join(SERVICE_FILE))
        self.ctx.progress(30)
        size = package_size(self.store, target)
        local = local_package(self.store, target)
        sandbox = sandbox_for(self.ctx.settings)
        try:
            user = sandbox.identity(model.project_id)
        except ModelworksError as exc:
            return self._finish([exc.message], size)
        if local is not None and user is None:
            problems = self._problems(model, local, None, sandbox.python)
        else:
            # The check runs as the project's user, who cannot read the store: a copy of its own.
            with sandbox.scratch("probes", None) as tmp:
                copy = download_package(self.store, target, tmp / "model")
                sandbox.hand_over(tmp, user)
                problems = self._problems(model, copy, user, sandbox.python)
        self._record_requirements(model, target, problems)
        return self._finish(problems, size)

    def _problems(self, model: Model, local: Path, user: Identity | None, python: str) -> list[str]:
        try:
            engine = find_engine(model.model_type)
        except ModelworksError as exc:
            return [exc.message]
        problems = file_problems(local, engine)
        requirements, dependency_problems = requirements_of(model.dependencies)
        packages = None
        if requirements and not dependency_problems:
            try:
                packages = ensure_environment(
                    environments_root(self.ctx.settings.sandbox_root, user),
                    requirements,
                    env=base_environment(),
                    check=self.ctx.check_cancelled,
                    note=lambda message: log.info("model %s: %s", self.model_id, message),
                    user=user,
                    python=python,
                )
            except DependencyError as exc:
                dependency_problems = [exc.message]
        self.ctx.progress(60)
        if (local / SERVICE_FILE).is_file():
            self.ctx.check_cancelled()
            _, code_problems = inference_code_problems(local, packages, user, python)
            problems += code_problems
        self.ctx.progress(90)
        return problems + dependency_problems

    def _record_requirements(self, model: Model, target: ObsPath, problems: list[str]) -> None:
        """Write the requirements into a publishable model's copy (not counted in its size); a file of
        that name that came with the package must not speak for this model."""
        requirements, _ = requirements_of(model.dependencies)
        record = target.join(REQUIREMENTS_FILE)
        if requirements and not problems:
            self.store.write(record, write_requirements(requirements))
        elif self.store.is_file(record):
            self.store.delete(record)

    def _finish(self, problems: list[str], size: int) -> dict[str, Any]:
        with self.ctx.db.session() as s:
            model = s.get(Model, self.model_id, with_for_update=True)
            if model is not None and model.status == PUBLISHING:
                model.status = FAILED if problems else PUBLISHED
                model.failed_msg = "; ".join(problems)
                model.model_size = size
                model.update_at = now_ms()
        if model is None or problems:
            # Deleted while it was being published, or not publishable: keep no copy.
            self.store.delete_prefix(stored_model_root(self.model_id))
        status = "deleted" if model is None else model.status
        return {"model_status": status, "problems": problems}

    def give_up(self, error: BaseException) -> None:
        """The task will not run again: the model ends failed and its partial copy is removed."""
        with self.ctx.db.session() as s:
            model = s.get(Model, self.model_id, with_for_update=True)
            if model is not None and model.status == PUBLISHING:
                model.status = FAILED
                model.failed_msg = f"publishing stopped: {getattr(error, 'message', None) or error}"
                model.update_at = now_ms()
        self.store.delete_prefix(stored_model_root(self.model_id))


class ModelPublishTask(TaskHandler):
    """Publishes one model; see ``Publisher``."""

    kind = MODEL_PUBLISH_KIND

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        return Publisher(ctx).run()

    def on_failed(self, ctx: TaskContext, error: BaseException) -> None:
        Publisher(ctx).give_up(error)


register(ModelPublishTask())
