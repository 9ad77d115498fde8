"""Validating what algorithms and jobs share: hyperparameters, data channels, code location, names.

Everything returns the normalized shape the responses use, so services store it as is.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from modelworks.errors import (
    BootFileError,
    ChannelsMismatch,
    CodeDirError,
    DefaultValueNotInRange,
    DefaultValueTypeError,
    InvalidArgument,
    NotImplementedYet,
    ParameterKeyRepeat,
    ParameterRangeError,
    ValueNotInPreset,
)
from modelworks.storage import ObjectStore, ObsPath, parse_obs_path
from modelworks.storage.scoped import user_path

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PARAMETER_TYPES = {"string": "String", "integer": "Integer", "float": "Float", "boolean": "Boolean"}
ACCESS_METHODS = ("parameter", "env")
MAX_ENVIRONMENTS = 100


def check_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise InvalidArgument("must be 1 to 64 letters, digits, underscores or hyphens", field=field)
    return value


def check_description(value: Any, field: str = "description") -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 256:
        raise InvalidArgument("must be a string of at most 256 characters", field=field)
    return value


def as_text(value: Any) -> str:
    """A parameter value as the API carries it: a string (JSON numbers and booleans are accepted)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    raise InvalidArgument("must be a string", field="value")


def _constraint(raw: Any, field: str) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidArgument("must be an object", field=field)
    kind = str(raw.get("type") or "String")
    if kind.lower() not in PARAMETER_TYPES:
        known = ", ".join(PARAMETER_TYPES.values())
        raise InvalidArgument(f"unknown parameter type {kind!r}; known: {known}", field=f"{field}.type")
    valid_range = raw.get("valid_range") or []
    if not isinstance(valid_range, list):
        raise InvalidArgument("must be a list of strings", field=f"{field}.valid_range")
    values = [as_text(v) for v in valid_range]
    valid_type = str(raw.get("valid_type") or "None")
    if valid_type.lower() == "range":
        try:
            if len(values) != 2:
                raise ValueError(values)
            [float(v) for v in values if v != ""]
        except ValueError as exc:
            raise ParameterRangeError(
                "a Range needs two numbers, [low, high] (either may be empty)",
                field=f"{field}.valid_range",
            ) from exc
    return {
        "type": PARAMETER_TYPES[kind.lower()],
        "editable": raw.get("editable") is not False,
        "required": bool(raw.get("required", False)),
        "sensitive": bool(raw.get("sensitive", False)),
        "valid_type": valid_type,
        "valid_range": values,
    }


def check_value(parameter: dict[str, Any], value: str, field: str) -> None:
    """Refuse ``value`` if it does not fit the parameter's type, range or enumeration."""
    constraint = parameter["constraint"]
    if value == "":
        if constraint["required"]:
            raise InvalidArgument(f"parameter {parameter['name']!r} is required", field=field)
        return
    kind = constraint["type"]
    number: float | None = None
    try:
        if kind == "Integer":
            number = int(value)
        elif kind == "Float":
            number = float(value)
        elif kind == "Boolean" and value.lower() not in ("true", "false"):
            raise ValueError(value)
    except ValueError as exc:
        raise DefaultValueTypeError(
            f"value {value!r} of parameter {parameter['name']!r} is not a {kind}",
            field=field,
        ) from exc
    valid_type = constraint["valid_type"].lower()
    valid_range = constraint["valid_range"]
    if valid_type == "range" and number is not None and len(valid_range) == 2:
        low, high = (float(x) if x != "" else None for x in valid_range)
        if (low is not None and number < low) or (high is not None and number > high):
            raise DefaultValueNotInRange(
                f"value {value} of parameter {parameter['name']!r} is outside [{valid_range[0]}, "
                f"{valid_range[1]}]",
                field=field,
            )
    elif valid_type in ("enumeration", "enum") and valid_range and value not in valid_range:
        raise ValueNotInPreset(
            f"value {value!r} of parameter {parameter['name']!r} is not one of {valid_range}",
            field=field,
        )


def parameters(raw: Any, field: str) -> list[dict[str, Any]]:
    """Normalized hyperparameters (``Parameter`` objects); names unique, values fit their constraint."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidArgument("must be a list", field=field)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"{field}[{i}]"
        if not isinstance(item, dict):
            raise InvalidArgument("must be an object", field=where)
        name = check_name(item.get("name"), f"{where}.name")
        if name in seen:
            raise ParameterKeyRepeat(f"parameter {name!r} is given twice", field=where)
        seen.add(name)
        i18n = item.get("i18n_description", item.get("internationalization"))
        parameter: dict[str, Any] = {
            "name": name,
            "value": as_text(item.get("value")),
            "description": check_description(item.get("description"), f"{where}.description"),
            "constraint": _constraint(item.get("constraint"), f"{where}.constraint"),
            "i18n_description": i18n if isinstance(i18n, dict) else None,
        }
        check_value(parameter, parameter["value"], f"{where}.value")
        out.append(parameter)
    return out


def declared_channels(raw: Any, field: str, *, inputs: bool) -> list[dict[str, Any]]:
    """An algorithm's channel declarations: names (unique) and descriptions, no storage paths yet."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidArgument("must be a list", field=field)
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        where = f"{field}[{i}]"
        if not isinstance(item, dict):
            raise InvalidArgument("must be an object", field=where)
        name = check_name(item.get("name"), f"{where}.name")
        if any(c["name"] == name for c in out):
            raise ChannelsMismatch(f"channel {name!r} is declared twice", field=where)
        channel: dict[str, Any] = {
            "name": name,
            "description": check_description(item.get("description"), f"{where}.description"),
        }
        if inputs:
            constraints = item.get("remote_constraints") or []
            channel["remote_constraints"] = constraints if isinstance(constraints, list) else []
        out.append(channel)
    return out


