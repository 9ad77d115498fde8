"""What a service needs of the model registry (chapter 6): a published model's snapshot.

A service keeps a snapshot of each model it deploys (name, version, engine, where its stored package
lies, its APIs), so its instances can restart without the registry and a model is never half-read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from modelworks.errors import ModelNotReady, NotFound, ServiceModelNotFound
from modelworks.models.service import get_model
from modelworks.models.status import PUBLISHED


def model_snapshot(session: Session, project_id: str, model_id: str, field: str) -> dict[str, Any]:
    """``{model_id, model_name, model_version, model_type, runtime, package, apis}`` of a published model."""
    try:
        model = get_model(session, project_id, model_id)
    except NotFound as exc:
        raise ServiceModelNotFound(f"Model {model_id} does not exist.", field=field) from exc
    if model.status != PUBLISHED:
        raise ModelNotReady(
            f"The model {model_id} cannot be used for deploying services because it is {model.status}.",
            field=field,
        )
    return {
        "model_id": model.id,
        "model_name": model.name,
        "model_version": model.version,
        "model_type": model.model_type,
        "runtime": model.runtime,
        "package": str(model.model_dir),
        "apis": list(model.apis or []),
    }
