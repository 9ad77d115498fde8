"""What publishing checks, without a server: pip requirements against this environment and the
environments that install the others, the configuration's shapes, and the runtime registry."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

from modelworks.compute.workspace import base_environment
from modelworks.errors import InvalidArgument, NotImplementedYet
from modelworks.models.config import Where, check_apis, check_config, params_from_apis
from modelworks.models.environments import (
    DependencyError,
    ensure_environment,
    environment_key,
    requirements_of,
    unsatisfied,
)
from modelworks.models.runtimes import PythonRuntime, find_engine, register, resolve_runtime
from tests.models._wheels import TRIPLE_SOURCE, dependency, offline_pip, pip_dependencies, write_wheel


def requirement(name: str, version: str = "", restraint: str = "") -> list[dict[str, object]]:
    return pip_dependencies(dependency(name, version, restraint))


def test_pip_requirements_are_read_as_pip_reads_them() -> None:
    torch = importlib.metadata.version("torch")  # a local build, e.g. 2.13.0+cpu
    base = torch.split("+")[0]
    major = int(base.split(".")[0])
    met = [
        requirement("torch", base, "EXACT"),
        requirement("torch", base, "ATMOST"),
        requirement("Torch", f"{major}.0", "ATLEAST"),  # names ignore case
        requirement("torch"),
    ]
    for dependencies in met:
        requirements, problems = requirements_of(dependencies)
        assert problems == [] and unsatisfied(requirements) == [], requirements
    wanted, _ = requirements_of(
        requirement("torch", f"{major + 1}.0.0", "ATLEAST")
        + requirement("torch", f"{major - 1}.0.0", "ATMOST")
        + requirement("surely-not-installed-pkg")
        + requirement("torch", "", "")
    )
    assert unsatisfied(wanted) == [
        f"torch>={major + 1}.0.0",
        f"torch<={major - 1}.0.0",
        "surely-not-installed-pkg",
    ]
    assert requirements_of(requirement("torch", "latest", "EXACT")) == (
        [],
        ["dependency torch==latest: 'latest' is not a version number"],
    )
    assert requirements_of(requirement("https://example.com/x.whl")) == (
        [],
        ["dependency https://example.com/x.whl: not a pip package name (with its extras)"],
    )
    # Models with the same requirements share an environment, however they spell them.
    assert environment_key(["Tiny_Pkg==1.0", "numpy>=1.0"]) == environment_key(
        ["numpy>=1.0", "tiny-pkg==1.0"]
    )
    assert environment_key(["tiny-pkg==1.0"]) != environment_key(["tiny-pkg==1.1"])


def test_an_environment_installs_only_what_the_server_lacks_and_is_built_once(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    write_wheel(wheels, "mwtriple", "1.0", TRIPLE_SOURCE, requires=("numpy>=1.0",))
    root = tmp_path / "envs"
    notes: list[str] = []
    with offline_pip(wheels):
        env = base_environment()
        assert ensure_environment(root, ["numpy>=1.0"], env=env) is None  # the server's numpy will do
        assert not root.exists()
        packages = ensure_environment(root, ["mwtriple==1.0", "numpy>=1.0"], env=env, note=notes.append)
        again = ensure_environment(root, ["numpy>=1.0", "MWTriple==1.0"], env=env, note=notes.append)
    assert packages is not None and again == packages
    assert (packages / "mwtriple" / "__init__.py").read_text() == TRIPLE_SOURCE
    assert not (packages / "numpy").exists()
    record = json.loads((packages.parent / "environment.json").read_text())
    assert record["installed"] == {"mwtriple": "1.0"} and record["shadows"] == {}
    assert sum(n.startswith("installing") for n in notes) == 1, notes
    assert sorted(p.name for p in root.iterdir() if not p.name.endswith(".lock")) == [packages.parent.name]


def test_an_environment_that_cannot_be_built_says_why_and_leaves_nothing(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    write_wheel(wheels, "mwtriple", "1.0", TRIPLE_SOURCE)
    write_wheel(wheels, "starlette", "0.0.1", "")
    starlette = importlib.metadata.version("starlette")
    root = tmp_path / "envs"
    with offline_pip(wheels):
        env = base_environment()
        with pytest.raises(DependencyError) as missing:
            ensure_environment(root, ["mwtriple==9.9"], env=env)
        with pytest.raises(DependencyError) as replacing:
            ensure_environment(root, ["mwtriple==1.0", "starlette==0.0.1"], env=env)
    assert missing.value.message.startswith(
        "dependencies mwtriple==9.9 could not be installed (pip exit code 1)"
    )
    assert "No matching distribution found for mwtriple==9.9" in missing.value.message
    assert replacing.value.message.startswith(
        "dependencies mwtriple==1.0, starlette==0.0.1 would replace what the model server itself runs on "
        f"(starlette {starlette} by 0.0.1)"
    )
    assert [p.name for p in root.iterdir() if not p.name.endswith(".lock")] == []


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
