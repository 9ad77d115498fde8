"""The API contract in types: request and response models of every operation, named after the
reference's tables (``CreateDatasetReq``, ``RunningTask``, ``ExportTaskStatusResp`` ...).

Conventions (read ``common.py`` first):

* One module per router (``schemas/datasets.py`` for ``api/datasets.py`` ...). Request models derive
  from ``RequestModel`` (unknown fields are accepted and ignored, as ModelArts clients send fields
  this installation has no use for; enums and bounds are enforced), response models from
  ``ResponseModel`` (fields the reference documents are declared; extra keys the services add pass
  through, so a model never hides data while it is being completed).
* Field names, types, enums and bounds are the reference's (``../shared/spec``). Where its table, its
  example and the official SDK's model class (``huaweicloudsdkmodelarts.v1.model``) disagree, the
  SDK wins and the model's docstring says so. Fields that mean nothing here are accepted and echoed,
  and the docstring says that too.
* Routes take the body as the model (``body: CreateDatasetReq``) and declare
  ``response_model=...``; validation failures become 400 ``ModelArts.0101`` naming the field
  (``api/errors.py``), never FastAPI's 422.
"""
