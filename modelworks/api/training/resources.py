"""What this installation offers training jobs: flavors (reference 5.15) and engines (5.16)."""

from __future__ import annotations

from typing import Any

from modelworks.api.deps import PrincipalDep, SettingsDep
from modelworks.api.routing import api_router
from modelworks.api.schemas.common import ErrorResp
from modelworks.api.schemas.training.resources import (
    FlavorType,
    ShowTrainingJobEnginesResponse,
    ShowTrainingJobFlavorsResponse,
)
from modelworks.compute.engines import available_engines
from modelworks.compute.flavors import machine_flavors

router = api_router(prefix="/v2/{project_id}", tags=["training-resources"])
_ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": ErrorResp}}


@router.get(
    "/training-job-flavors",
    response_model=ShowTrainingJobFlavorsResponse,
    response_model_exclude_unset=True,
    responses=_ERRORS,
)
def list_flavors(
    project_id: str, principal: PrincipalDep, settings: SettingsDep, flavor_type: FlavorType = None
) -> dict[str, Any]:
    """CPU flavors cut from this machine; asking for GPU or Ascend flavors finds none."""
    flavors = [] if flavor_type not in (None, "CPU") else machine_flavors(settings.home)
    return {"total_count": len(flavors), "flavors": [f.describe() for f in flavors]}


@router.get(
    "/training-job-engines",
    response_model=ShowTrainingJobEnginesResponse,
    response_model_exclude_unset=True,
    responses=_ERRORS,
)
def list_engines(project_id: str, principal: PrincipalDep) -> dict[str, Any]:
    engines = available_engines()
    return {"total": len(engines), "items": [e.describe() for e in engines]}
