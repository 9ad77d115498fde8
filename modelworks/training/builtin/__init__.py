"""Built-in algorithms: listed with every project's algorithms, run as ordinary training jobs.

    catalog                 the built-ins (id, name, parameters, channels), their algorithm view, and
                            publishing their boot files to storage when a job is created from one
    boot/<key>.py           the boot files the jobs run
    image_classification    EfficientNet-Lite0 features + a trained head -> ONNX model package
    text_classification     MiniLM embeddings + a trained head -> model package
    object_detection        the detector of ``modelworks.ml.detection`` -> model package
    _job                    what the jobs share: arguments, reading the input manifest, split, metrics
    package                 writing ``model/`` (model files, config.json, customize_service.py)
    templates/              the inference code copied into packages as customize_service.py

Every built-in reads its data from ``--data_url`` (a dataset input: the version's downloaded manifest)
and writes a ModelArts model package to ``<train_url>/model/``.
"""

from modelworks.training.builtin.catalog import (
    BUILTIN_ATTRIBUTE,
    BUILTIN_SOURCE,
    BuiltinAlgorithm,
    builtin_algorithm,
    builtin_algorithms,
    find_builtin,
    is_builtin_name,
)

__all__ = [
    "BUILTIN_ATTRIBUTE",
    "BUILTIN_SOURCE",
    "BuiltinAlgorithm",
    "builtin_algorithm",
    "builtin_algorithms",
    "find_builtin",
    "is_builtin_name",
]
