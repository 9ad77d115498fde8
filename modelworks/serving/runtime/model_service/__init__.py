"""The ``model_service`` package of the ModelArts inference images, as inference code imports it.

    model_service.model_service            SingleNodeService (MindSpore and machine-learning models)
    model_service.pytorch_model_service    PTServingBaseService
    model_service.tfserving_model_service  TfServingBaseService

``modelworks.serving.runtime.install()`` makes ``import model_service...`` resolve to these modules.
"""
