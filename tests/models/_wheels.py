"""Tiny pip packages written as wheels in a test, and a pip that finds only them (no index)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import let_sandbox_users_through

TRIPLE_SOURCE = "MARK = 'mw-triple'\n\n\ndef triple(x):\n    return 3 * x\n"


def write_wheel(dest: Path, name: str, version: str, source: str, requires: tuple[str, ...] = ()) -> Path:
    """A pure-Python wheel of distribution ``name`` holding the module ``name`` (``source``)."""
    info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{name}/__init__.py": source.encode(),
        f"{info}/METADATA": metadata.encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,", ""]).encode()
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


@contextlib.contextmanager
def offline_pip(find_links: Path) -> Iterator[None]:
    """pip, in the processes the server starts meanwhile, finds packages in ``find_links`` only."""
    # pip runs as the sandbox's users (compute.sandbox): they must read the wheels (a tmp dir is 0700).
    let_sandbox_users_through(find_links)
    find_links.chmod(0o755)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIP_NO_INDEX", "1")
        patch.setenv("PIP_FIND_LINKS", str(find_links))
        yield


def dependency(name: str, version: str = "", restraint: str = "") -> dict[str, str]:
    return {"package_name": name, "package_version": version, "restraint": restraint}


def pip_dependencies(*packages: dict[str, str]) -> list[dict[str, object]]:
    return [{"installer": "pip", "packages": list(packages)}]
