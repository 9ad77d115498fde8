"""Algorithms (5.1–5.5): create, list, get, modify, delete, and the view the API answers with."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from modelworks.compute.engines import resolve_engine
from modelworks.db import now_ms
from modelworks.errors import (
    CodeTooLarge,
    DuplicateAlgorithmName,
    InvalidArgument,
    NotImplementedYet,
    TooManyCodeFiles,
    UnsupportedConditionKey,
    UnsupportedOperation,
    UnsupportedSortBy,
)
from modelworks.iam.service import Principal
from modelworks.storage import ObjectStore, ObsPath
from modelworks.training import params
from modelworks.training.builtin import (
    BUILTIN_ATTRIBUTE,
    BUILTIN_SOURCE,
    BuiltinAlgorithm,
    builtin_algorithms,
    find_builtin,
    is_builtin_name,
)
from modelworks.training.status import (
    ACTIVE_PHASES,
    algorithm_not_found,
)
from modelworks.training.tables import Algorithm, TrainingJob

MAX_CODE_FILES = 1000
MAX_CODE_BYTES = 5 * 1024**3
SORT_COLUMNS = {
    "create_time": Algorithm.create_time,
    "update_time": Algorithm.update_time,
    "name": Algorithm.name,
}
SEARCH_KEYS = ("name", "description")


def code_tree(store: ObjectStore, code_dir: ObsPath) -> tuple[dict[str, Any], int]:
    """The directory tree of the code (``CodeTreeNode``: directories end in "/") and its size in bytes."""
    root: dict[str, Any] = {"name": code_dir.name + "/", "children": []}
    size = 0
    for count, info in enumerate(store.list(code_dir), start=1):
        size += info.size
        if count > MAX_CODE_FILES:
            raise TooManyCodeFiles(
                f"the code directory holds more than {MAX_CODE_FILES} files",
                field="job_config.code_dir",
            )
        node = root
        *dirs, leaf = info.path.relative_to(code_dir).split("/")
        for part in dirs:
            children = node["children"]
            found = next((c for c in children if c["name"] == part + "/"), None)
            if found is None:
                found = {"name": part + "/", "children": []}
                children.append(found)
            node = found
        node["children"].append({"name": leaf})
    if size > MAX_CODE_BYTES:
        raise CodeTooLarge("the code directory is larger than 5 GB", field="job_config.code_dir")
    return root, size


def _job_config(store: ObjectStore, raw: Any) -> tuple[dict[str, Any], dict[str, Any], int]:
    if not isinstance(raw, dict):
        raise InvalidArgument("is required (code_dir, boot_file ...)", field="job_config")
    if raw.get("command"):
        raise NotImplementedYet(
            "job_config.command: custom-image algorithms are not supported by Modelworks yet; give code_dir "
            "and boot_file."
        )
    code, boot = params.code_location(store, raw.get("code_dir"), raw.get("boot_file"), field="job_config")
    tree, size = code_tree(store, code)
    config = {
        "code_dir": str(code),
        "boot_file": str(boot),
        "command": "",
        "parameters": params.parameters(raw.get("parameters"), "job_config.parameters"),
        "inputs": params.declared_channels(raw.get("inputs"), "job_config.inputs", inputs=True),
        "outputs": params.declared_channels(raw.get("outputs"), "job_config.outputs", inputs=False),
        "engine": resolve_engine(raw.get("engine"), field="job_config.engine").reference(),
        "parameters_customization": raw.get("parameters_customization") is not False,
    }
    return config, tree, size


def _resource_requirements(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidArgument("must be a list", field="resource_requirements")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise InvalidArgument("must be an object with a key", field=f"resource_requirements[{i}]")
        values = item.get("values", item.get("value")) or []
        if not isinstance(values, list):
            raise InvalidArgument("must be a list of strings", field=f"resource_requirements[{i}].values")
        out.append(
            {"key": item["key"], "value": [str(v) for v in values], "operator": item.get("operator") or "in"}
        )
    return out


def _advanced_config(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidArgument("must be an object", field="advanced_config")
    search = raw.get("auto_search")
    if isinstance(search, dict):
        # The response spells discrete values as one string; keep the request's list readable there.
        for item in search.get("search_params") or []:
            if isinstance(item, dict) and isinstance(item.get("discrete_values"), list):
                item["discrete_values"] = ",".join(str(v) for v in item["discrete_values"])
    return dict(raw)


def _metadata(raw: Any, *, require_name: bool) -> dict[str, Any]:
    if raw is None and not require_name:
        return {}
    if not isinstance(raw, dict):
        raise InvalidArgument("is required (name ...)", field="metadata")
    out: dict[str, Any] = {}
    if require_name or "name" in raw:
        out["name"] = params.check_name(raw.get("name"), "metadata.name")
    if "description" in raw:
        out["description"] = params.check_description(raw.get("description"), "metadata.description")
    if raw.get("workspace_id") is not None:
        out["workspace_id"] = str(raw["workspace_id"])
    return out


def _check_unique(session: Session, project_id: str, name: str, own_id: str | None = None) -> None:
    query = select(Algorithm.id).where(Algorithm.project_id == project_id, Algorithm.name == name)
    other = session.scalar(query)
    if is_builtin_name(name) or (other is not None and other != own_id):
        raise DuplicateAlgorithmName(f"Duplicate algorithm (name {name}).")


def create_algorithm(
    session: Session, store: ObjectStore, principal: Principal, body: dict[str, Any]
) -> Algorithm:
    meta = _metadata(body.get("metadata"), require_name=True)
    _check_unique(session, principal.project_id, meta["name"])
    config, tree, size = _job_config(store, body.get("job_config"))
    algorithm = Algorithm(
        id=str(uuid.uuid4()),
        project_id=principal.project_id,
        name=meta["name"],
        description=meta.get("description", ""),
        workspace_id=meta.get("workspace_id", "0"),
        user_name=principal.user_name,
        domain_id=principal.domain_id,
        job_config=config,
        resource_requirements=_resource_requirements(body.get("resource_requirements")),
        advanced_config=_advanced_config(body.get("advanced_config")),
        code_tree=tree,
        size=size,
    )
    session.add(algorithm)
    session.flush()
    return algorithm


def get_algorithm(
    session: Session, project_id: str, algorithm_id: str, *, for_update: bool = False
) -> Algorithm:
    """The project's algorithm, or a built-in one (an unsaved row, see ``builtin.catalog``)."""
    builtin = find_builtin(algorithm_id)
    if builtin is not None:
        return builtin.as_algorithm(project_id)
    query = select(Algorithm).where(Algorithm.id == algorithm_id, Algorithm.project_id == project_id)
    algorithm = session.scalar(query.with_for_update() if for_update else query)
    if algorithm is None:
        raise algorithm_not_found(algorithm_id)
    return algorithm


