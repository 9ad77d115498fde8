"""Model statuses (the reference's ``model_status``) and the model-management error codes.

    POST /models ──> publishing ──(package checked, copied)──> published
                          └──(files missing, inference code or dependencies unusable)──> failed

``building`` and ``building_failed`` (image builds) are statuses a filter may name but no Modelworks
model reaches: packages run in the server's own Python, no image is built.
"""

from __future__ import annotations

from modelworks.errors import NotFound

PUBLISHING = "publishing"
PUBLISHED = "published"
FAILED = "failed"
BUILDING = "building"
BUILDING_FAILED = "building_failed"
ALL_STATUSES = (PUBLISHING, PUBLISHED, FAILED, BUILDING, BUILDING_FAILED)

MODEL_PUBLISH_KIND = "model-publish"
"""The ``modelworks.jobs`` task kind that checks and stores a new model's package."""

# Error codes of the reference's error-code table (model management).
MODEL_NOT_FOUND = "ModelArts.3001"
MODEL_EXISTS = "ModelArts.3002"
MODEL_IN_USE = "ModelArts.3009"
CONFIG_NOT_CONFORMING = "ModelArts.3015"
CONFIG_FIELD_INVALID = "ModelArts.3016"
SOURCE_LOCATION_INVALID = "ModelArts.3017"
PARAMETER_REQUIRED = "ModelArts.3036"
PARAMETER_INVALID = "ModelArts.3037"
RESTRAINT_INVALID = "ModelArts.3041"
PACKAGE_TOO_LARGE = "ModelArts.3044"
MODEL_TYPE_UNSUPPORTED = "ModelArts.3053"


def model_not_found(model_id: str) -> NotFound:
    return NotFound(f"Model ({model_id}) does not exist.", error_code=MODEL_NOT_FOUND)
