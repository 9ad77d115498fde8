"""The inference runtime of ModelArts model packages: ``model/config.json`` + ``customize_service.py``.

    model_service/   the base classes inference code subclasses (``PTServingBaseService`` ...)
    loader           ``load_model(model_dir)``: reads config.json, imports customize_service.py, builds
                     its service; ``form_data`` shapes uploaded files as the hooks receive them

Kept free of the server: the model-serving processes and tests use it the same way.
"""

from modelworks.serving.runtime.loader import (
    LoadedModel,
    PackageError,
    form_data,
    install,
    load_model,
    model_path_for,
    read_config,
)

__all__ = [
    "LoadedModel",
    "PackageError",
    "form_data",
    "install",
    "load_model",
    "model_path_for",
    "read_config",
]
