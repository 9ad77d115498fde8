"""The model registry: models ("AI applications", reference chapter 6) built from ModelArts packages.

    status.py    statuses (publishing -> published | failed), task kind, error codes
    tables.py    the ``Model`` table
    runtimes.py  the AI engines this installation runs (6.1), one registry (``model_runtimes``)
    config.py    config.json / initial_config / request fields, checked and normalized
    package.py   finding a package in storage, its stored copy, the checks publishing runs
    environments.py  pip dependencies the server lacks, installed per requirement set on each host
    _pip_build.py    one pip build of such an environment in a staging directory
    service.py   create, get, list, delete (6.2-6.5)
    publish.py   the ``model-publish`` task: copy and check the package
    usage.py     the hook that keeps a model in use from being deleted (registry ``usage_checks``)
    views.py     the API's answers

For services (chapter 8), everything is importable from here:

``get_model(session, project_id, model_id) -> Model``
    The model of that project; raises NotFound (404, ModelArts.3001) for an unknown id or another
    project's model.

``Model`` attributes
    ``id``, ``name``, ``version``, ``project_id``
    ``status``: ``"publishing"``, ``"published"`` or ``"failed"`` (``PUBLISHED`` etc.); deploy only
    ``published`` models (the reference answers ModelArts.3515 otherwise).
    ``model_dir``: OBS path (``/bucket/key/``, parse with ``parse_obs_path``) of the model's own copy
    of the package's ``model/`` directory (config.json, customize_service.py, model files); complete
    once published, and it never changes. ``download_package(store, parse_obs_path(model.model_dir),
    dest)`` copies it into a local directory for ``modelworks.serving.runtime.load_model(dest)``.
    ``source_location``: the OBS directory the package was imported from (it holds ``model/``); the
    user may change or delete it later, so serve from ``model_dir``.
    ``model_type``: the engine as ``runtimes`` spells it (``PyTorch``, ``ONNX``, ``Scikit_Learn``,
    ``Custom`` ...); ``runtime``: one of that engine's runtimes (6.1).
    ``config``: the merged configuration (config.json, overlaid by the request) as a dict, with
    ``model_type``, ``runtime``, ``model_algorithm``, ``apis`` and ``dependencies`` as stored here.
    ``apis``: ``[{"url": "/", "method", "protocol", "request": {"Content-type", "data": <JSON schema>},
    "response": {...}}]``, at most one API, at ``/``.
    ``dependencies``, ``input_params``, ``output_params``, ``health`` (``{}`` if none).

``register_usage_check(fn)`` with ``fn(session, model_id) -> list[str]`` (ids of services that use the
model): deleting a model is refused (400, ModelArts.3009) while any check returns ids;
``services_using(session, model_id)`` asks them all.

``environments.with_dependencies(command, env, home=, model_dir=, failure_file=, failure_exit_code=)``
    The command and environment that run a process of a published model (``model_dir``: a local copy
    of its ``model_dir``) with the pip dependencies the server lacks first on ``PYTHONPATH``, built
    on this host first if needed; ``serving.instances.start`` runs every instance this way.
"""

from modelworks.models.package import download_package, stored_model_dir
from modelworks.models.service import create_model, delete_model, get_model, list_models
from modelworks.models.status import FAILED, PUBLISHED, PUBLISHING
from modelworks.models.tables import Model
from modelworks.models.usage import register_usage_check, services_using, unregister_usage_check

__all__ = [
    "FAILED",
    "PUBLISHED",
    "PUBLISHING",
    "Model",
    "create_model",
    "delete_model",
    "download_package",
    "get_model",
    "list_models",
    "register_usage_check",
    "services_using",
    "stored_model_dir",
    "unregister_usage_check",
]