def _searches(raw: str | None) -> dict[str, str]:
    """``searches`` as the console sends it: ``name:abc`` (several joined by ``;`` or ``,``), or a bare
    word, which matches names."""
    out: dict[str, str] = {}
    for part in (raw or "").replace(";", ",").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition(":")
        key, value = (key.strip(), value.strip()) if sep else ("name", key.strip())
        if key not in SEARCH_KEYS:
            raise UnsupportedConditionKey(
                f"unsupported search key {key!r}; supported: {', '.join(SEARCH_KEYS)}",
                field="searches",
            )
        out[key] = value
    return out


def list_algorithms(
    session: Session,
    project_id: str,
    *,
    offset: int,
    limit: int,
    sort_by: str,
    order: str,
    searches: str | None,
    workspace_id: str | None,
) -> tuple[int, int, list[Algorithm]]:
    """(all algorithms of the project, those matching ``searches``, the requested page of them).

    The built-in algorithms (in workspace "0") are listed among the project's own, in sort order.
    """
    column = SORT_COLUMNS.get(sort_by)
    if column is None:
        raise UnsupportedSortBy(
            f"unsupported sort_by {sort_by!r}; supported: {', '.join(SORT_COLUMNS)}",
            field="sort_by",
        )
    base = select(Algorithm).where(Algorithm.project_id == project_id)
    if workspace_id:
        base = base.where(Algorithm.workspace_id == workspace_id)
    query = base
    terms = _searches(searches)
    for key, value in terms.items():
        target = Algorithm.name if key == "name" else Algorithm.description
        query = query.where(target.icontains(value, autoescape=True))
    builtins = (
        [b.as_algorithm(project_id) for b in builtin_algorithms()] if workspace_id in (None, "", "0") else []
    )
    total = (session.scalar(select(func.count()).select_from(base.subquery())) or 0) + len(builtins)
    builtins = [b for b in builtins if _matches(b, terms)]
    count = (session.scalar(select(func.count()).select_from(query.subquery())) or 0) + len(builtins)
    return total, count, _page(session, query, builtins, sort_by, order == "asc", offset, limit)


def _matches(algorithm: Algorithm, terms: dict[str, str]) -> bool:
    return all(value.lower() in str(getattr(algorithm, key)).lower() for key, value in terms.items())


