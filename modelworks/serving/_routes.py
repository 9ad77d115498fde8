"""What the gateway routes by: a service's models with their weights, declared APIs and the addresses of
their running instances (``gateway.py`` loads them from the database and caches them)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelRoute:
    model_id: str
    weight: int
    apis: list[tuple[str, str]]
    """(url, METHOD) pairs the model declares; empty: any method on /."""
    addresses: list[str]
    instances: dict[str, str] = field(default_factory=dict)
    """Instance id by address."""

    def serves(self, path: str, method: str) -> bool:
        if not self.apis:
            return path == "/"
        return any(url == path and m in (method, "") for url, m in self.apis)


@dataclass
class ServiceRoute:
    project_id: str
    name: str
    status: str
    models: list[ModelRoute]
    loaded: float = field(default_factory=time.monotonic)


def instance_address(base_url: str | None, port: int | None) -> str | None:
    """Where an instance answers: its ``base_url``, else its loopback port (None: it has neither)."""
    if base_url:
        return base_url
    return f"http://127.0.0.1:{port}" if port is not None else None


def declared_apis(entry: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("/" + str(api.get("url") or "/").strip("/"), str(api.get("method") or "POST").upper())
        for api in entry.get("apis") or []
        if isinstance(api, dict)
    ]