class DatasetResolver(Protocol):
    """Turns a job input's ``remote.dataset`` into the channel's ``remote`` (see ``dataset_inputs``)."""

    def resolve(self, raw: Any, field: str) -> dict[str, Any]:
        """``{"dataset": {...}, "obs": {"obs_url": <the version's manifest>}}`` for the dataset ``raw``
        names; raises a domain error for an unknown or unpublished one."""
        ...


def _remote(
    item: dict[str, Any], where: str, *, inputs: bool, datasets: DatasetResolver | None
) -> dict[str, Any]:
    """The channel's ``remote``: an OBS path (outputs are directories), or a resolved dataset input."""
    remote = item.get("remote")
    if not isinstance(remote, dict):
        raise InvalidArgument("is required (remote.obs.obs_url)", field=f"{where}.remote")
    if inputs and remote.get("dataset"):
        if datasets is None:
            raise NotImplementedYet(
                f"{where}.remote.dataset: dataset inputs are not supported here; give an OBS path "
                "(remote.obs.obs_url)."
            )
        return datasets.resolve(remote["dataset"], f"{where}.remote.dataset")
    obs = remote.get("obs")
    url = obs.get("obs_url") if isinstance(obs, dict) else None
    if not isinstance(url, str) or not url:
        raise InvalidArgument("is required", field=f"{where}.remote.obs.obs_url")
    path = parse_obs_path(url, field=f"{where}.remote.obs.obs_url")
    return {"obs": {"obs_url": str(path if inputs else path.as_dir())}}


def bound_channels(
    raw: Any,
    field: str,
    *,
    inputs: bool,
    declared: list[dict[str, Any]] | None = None,
    datasets: DatasetResolver | None = None,
) -> list[dict[str, Any]]:
    """A job's channels with their storage paths (``remote.obs.obs_url``) and how they reach the code.

    With ``declared`` (the algorithm's channels), every declared channel must be bound and no other.
    Output paths are directories. Inputs may name a dataset version (``remote.dataset``) when
    ``datasets`` resolves them; the channel then also carries the version's manifest as its ``obs_url``.
    """
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise InvalidArgument("must be a list", field=field)
    given: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(raw):
        where = f"{field}[{i}]"
        if not isinstance(item, dict):
            raise InvalidArgument("must be an object", field=where)
        name = check_name(item.get("name"), f"{where}.name")
        if name in given:
            raise ChannelsMismatch(f"channel {name!r} is given twice", field=where)
        remote = _remote(item, where, inputs=inputs, datasets=datasets)
        access = item.get("access_method") or "parameter"
        if access not in ACCESS_METHODS:
            raise InvalidArgument(
                f"must be one of {', '.join(ACCESS_METHODS)}", field=f"{where}.access_method"
            )
        given[name] = {
            "name": name,
            "description": check_description(item.get("description"), f"{where}.description"),
            "access_method": access,
            "remote": remote,
        }
    if declared is None:
        return list(given.values())
    names = [c["name"] for c in declared]
    missing = [n for n in names if n not in given]
    extra = [n for n in given if n not in names]
    if missing or extra:
        what = "input" if inputs else "output"
        problems = [f"no path for the algorithm's {what} {n!r}" for n in missing]
        problems += [f"the algorithm has no {what} named {n!r}" for n in extra]
        raise ChannelsMismatch("; ".join(problems), field=field)
    out = []
    for channel in declared:
        bound = dict(given[channel["name"]])
        bound["description"] = bound["description"] or channel["description"]
        out.append(bound)
    return out


def environments(raw: Any, field: str) -> dict[str, str]:
    if raw is None:
        return {}
    if isinstance(raw, list):  # the response shape, a list of one-entry maps, is accepted back
        merged: dict[str, Any] = {}
        for item in raw:
            if not isinstance(item, dict):
                raise InvalidArgument("must be an object of names to values", field=field)
            merged.update(item)
        raw = merged
    if not isinstance(raw, dict):
        raise InvalidArgument("must be an object of names to values", field=field)
    if len(raw) > MAX_ENVIRONMENTS:
        raise InvalidArgument(f"at most {MAX_ENVIRONMENTS} variables", field=field)
    out = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not _ENV_NAME_RE.match(key) or len(key) > 8192:
            raise InvalidArgument(f"{key!r} is not a valid variable name", field=field)
        out[key] = as_text(value)
    return out


def code_location(
    store: ObjectStore, code_dir: Any, boot_file: Any, *, field: str
) -> tuple[ObsPath, ObsPath]:
    """The code directory and the boot file below it, both checked to exist in storage."""
    if not code_dir or not boot_file:
        raise InvalidArgument("code_dir and boot_file must be given together", field=field)
    if not isinstance(code_dir, str) or not isinstance(boot_file, str):
        raise InvalidArgument("code_dir and boot_file must be strings", field=field)
    code = user_path(store, code_dir, field=f"{field}.code_dir").as_dir()
    boot = user_path(store, boot_file, field=f"{field}.boot_file")
    if not code.key:
        raise CodeDirError(
            "must be a directory inside a bucket, not a bucket root",
            field=f"{field}.code_dir",
        )
    if not store.exists(code):
        raise CodeDirError(
            f"code directory {code} is empty or does not exist",
            field=f"{field}.code_dir",
        )
    if boot.is_dir or not boot.is_relative_to(code) or not boot.key.endswith(".py"):
        raise BootFileError(
            f"boot file {boot} must be a .py file inside the code directory {code}",
            field=f"{field}.boot_file",
        )
    if not store.is_file(boot):
        raise BootFileError(f"boot file {boot} does not exist", field=f"{field}.boot_file")
    return code, boot
