"""Model statuses (the reference's ``model_status``); the model-management errors are classes of
``modelworks.errors`` (``ModelNotFound``, ``ModelExists``, ``ConfigFieldInvalid`` ...).

    POST /models ──> publishing ──(package checked, copied)──> published
                          └──(files missing, inference code or dependencies unusable)──> failed

``building`` and ``building_failed`` (image builds) are statuses a filter may name but no Modelworks
model reaches: packages run in the server's own Python, no image is built.
"""

from __future__ import annotations

from modelworks.errors import ModelNotFound

PUBLISHING = "publishing"
PUBLISHED = "published"
FAILED = "failed"
BUILDING = "building"
BUILDING_FAILED = "building_failed"
ALL_STATUSES = (PUBLISHING, PUBLISHED, FAILED, BUILDING, BUILDING_FAILED)

MODEL_PUBLISH_KIND = "model-publish"
"""The ``modelworks.jobs`` task kind that checks and stores a new model's package."""


def model_not_found(model_id: str) -> ModelNotFound:
    return ModelNotFound(f"Model ({model_id}) does not exist.")