def _page(
    session: Session,
    query: Any,
    builtins: list[Algorithm],
    sort_by: str,
    ascending: bool,
    offset: int,
    limit: int,
) -> list[Algorithm]:
    """One page of the stored algorithms of ``query`` and the unsaved ``builtins`` merged in sort order
    (``sort_by``, then id). Each built-in's place is counted in the database, so the stored rows are
    read one page at a time."""
    column = SORT_COLUMNS[sort_by]
    # By id, then (stable, also when reversed) by the sort key: the query's own order.
    builtins = sorted(
        sorted(builtins, key=lambda a: a.id), key=lambda a: getattr(a, sort_by), reverse=not ascending
    )
    placed: list[tuple[int, Algorithm]] = []
    for i, algorithm in enumerate(builtins):
        value = getattr(algorithm, sort_by)
        before = column < value if ascending else column > value
        ahead = query.where(or_(before, and_(column == value, Algorithm.id < algorithm.id)))
        rows_ahead = session.scalar(select(func.count()).select_from(ahead.subquery())) or 0
        placed.append((rows_ahead + i, algorithm))
    on_page = [(position, a) for position, a in placed if offset <= position < offset + limit]
    skipped = sum(1 for position, _ in placed if position < offset)
    ordered = query.order_by(column.asc() if ascending else column.desc(), Algorithm.id)
    rows = list(session.scalars(ordered.offset(offset - skipped).limit(limit - len(on_page))))
    for position, algorithm in on_page:
        rows.insert(position - offset, algorithm)
    return rows


def _refuse_builtin(algorithm_id: str, action: str) -> None:
    builtin = find_builtin(algorithm_id)
    if builtin is not None:
        raise UnsupportedOperation(
            f"Algorithm '{builtin.name}' is a built-in algorithm; it cannot be {action}.",
            http_status=403,
        )


def modify_algorithm(
    session: Session, store: ObjectStore, project_id: str, algorithm_id: str, body: dict[str, Any]
) -> Algorithm:
    """Replace the sections the body carries (metadata fields, job_config, requirements, advanced_config).

    Jobs already created keep the algorithm they were created with. Built-in algorithms are refused.
    """
    _refuse_builtin(algorithm_id, "modified")
    algorithm = get_algorithm(session, project_id, algorithm_id, for_update=True)
    meta = _metadata(body.get("metadata"), require_name=False)
    if "name" in meta:
        _check_unique(session, project_id, meta["name"], own_id=algorithm.id)
        algorithm.name = meta["name"]
    if "description" in meta:
        algorithm.description = meta["description"]
    if "workspace_id" in meta:
        algorithm.workspace_id = meta["workspace_id"]
    if body.get("job_config") is not None:
        algorithm.job_config, algorithm.code_tree, algorithm.size = _job_config(store, body["job_config"])
    if "resource_requirements" in body:
        algorithm.resource_requirements = _resource_requirements(body["resource_requirements"])
    if "advanced_config" in body:
        algorithm.advanced_config = _advanced_config(body["advanced_config"])
    algorithm.update_time = now_ms()
    session.flush()
    return algorithm


def delete_algorithm(session: Session, project_id: str, algorithm_id: str) -> None:
    """Delete the algorithm; refused while a job created from it is still pending or running, and for
    built-in algorithms."""
    _refuse_builtin(algorithm_id, "deleted")
    algorithm = get_algorithm(session, project_id, algorithm_id, for_update=True)
    users = session.scalars(
        select(TrainingJob.name)
        .where(TrainingJob.algorithm_id == algorithm.id, TrainingJob.phase.in_(ACTIVE_PHASES))
        .order_by(TrainingJob.create_time)
        .limit(5)
    ).all()
    if users:
        raise UnsupportedOperation(
            f"Algorithm '{algorithm.name}' is used by training jobs that have not finished "
            f"({', '.join(users)}); terminate them or wait until they end.",
        )
    session.delete(algorithm)
    session.flush()


def algorithm_view(algorithm: Algorithm) -> dict[str, Any]:
    """The algorithm as 5.1–5.4 answer it (``AlgorithmResponse``); a built-in one says so in
    ``source`` and ``attr_list``, and ``is_valid`` tells whether what it needs is installed."""
    builtin: BuiltinAlgorithm | None = find_builtin(algorithm.id)
    return {
        "metadata": {
            "id": algorithm.id,
            "name": algorithm.name,
            "description": algorithm.description,
            "workspace_id": algorithm.workspace_id,
            "ai_project": "default-ai-project",
            "user_name": algorithm.user_name,
            "domain_id": algorithm.domain_id,
            "source": BUILTIN_SOURCE if builtin else "custom",
            "api_version": "v2",
            "is_valid": builtin.available() if builtin else True,
            "state": "",
            "tags": [],
            "attr_list": [BUILTIN_ATTRIBUTE, builtin.key] if builtin else [],
            "version_num": 0,
            "size": algorithm.size,
            "create_time": algorithm.create_time,
            "update_time": algorithm.update_time,
        },
        "job_config": {**algorithm.job_config, "code_tree": algorithm.code_tree},
        "resource_requirements": algorithm.resource_requirements,
        "advanced_config": algorithm.advanced_config,
    }
