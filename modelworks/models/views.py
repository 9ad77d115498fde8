"""Models as 6.2 and 6.4 answer them (``ModelListItem`` and the details body)."""

from __future__ import annotations

import json
from typing import Any

from modelworks.models.config import api_summaries
from modelworks.models.status import FAILED
from modelworks.models.tables import Model


def model_list_item(model: Model) -> dict[str, Any]:
    return {
        "model_id": model.id,
        "model_name": model.name,
        "model_version": model.version,
        "model_type": model.model_type,
        "model_size": model.model_size,
        "model_status": model.status,
        "model_source": model.model_source,
        "source_type": model.source_type,
        "description": model.description,
        "install_type": list(model.install_type),
        "workspace_id": model.workspace_id,
        "project": model.project_id,
        "tenant": model.domain_id,
        "owner": model.domain_id,
        "market_flag": False,
        "tunable": False,
        "publishable_flag": False,
        "source_copy": "",
        "subscription_id": "",
        "extra": "",
        "specification": {},
        "create_at": model.create_at,
    }


def model_detail(model: Model) -> dict[str, Any]:
    """All of 6.4's fields. ``apis`` and ``config`` are JSON text, as the reference types them; the
    output parameters appear as ``output_params`` (the reference's example) and ``output_parameters``
    (its table). ``failed_msg`` says why a failed model failed."""
    out = {
        **model_list_item(model),
        "runtime": model.runtime,
        "model_algorithm": model.model_algorithm,
        "model_metrics": model.model_metrics,
        "source_location": model.source_location,
        "source_job_id": model.source_job_id or "",
        "source_job_version": model.source_job_version,
        "execution_code": model.execution_code,
        "schema_doc": "",
        "image_addresses": "",
        "model_docs": list(model.model_docs),
        "dependencies": list(model.dependencies),
        "apis": json.dumps(api_summaries(model.apis), ensure_ascii=False),
        "config": json.dumps(model.config, ensure_ascii=False),
        "input_params": list(model.input_params),
        "output_params": list(model.output_params),
        "output_parameters": list(model.output_params),
        "model_labels": [],
        "labels_map": {"labels": []},
        "update_at": model.update_at,
    }
    if model.health:
        out["health"] = dict(model.health)
    if model.status == FAILED:
        out["failed_msg"] = model.failed_msg
    return out
