"""The ML layer of intelligent tasks: pure functions and estimators over sample contents and arrays.

    features/        pretrained embedders shipped in packages (EfficientNet-Lite0 images, MiniLM texts),
                     their registry, and the content-hash FeatureCache
    text_features    TF-IDF features of a run's texts, put beside the MiniLM embeddings
    estimators       "fast" and "accurate" classifiers (registry keyed by ``algorithm_type``)
    quality          per-image resolution, aspect ratio, brightness, saturation, colourfulness, sharpness
    hard_examples    hard flags, coefficients and the reference's numbered hard reasons
    clustering       auto grouping (k-means on features, optionally with quality measures)
    pipeline         auto_label / auto_group end to end, for the task layer to run on its executor
    detection/       object-detection auto labeling: a CenterNet-style head trained on the frozen
                     EfficientNet-Lite0 pyramid, detection hard examples, auto_detect end to end

Nothing here touches the database, object storage or HTTP, and nothing downloads anything.
"""
