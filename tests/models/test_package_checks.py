"""What publishing checks, without a server: pip requirements against this environment, the
configuration's shapes, and the runtime registry."""

from __future__ import annotations

import importlib.metadata

import pytest

from modelworks.errors import InvalidArgument, NotImplementedYet
from modelworks.models.config import Where, check_apis, check_config, params_from_apis
from modelworks.models.package import dependency_problems
from modelworks.models.runtimes import PythonRuntime, find_engine, register, resolve_runtime


def requirement(name: str, version: str = "", restraint: str = "") -> list[dict[str, object]]:
    package = {"package_name": name, "package_version": version, "restraint": restraint}
    return [{"installer": "pip", "packages": [package]}]


def test_pip_requirements_are_read_as_pip_reads_them() -> None:
    torch = importlib.metadata.version("torch")  # a local build, e.g. 2.13.0+cpu
    base = torch.split("+")[0]
    major = int(base.split(".")[0])
    assert dependency_problems(requirement("torch", base, "EXACT")) == []
    assert dependency_problems(requirement("torch", base, "ATMOST")) == []
    assert dependency_problems(requirement("Torch", f"{major}.0", "ATLEAST")) == []  # names ignore case
    assert dependency_problems(requirement("torch")) == []
    assert dependency_problems(requirement("torch", f"{major + 1}.0.0", "ATLEAST")) == [
        f"dependency torch>={major + 1}.0.0: this server has torch {torch}"
    ]
    assert dependency_problems(requirement("torch", f"{major - 1}.0.0", "ATMOST")) == [
        f"dependency torch<={major - 1}.0.0: this server has torch {torch}"
    ]
    assert dependency_problems(requirement("torch", "latest", "EXACT")) == [
        "dependency torch==latest: 'latest' is not a version number"
    ]
    assert dependency_problems(requirement("surely-not-installed-pkg")) == [
        "dependency surely-not-installed-pkg: not installed on this server"
    ]


def test_the_manuals_spellings_are_read_and_one_root_api_is_kept() -> None:
    # The manual's own examples write "procotol" and "applicaton/json".
    response = {"Content-type": "applicaton/json"}
    raw = [{"procotol": "HTTPS", "url": "/", "method": "POST", "response": response}]
    apis = check_apis(Where("config.json"), raw)
    assert apis == [
        {
            "url": "/",
            "method": "post",
            "protocol": "https",
            "request": {"Content-type": "application/json", "data": {"type": "object"}},
            "response": {"Content-type": "application/json", "data": {"type": "object"}},
        }
    ]
    assert params_from_apis(apis, "request") == []
    with pytest.raises(InvalidArgument, match=r"^config.json: apis: declares 2 APIs"):
        check_apis(Where("config.json"), [{}, {}])
    with pytest.raises(InvalidArgument, match=r"^initial_config: apis\[0\].request.data.properties.a.type"):
        check_config({"apis": [{"request": {"data": {"properties": {"a": {"type": 1}}}}}]}, "initial_config")
    kept = check_config({"model_type": "PyTorch", "swr_location": "x", "extra": [1]}, "config.json")
    assert kept["extra"] == [1]


def test_engines_are_found_by_name_and_runtimes_checked() -> None:
    engine = find_engine("pytorch")
    assert engine.ai_engine == "PyTorch"
    assert resolve_runtime(engine, None) == engine.runtimes()[0]
    assert resolve_runtime(engine, engine.runtimes()[1]) == engine.runtimes()[1]
    with pytest.raises(InvalidArgument, match=r"^runtime: 'tf1.13-python3.6-cpu' is not offered"):
        resolve_runtime(engine, "tf1.13-python3.6-cpu")
    with pytest.raises(NotImplementedYet):
        find_engine("IMAGE")
    with pytest.raises(ValueError, match="already registered"):
        register(PythonRuntime())
